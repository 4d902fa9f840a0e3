// Shared by the oracle scripts: strict console, stdin, and feeding bytes in small fragments.
// Any console.warn / console.error from an official client fails the run.
const problems = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => {
    problems.push(`console.${level}: ${args.map(String).join(" ")}`);
  };
}

export function failIfWarned() {
  if (problems.length > 0) {
    process.stderr.write(problems.join("\n") + "\n");
    process.exit(1);
  }
}

export async function readStdin() {
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

export function options() {
  return JSON.parse(process.argv[2] ?? "{}");
}
