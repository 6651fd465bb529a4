// js_fetch: fetches a URL with the standard `fetch` (componentize-js carries
// it over wasi:http) and returns the status, the content type and the
// body's length, plus the JSON body when `json` is true. Its sidecar
// (`js_fetch.toml`) must list the host in `allowed_outbound_hosts`;
// anything else is refused by the host.
//
//   taskbox run js_fetch --params '{"url": "https://example.com/"}'
//   → {"url": "https://example.com/", "status": 200, "content_type": "text/html", "body_length": 1256}

import { log } from "./taskbox.js";

export async function run(ctx, { url, json = false, accept = "*/*" }) {
  const response = await fetch(url, { headers: { accept } });
  const body = new Uint8Array(await response.arrayBuffer());
  log.info(`GET ${url} -> ${response.status}`);
  const out = {
    url,
    status: response.status,
    content_type: response.headers.get("content-type"),
    body_length: body.length,
  };
  if (json) {
    out.json = JSON.parse(new TextDecoder().decode(body));
  }
  return out;
}
