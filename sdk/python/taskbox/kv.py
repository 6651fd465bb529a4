"""Key-value state that outlives runs (``wasi:keyvalue``).

Only the buckets the sidecar names in ``key_value_stores`` open::

    from taskbox import kv

    bucket = kv.open("default")
    runs = bucket.increment("runs")        # atomic across runs and nodes
    bucket.set("last", b"...")             # bytes or str
    bucket.get("last")                     # bytes, or None
    bucket.keys()                          # every key, in byte order
"""

from componentize_py_types import Err
from wit_world.imports import atomics, store

__all__ = ["KvError", "Bucket", "open"]


class KvError(Exception):
    """A refused or failed key-value call (``access denied``, a bound, …)."""


def _error(e):
    v = e.value
    if isinstance(v, store.Error_AccessDenied):
        return KvError("access denied")
    if isinstance(v, store.Error_NoSuchStore):
        return KvError("no such store")
    if isinstance(v, store.Error_Other):
        return KvError(v.value)
    return KvError(repr(v))


def _bytes(value):
    return value.encode() if isinstance(value, str) else bytes(value)


class Bucket:
    """An open bucket."""

    def __init__(self, name, handle):
        self.name = name
        self._handle = handle

    def get(self, key):
        try:
            return self._handle.get(key)
        except Err as e:
            raise _error(e) from None

    def set(self, key, value):
        try:
            self._handle.set(key, _bytes(value))
        except Err as e:
            raise _error(e) from None

    def delete(self, key):
        try:
            self._handle.delete(key)
        except Err as e:
            raise _error(e) from None

    def exists(self, key):
        try:
            return self._handle.exists(key)
        except Err as e:
            raise _error(e) from None

    def keys(self):
        """Every key, in byte order (fetched a page at a time)."""
        cursor = None
        while True:
            try:
                page = self._handle.list_keys(cursor)
            except Err as e:
                raise _error(e) from None
            yield from page.keys
            cursor = page.cursor
            if cursor is None:
                return

    def increment(self, key, by=1):
        """Adds ``by`` to the decimal number at ``key`` (absent = 0), atomically."""
        try:
            return atomics.increment(self._handle, key, by)
        except Err as e:
            raise _error(e) from None


def open(name):
    """Opens bucket ``name``; :class:`KvError` if the sidecar does not grant it."""
    try:
        return Bucket(name, store.open(name))
    except Err as e:
        raise _error(e) from None
