"""Lines in the run's logs: ``log.info("loaded %d rows", n)``.

Arguments are %-formatted as the ``logging`` module does.
"""

from wit_world.imports import host

__all__ = ["trace", "debug", "info", "warn", "warning", "error"]


def _write(level, message, args):
    text = str(message) % args if args else str(message)
    host.log(level, text)


def trace(message, *args):
    _write(host.Level.TRACE, message, args)


def debug(message, *args):
    _write(host.Level.DEBUG, message, args)


def info(message, *args):
    _write(host.Level.INFO, message, args)


def warn(message, *args):
    _write(host.Level.WARN, message, args)


warning = warn


def error(message, *args):
    _write(host.Level.ERROR, message, args)
