//! The page shell (navigation, who is logged in, logout), the login and
//! error pages, and the small pieces every page uses (status badges,
//! times, durations). maud escapes every value it is given.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::assets;
use crate::contract::schedule::Status;

/// The sections of the navigation, by path.
const NAV: [(&str, &str); 5] = [
    ("Overview", "/ui/"),
    ("Schedules", "/ui/schedules"),
    ("Runs", "/ui/runs"),
    ("Plugins", "/ui/plugins"),
    ("Audit", "/ui/audit"),
];

/// A whole document: the doctype first (no quirks mode), then the head
/// and `body`.
fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · taskbox" }
                link rel="stylesheet" href=(assets::url("app.css"));
                script src=(assets::url("app.js")) defer {}
            }
            (body)
        }
    }
}

/// Who is looking: an admin (or a viewer), and the CSRF token of their forms.
pub(crate) struct Viewer<'a> {
    pub admin: bool,
    pub csrf: &'a str,
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A page with the navigation, `current` marked, and a notice if any.
pub(crate) fn page(
    title: &str,
    current: &str,
    who: Viewer<'_>,
    notice: Option<&str>,
    body: Markup,
) -> Markup {
    document(
        title,
        html! {
            body {
                header {
                    span.brand { "taskbox" }
                    nav aria-label="Sections" {
                        @for (name, path) in NAV {
                            @if name == current {
                                a href=(path) aria-current="page" { (name) }
                            } @else {
                                a href=(path) { (name) }
                            }
                        }
                    }
                    div.who {
                        span { @if who.admin { "admin" } @else { "viewer (read-only)" } }
                        form.inline method="post" action="/ui/logout" {
                            (csrf_field(who.csrf))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    @if let Some(notice) = notice {
                        p.notice role="status" { (notice) }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        },
    )
}

/// A page without navigation (errors).
pub(crate) fn bare(title: &str, message: &str) -> Markup {
    document(
        title,
        html! { body { main { h1 { (title) } p.problem { (message) } p { a href="/ui/" { "Back to the overview" } } } } },
    )
}

/// The login page.
pub(crate) fn login(csrf: &str, problem: Option<&str>) -> Markup {
    document(
        "Log in",
        html! {
            body {
                form.login method="post" action="/ui/login" {
                    h1 { "taskbox" }
                    @if let Some(problem) = problem { p.problem role="alert" { (problem) } }
                    input type="hidden" name="csrf" value=(csrf);
                    label { "API token" br; input type="password" name="token" autocomplete="current-password" required autofocus; }
                    button.primary type="submit" { "Log in" }
                    p.muted { "Any admin or viewer token (" code { "taskbox token create" } "). Viewers only look." }
                }
            }
        },
    )
}

pub(crate) fn badge(status: Status) -> Markup {
    html! { span class={"badge " (status.as_str())} { (status.as_str()) } }
}

pub(crate) fn outcome(is_success: bool) -> Markup {
    html! {
        @if is_success { span.badge.ok { "success" } } @else { span.badge.bad { "failure" } }
    }
}

pub(crate) fn time(t: Option<DateTime<Utc>>) -> Markup {
    html! {
        @match t {
            Some(t) => time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S")) },
            None => span.muted { "—" },
        }
    }
}

pub(crate) fn seconds(s: f64) -> String {
    match s {
        s if s < 0.001 => format!("{:.0} µs", s * 1e6),
        s if s < 1.0 => format!("{:.1} ms", s * 1e3),
        s if s < 120.0 => format!("{s:.2} s"),
        s => format!("{:.1} min", s / 60.0),
    }
}
