// Shared by the oracle scripts: strict console, stdin, and feeding bytes in small fragments.
// Any console.warn / console.error from an official client fails the run.
const problems = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => {
    problems.push(`console.${level}: ${args.map(String).join(" ")}`);
  };
}

function failIfWarned() {
  if (problems.length > 0) {
    process.stderr.write(problems.join("\n") + "\n");
    process.exit(1);
  }
}

async function readStdin() {
  const parts = [];
  for await (const part of process.stdin) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}

// A byte stream of `data`, whole or cut into pieces of 1 to 7 bytes (seeded, reproducible).
export function byteStream(data, { fragment = false, seed = 1 } = {}) {
  let state = seed >>> 0 || 1;
  const nextSize = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return 1 + (state % 7);
  };
  return new ReadableStream({
    start(controller) {
      if (!fragment) {
        controller.enqueue(data);
      } else {
        for (let i = 0; i < data.length; ) {
          const size = nextSize();
          controller.enqueue(data.slice(i, i + size));
          i += size;
        }
      }
      controller.close();
    },
  });
}

function options() {
  return JSON.parse(process.argv[2] ?? "{}");
}

// What every oracle script runs: `judge(bytes, opts)` on the stream on stdin, or, with
// {"many": true}, on each {"stream": "<text>", ...opts} of a JSON array (one process for many
// streams), then the result as JSON on stdout.  A throw or any warning fails the run.
export async function main(judge) {
  const opts = options();
  const input = await readStdin();
  let result;
  try {
    if (opts.many) {
      const cases = JSON.parse(new TextDecoder().decode(input));
      result = [];
      for (const item of cases) {
        result.push(await judge(new TextEncoder().encode(item.stream), { ...opts, ...item }));
      }
    } else {
      result = await judge(input, opts);
    }
  } catch (error) {
    process.stderr.write(`the official client failed: ${error?.stack ?? error}\n`);
    failIfWarned();
    process.exit(1);
  }
  failIfWarned();
  process.stdout.write(JSON.stringify(result));
}
