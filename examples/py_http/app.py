"""py_http: fetches a URL through wasi:http (the SDK's ``taskbox.http``) and
returns the status, the content type and the body's length, plus the JSON
body when ``json`` is true. Its sidecar (``py_http.toml``) must list the
host in ``allowed_outbound_hosts``; anything else is refused by the host.

    taskbox run py_http --params '{"url": "https://example.com/"}'
    → {"url": "https://example.com/", "status": 200, "content_type": "text/html", "body_length": 1256}
"""

from taskbox import http, log


def run(ctx, params):
    url = params["url"]
    response = http.get(url, headers={"accept": params.get("accept", "*/*")})
    log.info("GET %s -> %d", url, response.status)
    out = {
        "url": url,
        "status": response.status,
        "content_type": response.headers.get("content-type"),
        "body_length": len(response.body),
    }
    if params.get("json"):
        out["json"] = response.json()
    return out
