// The demo page in a real browser (headless Chromium, driven by playwright-core): a message in
// each protocol over HTTP and WebSocket, then Stop, reporting what the page shows as JSON.
//
//   node demo-page.mjs http://127.0.0.1:PORT/    (CHROMIUM= the browser, default /usr/bin/chromium)
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
const QUESTION = "What is the weather in Lisbon?";
const ENDED = /^(Done|Ended with an error|Stopped)\./;
// In the page: its status line, and the last answer's bubble.
const HELPERS = `
  window.statusLine = () => document.querySelector("#status").textContent.trim();
  window.lastAnswer = () => [...document.querySelectorAll(".bubble.assistant")].at(-1);
`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"], // tests run as root in CI, where Chromium's sandbox cannot start
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (["error", "warning"].includes(message.type())) {
      problems.push(`console.${message.type()}: ${message.text()}`);
    }
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
  });
  await page.goto(url);
  await page.waitForFunction(() => document.querySelector("#protocol").options.length > 0);
  const report = { startsOn: await page.locator("#protocol").inputValue(), runs: [], stops: [] };
  const protocols = await page.$$eval("#protocol option:not([disabled])", (all) =>
    all.map((option) => option.value),
  );
  for (const transport of ["http", "ws"]) {
    for (const protocol of protocols) {
      await ask(page, protocol, transport);
      await page.waitForFunction((ended) => new RegExp(ended).test(statusLine()), ENDED.source, {
        timeout: 30_000,
      }).catch(() => {}); // a run that never ends shows in its report
      report.runs.push({ protocol, transport, ...(await shown(page)) });
    }
  }
  for (const transport of ["http", "ws"]) {
    await ask(page, "data-stream", transport);
    await page.waitForFunction(() => lastAnswer()?.querySelector(".text")?.textContent);
    await page.click("#stop");
    await page.waitForFunction((ended) => new RegExp(ended).test(statusLine()), ENDED.source);
    report.stops.push({ transport, ...(await shown(page)) });
  }
  // A reader who scrolled the log up keeps their place while the next run streams.
  await page.$eval("#events", (events) => {
    events.scrollTop = 0;
  });
  await page.waitForTimeout(100); // the scroll event
  await ask(page, "data-stream", "http");
  await page.waitForFunction((ended) => new RegExp(ended).test(statusLine()), ENDED.source);
  report.scrolledUp = await page.$eval("#events", (events) => events.scrollTop);
  report.resume = await resume(page);
  report.problems = problems;
  process.stdout.write(JSON.stringify(report));
} finally {
  await browser.close();
}

// The server keeps the demo's runs: a reloaded page attaches to the run it was showing, a
// second tab follows a run the first one started (over HTTP, and over the WebSocket it was
// started on), and Stop in either stops it on the server.
async function resume(page) {
  const result = {};
  const until = (p, re) =>
    p.waitForFunction((ended) => new RegExp(ended).test(statusLine()), re.source, {
      timeout: 30_000,
    });
  const firstText = (p) => p.waitForFunction(() => lastAnswer()?.querySelector(".text"));

  // What the page sends over its WebSockets: a reload resumes with a `resume` frame.
  const sent = [];
  const watch = (p) =>
    p.on("websocket", (ws) => ws.on("framesent", (frame) => sent.push(JSON.parse(frame.payload))));
  watch(page);
  for (const transport of ["http", "ws"]) {
    await ask(page, "data-stream", transport);
    await firstText(page);
    await page.reload(); // over the WebSocket: resumed with a `resume` frame naming the run
    await page.addScriptTag({ content: HELPERS });
    await until(page, ENDED);
    result[transport === "ws" ? "reloadedWs" : "reloaded"] = await shown(page);
  }

  const second = await page.context().newPage();
  second.on("pageerror", (error) => problems.push(`second tab: ${error.message}`));
  await second.goto(url);
  await second.addScriptTag({ content: HELPERS });
  watch(second);
  for (const transport of ["http", "ws"]) {
    await ask(page, "data-stream", transport);
    await firstText(second); // the second tab heard of the run and attached to it
    await until(second, ENDED);
    await until(page, ENDED);
    result[transport === "ws" ? "secondTabWs" : "secondTab"] = await shown(second);
  }

  await ask(page, "data-stream", "http");
  await firstText(second);
  await second.click("#stop"); // in the tab that did not start it
  await until(page, ENDED);
  await until(second, ENDED);
  result.stoppedElsewhere = { first: await shown(page), second: await shown(second) };
  await second.close();
  result.resumeFrames = sent.filter((frame) => frame.type === "resume");
  return result;
}

async function ask(page, protocol, transport) {
  await page.addScriptTag({ content: HELPERS });
  await page.click("#new-chat");
  await page.selectOption("#protocol", protocol);
  await page.selectOption("#transport", transport);
  await page.fill("#prompt", QUESTION);
  await page.click("#send");
}

// What the page shows of the last answer, its status line and its events panel.
function shown(page) {
  return page.evaluate(() => {
    const answer = lastAnswer();
    const events = document.querySelector("#events");
    const last = events.lastElementChild.getBoundingClientRect();
    const box = events.getBoundingClientRect();
    return {
      status: statusLine(),
      text: answer.querySelector(".text")?.textContent ?? "",
      tool: answer.querySelector(".tool-head")?.textContent ?? "",
      meta: answer.querySelector(".meta")?.textContent ?? "",
      errors: answer.querySelector(".errors")?.textContent ?? "",
      events: events.childElementCount,
      // The panel follows: its newest event is in view.
      newestEventInView: last.bottom <= box.bottom + 1 && last.top >= box.top - 1,
    };
  });
}
