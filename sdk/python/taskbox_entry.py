"""The component's entry: implements the ``stateful-http-task`` world's ``run``
by calling ``run(ctx, params)`` in the task's module ``app``. Written by
taskbox; ``taskbox build`` puts it in every Python component."""

import json
import logging
import traceback
from datetime import datetime

# Common standard-library modules, loaded while the component is built. A
# module is in the component only if it was imported then (the sandbox has
# no filesystem to load one from later), so these may also be imported
# lazily inside a function; any other, import at the top of app.py.
import base64, binascii, calendar, collections, copy, csv, dataclasses, decimal, difflib, enum  # noqa: E401,F401
import fractions, functools, hashlib, heapq, hmac, html, io, itertools, math, operator  # noqa: E401,F401
import random, re, secrets, statistics, string, struct, textwrap, time, typing, unicodedata  # noqa: E401,F401
import urllib.parse, uuid, zlib, zoneinfo  # noqa: E401,F401

import wit_world
from componentize_py_types import Err

import taskbox
from taskbox import log

import app


class _HostLog(logging.Handler):
    """Sends the ``logging`` module's records to the run's logs."""

    _LEVELS = [(logging.ERROR, log.error), (logging.WARNING, log.warn),
               (logging.INFO, log.info), (logging.DEBUG, log.debug)]

    def emit(self, record):
        for level, write in self._LEVELS:
            if record.levelno >= level:
                write(self.format(record))
                return
        log.trace(self.format(record))


logging.basicConfig(level=logging.INFO, handlers=[_HostLog()], format="%(name)s: %(message)s")


def _context(ctx):
    try:
        scheduled = datetime.fromisoformat(ctx.scheduled_at.replace("Z", "+00:00"))
    except ValueError:
        scheduled = None
    return taskbox.Context(ctx.task_type, ctx.config_id, ctx.execution_id, ctx.attempt, scheduled)


def _failure(e):
    lines = traceback.format_exception(type(e), e, e.__traceback__)
    return f"{type(e).__name__}: {e}\n\n{''.join(lines).rstrip()}"


class WitWorld(wit_world.WitWorld):
    def run(self, ctx, params):
        try:
            value = app.run(_context(ctx), json.loads(params) if params.strip() else {})
        except Exception as e:
            raise Err(_failure(e))
        try:
            return json.dumps(value)
        except (TypeError, ValueError) as e:
            raise Err(f"the result is not JSON: {e}")
