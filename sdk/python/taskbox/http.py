"""Outbound HTTP (``wasi:http``), blocking::

    from taskbox import http

    r = http.get("https://api.example.com/items", headers={"accept": "application/json"})
    r.status, r.headers["content-type"], r.json()
    http.post("https://hooks.example.com/x", json={"text": "done"})

Only what the sidecar lists in ``allowed_outbound_hosts`` can be reached; a
refused request raises :class:`HttpError` naming ``HttpRequestDenied``.
"""

import json as _json
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as t

__all__ = ["HttpError", "Response", "request", "get", "post"]

_METHODS = {
    "GET": t.Method_Get, "HEAD": t.Method_Head, "POST": t.Method_Post,
    "PUT": t.Method_Put, "DELETE": t.Method_Delete, "PATCH": t.Method_Patch,
    "OPTIONS": t.Method_Options,
}


class HttpError(Exception):
    """The request could not be made or was refused by the host."""


class Response:
    def __init__(self, status, headers, body):
        #: The status code, e.g. 200.
        self.status = status
        #: Header names in lower case; repeated headers joined by ", ".
        self.headers = headers
        #: The whole body, as bytes.
        self.body = body

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return _json.loads(self.body)


def _name(value):
    return type(value).__name__.split("_", 1)[-1]


def request(method, url, headers=None, body=b""):
    """Sends one request and reads the whole response."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(f"{url!r} is not an http(s) URL")
    fields = t.Fields()
    try:
        for name, value in (headers or {}).items():
            fields.append(name, value.encode() if isinstance(value, str) else value)
    except Err as e:
        raise HttpError(f"header refused: {_name(e.value)}") from None
    req = t.OutgoingRequest(fields)
    method_upper = method.upper()
    req.set_method(_METHODS[method_upper]() if method_upper in _METHODS else t.Method_Other(method))
    req.set_scheme(t.Scheme_Https() if parts.scheme == "https" else t.Scheme_Http())
    req.set_authority(parts.netloc)
    req.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    out = req.body()
    try:
        pending = outgoing_handler.handle(req, None)
    except Err as e:
        raise HttpError(f"{url}: {_name(e.value)}") from None
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    stream = out.write()
    for at in range(0, len(data), 4096):
        stream.blocking_write_and_flush(data[at:at + 4096])
    stream.__exit__(None, None, None)
    t.OutgoingBody.finish(out, None)
    pending.subscribe().block()
    answer = pending.get()
    if not isinstance(answer, Ok):
        raise HttpError(f"{url}: the response was already taken")
    inner = answer.value
    if isinstance(inner, Err):
        raise HttpError(f"{url}: {_name(inner.value)}")
    response = inner.value if isinstance(inner, Ok) else inner
    status = response.status()
    names = {}
    for name, value in response.headers().entries():
        key = name.lower()
        text = value.decode("latin-1")
        names[key] = f"{names[key]}, {text}" if key in names else text
    incoming = response.consume()
    chunks = []
    reader = incoming.stream()
    while True:
        try:
            chunks.append(reader.blocking_read(65536))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            raise HttpError(f"{url}: reading the body: {e.value.value.to_debug_string()}") from None
    reader.__exit__(None, None, None)
    return Response(status, names, b"".join(chunks))


def get(url, headers=None):
    return request("GET", url, headers)


def post(url, json=None, data=b"", headers=None):
    headers = dict(headers or {})
    if json is not None:
        data = _json.dumps(json).encode()
        headers.setdefault("content-type", "application/json")
    return request("POST", url, headers, data)
