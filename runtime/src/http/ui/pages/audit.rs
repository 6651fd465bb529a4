//! Audit: the latest changes made through the API, the dashboard and the
//! CLI, newest first, filtered by actor, action or target (admins only).

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;
use serde::Deserialize;

use super::given;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::ui::UiError;
use crate::http::ui::layout::{page, time};
use crate::http::ui::session::Session;
use crate::store::AuditFilter;

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    notice: Option<String>,
}

/// The newest 200 events that match the filters.
pub(crate) async fn audit(
    State(app): State<App>,
    session: Session,
    Query(q): Query<AuditQuery>,
) -> Result<Html<String>, UiError> {
    if !session.may_act() {
        return Err(ApiError::Forbidden("the audit log is for admin tokens only".into()).into());
    }
    let owned = |v: &Option<String>| given(v).map(str::to_owned);
    let filter = AuditFilter {
        actor: owned(&q.actor),
        action: owned(&q.action),
        target: owned(&q.target),
        since: None,
    };
    let events = app.read_audit(&filter, Some(200)).await?;
    let body = html! {
        form method="get" action="/ui/audit" {
            label { "Actor " input type="text" name="actor" value=(given(&q.actor).unwrap_or_default()); }
            " "
            label { "Action " input type="text" name="action" value=(given(&q.action).unwrap_or_default()); }
            " "
            label { "Target " input type="text" name="target" value=(given(&q.target).unwrap_or_default()); }
            " "
            button type="submit" { "Filter" }
        }
        @if events.is_empty() { p.muted { "No change matches." } }
        @else {
            table {
                thead { tr { th { "At" } th { "Actor" } th { "Action" } th { "Target" } th { "Summary" } } }
                tbody { @for e in &events { tr {
                    td { (time(Some(e.at))) } td { (e.actor) } td { code { (e.action) } }
                    td { code { (e.target) } } td { (e.summary) }
                } } }
            }
        }
    };
    Ok(Html(page("Audit", "Audit", session.viewer(), given(&q.notice), body).into_string()))
}
