//! OpenAPI links: which answer supplies the id that other operations take,
//! so a client (or a stateful tester such as schemathesis) can follow a
//! created config to its reads, changes, runs and schedule actions, and a
//! listed execution to its record. Owns only these entries of the document.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{OpenApi, RefOr};

/// A link: its name, the target's path and method, and a parameter
/// beyond `id` (name and value).
type Target = (&'static str, &'static str, &'static str, Option<(&'static str, &'static str)>);

/// What a created config (`POST /configs`, 201, `{"id"}`) leads to.
const FROM_CREATED_CONFIG: [Target; 8] = [
    ("ReadConfig", "/api/v1/configs/{id}", "get", None),
    ("UpdateConfig", "/api/v1/configs/{id}", "patch", None),
    ("DeleteConfig", "/api/v1/configs/{id}", "delete", None),
    ("RunConfig", "/api/v1/configs/{id}/run", "post", None),
    ("ScheduleHistory", "/api/v1/schedules/{id}/history", "get", None),
    ("StartSchedule", "/api/v1/schedules/{id}/{action}", "post", Some(("action", "start"))),
    ("PauseSchedule", "/api/v1/schedules/{id}/{action}", "post", Some(("action", "pause"))),
    ("StopSchedule", "/api/v1/schedules/{id}/{action}", "post", Some(("action", "stop"))),
];

fn operation<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Operation> {
    match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}

fn operation_id(doc: &mut OpenApi, path: &str, method: &str) -> Option<String> {
    operation(doc.paths.paths.get_mut(path)?, method)?.operation_id.clone()
}

/// Adds `link` (to `target`'s operation, with `parameters`) to the
/// `status` answer of `method path`; a missing operation adds nothing.
fn link(
    doc: &mut OpenApi,
    from: (&str, &str, &str),
    name: &str,
    target: (&str, &str),
    parameters: &[(&str, &str)],
) {
    let Some(id) = operation_id(doc, target.0, target.1) else { return };
    let (path, method, status) = from;
    let Some(op) = doc.paths.paths.get_mut(path).and_then(|item| operation(item, method)) else { return };
    let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) else { return };
    let built = parameters.iter().fold(LinkBuilder::new().operation_id(id), |b, (k, v)| b.parameter(*k, *v));
    response.links.insert(name.to_owned(), RefOr::T(built.build()));
}

/// Adds every link to the document (after its operations are in it).
pub fn add(doc: &mut OpenApi) {
    let created = ("/api/v1/configs", "post", "201");
    for (name, path, method, extra) in FROM_CREATED_CONFIG {
        let mut parameters = vec![("id", "$response.body#/id")];
        parameters.extend(extra);
        link(doc, created, name, (path, method), &parameters);
    }
    let listed = ("/api/v1/executions", "get", "200");
    link(
        doc,
        listed,
        "ReadExecution",
        ("/api/v1/executions/{id}", "get"),
        &[("id", "$response.body#/items/0/id")],
    );
}
