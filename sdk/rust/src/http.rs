//! A small blocking HTTP client over `wasi:http/outgoing-handler` (the
//! `wasi` crate's bindings). The host decides what may be reached: the
//! sidecar's `allowed_outbound_hosts`; a refused request comes back as an
//! error whose text contains `HttpRequestDenied`.
//!
//! `http::request("GET", "https://example.com/x", &[], b"")` → `(status, body)`.

use wasi::http::outgoing_handler::handle;
use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// A URL taken apart: scheme, authority (`host[:port]`), path with query.
fn split(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} has no scheme"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}

/// Sends one request and reads the whole response. Headers the host
/// forbids (such as `Host`) are an error here, before anything is sent.
pub fn request(
    method_name: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let (scheme, authority, path) = split(url)?;
    let fields = Fields::new();
    for (name, value) in headers {
        fields.append(name, value.as_bytes()).map_err(|e| format!("header {name:?}: {e:?}"))?;
    }
    let req = OutgoingRequest::new(fields);
    req.set_method(&method(method_name)).map_err(|()| "bad method".to_owned())?;
    req.set_scheme(Some(&scheme)).map_err(|()| "bad scheme".to_owned())?;
    req.set_authority(Some(authority)).map_err(|()| format!("bad authority {authority:?}"))?;
    req.set_path_with_query(Some(path)).map_err(|()| format!("bad path {path:?}"))?;
    let out = req.body().map_err(|()| "no request body".to_owned())?;
    let pending = handle(req, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = out.write().map_err(|()| "no request body stream".to_owned())?;
        for chunk in body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| format!("writing the body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(out, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(format!("{code:?}")),
        Some(Err(())) | None => return Err("the response was already taken".to_owned()),
    };
    let status = response.status();
    let incoming = response.consume().map_err(|()| "no response body".to_owned())?;
    let mut read = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| "no response body stream".to_owned())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => read.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!("reading the body: {}", e.to_debug_string()));
                }
            }
        }
    }
    let _trailers = IncomingBody::finish(incoming);
    Ok((status, read))
}
