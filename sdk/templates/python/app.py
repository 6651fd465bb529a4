"""{{name}}: a taskbox task. `taskbox build .` makes `plugins/{{name}}.wasm`."""

from taskbox import log


def run(ctx, params):
    """One run: `params` is the config's JSON as Python objects; the return
    value (JSON-able) is the result; an exception is a failure."""
    name = params.get("name", "world")
    if not name:
        raise ValueError("params: `name` must not be empty")
    log.info("%s runs for config %r", ctx.task_type, ctx.config_id)
    return {"greeting": f"hello, {name}", "attempt": ctx.attempt}
