//! Plugins: what this node serves, its grants, and load errors.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};

use super::{NoticeQuery, given};
use crate::app::App;
use crate::http::ui::UiError;
use crate::http::ui::layout::{page, time};
use crate::http::ui::session::Session;
use crate::plugins::registry::Sidecar;

/// Plugins: what this node serves, its grants, and load errors.
pub(crate) async fn plugins(
    State(app): State<App>,
    session: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let catalog = app.registry().catalog();
    let body = html! {
        @if session.may_act() {
            form method="post" action="/ui/plugins/reload" {
                (session.csrf_field())
                button type="submit" { "Reload" } span.muted { " rescans the plugin directory" }
            }
        }
        table {
            thead { tr {
                th { "Name" } th { "Shape" } th { "Digest" } th.num { "Size" } th { "Loaded" }
                th { "Grants" } th { "Error" }
            } }
            tbody {
                @for (name, entry) in catalog.iter() {
                    @let info = &entry.info;
                    tr {
                        td { strong { (name) } }
                        td {
                            (info.shape.map(|s| s.to_string()).unwrap_or_default())
                            @if info.adapted_from.is_some() { " (from WASI preview 1)" }
                        }
                        td { code title=(info.digest.clone().unwrap_or_default()) {
                            (info.digest.as_deref().map(|d| &d[..d.len().min(12)]).unwrap_or("—")) } }
                        td.num { (format!("{:.1} KiB", info.size as f64 / 1024.0)) }
                        td { (time(info.loaded_at)) }
                        td { @if let Some(plugin) = &entry.plugin { (grants(&plugin.sidecar)) } }
                        td { @if let Some(error) = &info.error { span.badge.bad { "error" } " " (error) } }
                    }
                }
            }
        }
    };
    Ok(Html(page("Plugins", "Plugins", session.viewer(), given(&q.notice), body).into_string()))
}

/// What a sidecar grants, in short.
fn grants(s: &Sidecar) -> Markup {
    let mut said: Vec<String> = Vec::new();
    if !s.allowed_outbound_hosts.is_empty() {
        said.push(format!("http: {}", s.allowed_outbound_hosts.join(", ")));
    }
    if !s.key_value_stores.is_empty() {
        said.push(format!("kv: {}", s.key_value_stores.join(", ")));
    }
    if !s.secrets.is_empty() {
        said.push(format!("secrets: {}", s.secrets.join(", ")));
    }
    if !s.env.is_empty() {
        said.push(format!("env: {}", s.env.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    if !s.dirs.is_empty() {
        said.push(format!("dirs: {}", s.dirs.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    if let Some(mb) = s.memory_mb {
        said.push(format!("memory {mb} MiB"));
    }
    if let Some(t) = s.timeout_seconds {
        said.push(format!("timeout {t} s"));
    }
    if let Some(n) = s.max_concurrency {
        said.push(format!("{n} at once"));
    }
    html! {
        @if said.is_empty() { span.muted { "nothing" } }
        @else { @for (i, g) in said.iter().enumerate() { @if i > 0 { br; } (g) } }
    }
}
