// What clients.mjs and tools.mjs share: the daemon's URL, assertions, and
// a runner that prints "ok <check>" or "FAIL <check>: ..." per check and
// exits 1 when one failed.
export const base = process.env.DAEMON_URL;
if (!base) {
  console.error("DAEMON_URL is not set");
  process.exit(2);
}

export const tool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "the weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

export function assert(cond, what) {
  if (!cond) throw new Error(what);
}

const checks = [];
export const check = (name, fn) => checks.push([name, fn]);

// run runs the checks in order and exits.
export async function run() {
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log(`ok ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack ?? e}`);
    }
  }
  process.exit(failed ? 1 : 0);
}
