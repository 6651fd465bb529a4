// The component's entry, written by taskbox: implements the world's `run`
// by calling `run(ctx, params)` from the task's module `app.js`.

import { run as task } from "./app.js";

function failure(e) {
  if (e instanceof Error) {
    const head = `${e.name}: ${e.message}`;
    const stack = (e.stack ?? "").trim();
    return stack ? `${head}\n\n${stack}` : head;
  }
  return typeof e === "string" ? e : `thrown: ${JSON.stringify(e) ?? String(e)}`;
}

export async function run(ctx, params) {
  let value;
  try {
    const context = {
      taskType: ctx.taskType,
      configId: ctx.configId,
      executionId: ctx.executionId,
      attempt: ctx.attempt,
      scheduledAt: new Date(ctx.scheduledAt),
    };
    value = await task(context, params.trim() ? JSON.parse(params) : {});
  } catch (e) {
    throw failure(e);
  }
  const text = JSON.stringify(value === undefined ? null : value);
  if (text === undefined) {
    throw "the result is not JSON";
  }
  return text;
}
