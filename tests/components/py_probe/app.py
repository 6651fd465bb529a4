"""py_probe: what a Python task can and cannot do in the sandbox; the test
suite uses it. ``{"action": ...}`` with one of:

- ``noop`` (returns ``{}``: the benchmark's trivial task), ``raise`` (a ValueError with ``message``), ``spin`` (loops forever),
- ``alloc`` (``mb`` megabytes), ``read_file`` (``path``), ``env``,
- ``stdlib`` (json, datetime, re; hashlib, statistics, uuid imported lazily),
- ``kv`` (``bucket``: increments ``key``), ``http`` (``url``),
- ``log`` (a line at each level, through ``log`` and ``logging``),
- ``context``, ``version`` (``VERSION`` below, to see a rebuild load).
"""

import datetime
import json
import logging
import os
import re

from taskbox import http, kv, log

VERSION = 1


def run(ctx, params):
    action = params.get("action")
    if action == "noop":
        return {}
    if action == "raise":
        raise ValueError(params.get("message", "probe failed on purpose"))
    if action == "spin":
        n = 0
        while True:
            n += 1
    if action == "alloc":
        block = bytearray(params["mb"] * 1024 * 1024)
        return {"allocated_mb": len(block) // (1024 * 1024)}
    if action == "read_file":
        try:
            with open(params["path"]) as f:
                return {"read": f.read()}
        except OSError as e:
            return {"refused": f"{type(e).__name__}: {e}"}
    if action == "env":
        return {"environ": dict(os.environ)}
    if action == "stdlib":
        # Imported lazily: the SDK loads these when the component is built.
        import hashlib
        import statistics
        import uuid

        return {
            "sha256": hashlib.sha256(b"taskbox").hexdigest(),
            "words": re.findall(r"\w+", "a sandboxed task"),
            "median": statistics.median([3, 1, 2]),
            "date": datetime.date(2026, 12, 3).isoformat(),
            "json": json.loads('{"x": [1, 2]}'),
            "uuid_version": uuid.uuid4().version,
        }
    if action == "kv":
        return {"value": kv.open(params["bucket"]).increment(params.get("key", "n"))}
    if action == "http":
        r = http.get(params["url"])
        return {"status": r.status, "body": r.text()}
    if action == "log":
        log.info("info via taskbox.log")
        log.warn("warn via taskbox.log %s", "with args")
        logging.getLogger("probe").error("error via logging")
        print("stdout via print")
        return {"logged": True}
    if action == "context":
        return {
            "task_type": ctx.task_type,
            "config_id": ctx.config_id,
            "execution_id": ctx.execution_id,
            "attempt": ctx.attempt,
            "scheduled_at": ctx.scheduled_at.isoformat() if ctx.scheduled_at else None,
        }
    if action == "version":
        return {"version": VERSION}
    raise ValueError(f"unknown action {action!r}")
