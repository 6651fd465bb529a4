// js_probe: what a JavaScript task can and cannot do in the sandbox; the
// test suite uses it. `{"action": ...}` with one of: `noop` (returns `{}`:
// the benchmark's trivial task), `throw` (an Error with
// `message`), `throw_string`, `spin` (loops forever), `alloc` (`mb`
// megabytes), `env` (what the task can see of an environment: only what is granted), `kv`
// (`bucket`: increments `key`), `http` (`url`), `log`, `context`.

import { env, kv, log } from "./taskbox.js";

export async function run(ctx, params) {
  switch (params.action) {
    case "noop":
      return {};
    case "throw":
      throw new Error(params.message ?? "probe failed on purpose");
    case "throw_string":
      throw params.message ?? "a thrown string";
    case "spin":
      for (;;) {}
    case "alloc": {
      const block = new Uint8Array(params.mb * 1024 * 1024);
      block.fill(1);
      return { allocated_mb: block.length / (1024 * 1024) };
    }
    case "env":
      return {
        process: typeof process,
        deno: typeof Deno,
        env: globalThis.process?.env ?? null,
        granted: env.all(),
      };
    case "kv":
      return { value: kv.open(params.bucket).increment(params.key ?? "n") };
    case "http": {
      try {
        const response = await fetch(params.url);
        return { status: response.status, body: await response.text() };
      } catch (e) {
        return { refused: String(e) };
      }
    }
    case "log":
      log.info("info via log");
      log.warn("warn via log");
      console.log("stdout via console.log");
      return { logged: true };
    case "context":
      return { ...ctx, scheduledAt: ctx.scheduledAt.toISOString() };
    default:
      throw new Error(`unknown action ${JSON.stringify(params.action)}`);
  }
}
