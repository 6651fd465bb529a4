// The taskbox SDK for JavaScript tasks.
//
// A task is a module `app.js` that exports one function:
//
//   import { log } from "./taskbox.js";
//
//   export async function run(ctx, params) {
//     log.info(`attempt ${ctx.attempt} of ${ctx.executionId}`);
//     return { hello: params.name ?? "world" };
//   }
//
// `params` is the config's parameters, parsed; the value returned (or the
// promise's value) must be JSON-able and is the result; a thrown error is a
// failure whose message is the error's `name: message` and its stack.
// `ctx` holds taskType, configId, executionId, attempt and scheduledAt (a
// Date). `log` writes to the run's logs (so does `console.log`, to stdout).
// The doors, when the sidecar grants them: `fetch` (outbound HTTP, global),
// `kv` below (key-value state) and `env` below (secrets and `[env]`).
//
// `taskbox build` bundles this file into the component; it owns the mapping
// between the `stateful-env-task` world and the task function, nothing else.

import { log as hostLog } from "taskbox:plugin/host@0.1.0";
import { open as openBucket } from "wasi:keyvalue/store@0.2.0-draft2";
import { increment } from "wasi:keyvalue/atomics@0.2.0-draft2";
import { getEnvironment } from "wasi:cli/environment@0.2.12";

const write = (level) => (...parts) => hostLog(level, parts.map(String).join(" "));

/** Lines in the run's logs: `log.info("loaded", rows, "rows")`. */
export const log = {
  trace: write("trace"),
  debug: write("debug"),
  info: write("info"),
  warn: write("warn"),
  error: write("error"),
};

/** A refused or failed key-value call ("access-denied", a bound, …). */
export class KvError extends Error {
  constructor(cause) {
    const payload = cause?.payload ?? cause;
    super(payload?.tag === "other" ? payload.val : String(payload?.tag ?? cause));
    this.name = "KvError";
  }
}

function call(f) {
  try {
    return f();
  } catch (e) {
    throw new KvError(e);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Bucket {
  constructor(name, handle) {
    this.name = name;
    this.handle = handle;
  }
  /** The value as bytes (Uint8Array), or undefined. */
  get(key) {
    return call(() => this.handle.get(key));
  }
  /** The value as text, or undefined. */
  getText(key) {
    const value = this.get(key);
    return value === undefined ? undefined : decoder.decode(value);
  }
  /** Stores a string (as UTF-8) or bytes. */
  set(key, value) {
    call(() => this.handle.set(key, typeof value === "string" ? encoder.encode(value) : value));
  }
  delete(key) {
    call(() => this.handle.delete(key));
  }
  exists(key) {
    return call(() => this.handle.exists(key));
  }
  /** Every key, in byte order. */
  keys() {
    const all = [];
    let cursor;
    do {
      const page = call(() => this.handle.listKeys(cursor));
      all.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return all;
  }
  /** Adds `by` to the decimal number at `key` (absent = 0), atomically. */
  increment(key, by = 1) {
    return call(() => Number(increment(this.handle, key, BigInt(by))));
  }
}

/** Key-value state: only the buckets the sidecar names in `key_value_stores` open. */
export const kv = {
  open(name) {
    return new Bucket(name, call(() => openBucket(name)));
  },
};

/** The run's environment: granted secrets and the sidecar's `[env]`. */
export const env = {
  /** The value of `name`, or undefined. */
  get(name) {
    const found = getEnvironment().find(([key]) => key === name);
    return found?.[1];
  },
  /** Every variable, as an object. */
  all() {
    return Object.fromEntries(getEnvironment());
  },
};
