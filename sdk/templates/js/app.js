// {{name}}: a taskbox task. `taskbox build .` makes `plugins/{{name}}.wasm`.
//
// `./taskbox.js` (log, kv, env) is the SDK; `taskbox build` supplies it.

import { log } from "./taskbox.js";

// One run: `params` is the config's JSON; the value returned (or awaited) is
// the result; a thrown error is a failure. `fetch` is there when the sidecar
// allows hosts.
export async function run(ctx, params) {
  const name = params.name ?? "world";
  if (!name) {
    throw new Error("params: `name` must not be empty");
  }
  log.info(`${ctx.taskType} runs for config ${JSON.stringify(ctx.configId)}`);
  return { greeting: `hello, ${name}`, attempt: ctx.attempt };
}
