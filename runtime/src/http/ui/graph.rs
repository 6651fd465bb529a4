//! A workflow's graph as SVG, drawn on the server: one box per step, in
//! columns by depth (a step stands right of every parent), an arrow from
//! each parent, each box coloured by its status and linking to its runs
//! when a run is shown. Sizes are SVG attributes (no inline style).

use maud::{Markup, html};
use std::collections::HashMap;

use crate::engine::workflow::progress::StepStatus;

const BOX_W: f64 = 180.0;
const BOX_H: f64 = 48.0;
const GAP_X: f64 = 56.0;
const GAP_Y: f64 = 18.0;
const PAD: f64 = 10.0;

/// One step as drawn: its name, what it runs, its parents, its status
/// (none for a definition) and where its box links to.
pub(crate) struct Node<'a> {
    pub name: &'a str,
    pub task_type: &'a str,
    pub for_each: bool,
    pub parents: &'a [String],
    pub status: Option<StepStatus>,
    pub href: Option<String>,
}

/// The depth of each step: 0 without parents, else one more than its
/// deepest parent.
fn depths<'a>(steps: &[Node<'a>]) -> HashMap<&'a str, usize> {
    let mut depth: HashMap<&str, usize> = HashMap::new();
    while depth.len() < steps.len() {
        let before = depth.len();
        for s in steps {
            if depth.contains_key(s.name) {
                continue;
            }
            let parents: Option<Vec<usize>> =
                s.parents.iter().map(|p| depth.get(p.as_str()).copied()).collect();
            if let Some(parents) = parents {
                depth.insert(s.name, parents.into_iter().max().map_or(0, |d| d + 1));
            }
        }
        if depth.len() == before {
            break;
        }
    }
    depth
}

/// The graph of a workflow's `steps`.
pub(crate) fn workflow(steps: &[Node<'_>], label: &str) -> Markup {
    let depth = depths(steps);
    let mut rows_in: HashMap<usize, usize> = HashMap::new();
    let mut at: HashMap<&str, (f64, f64)> = HashMap::new();
    for s in steps {
        let d = depth.get(s.name).copied().unwrap_or(0);
        let row = rows_in.entry(d).or_default();
        at.insert(s.name, (PAD + d as f64 * (BOX_W + GAP_X), PAD + *row as f64 * (BOX_H + GAP_Y)));
        *row += 1;
    }
    let columns = depth.values().max().map_or(1, |d| d + 1) as f64;
    let rows = rows_in.values().max().copied().unwrap_or(1) as f64;
    let width = 2.0 * PAD + columns * BOX_W + (columns - 1.0) * GAP_X;
    let height = 2.0 * PAD + rows * BOX_H + (rows - 1.0) * GAP_Y;
    let f = |v: f64| format!("{v:.1}");
    html! {
        svg.graph viewBox={"0 0 " (f(width)) " " (f(height))} width=(f(width)) height=(f(height)) role="img" aria-label=(label) {
            title { (label) }
            defs { marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto" {
                path.arrowhead d="M0,0 L10,5 L0,10 z" {}
            } }
            @for s in steps { @for p in s.parents {
                @if let (Some((px, py)), Some((cx, cy))) = (at.get(p.as_str()), at.get(s.name)) {
                    @let (x1, y1, x2, y2) = (px + BOX_W, py + BOX_H / 2.0, *cx, cy + BOX_H / 2.0);
                    path.edge marker-end="url(#arrow)"
                        d={"M" (f(x1)) "," (f(y1)) " C" (f(x1 + GAP_X / 2.0)) "," (f(y1)) " " (f(x2 - GAP_X / 2.0)) "," (f(y2)) " " (f(x2)) "," (f(y2))} {}
                }
            } }
            @for s in steps {
                @let (x, y) = at.get(s.name).copied().unwrap_or((PAD, PAD));
                @let word = s.status.map_or("step", StepStatus::as_str);
                @let kind = if s.for_each { format!("{} · for each", s.task_type) } else { s.task_type.to_owned() };
                @let node = html! {
                    g class={"node " (word)} data-step=(s.name) {
                        title { (s.name) ": " (word) }
                        rect x=(f(x)) y=(f(y)) width=(f(BOX_W)) height=(f(BOX_H)) rx="6" {}
                        text.name x=(f(x + 10.0)) y=(f(y + 19.0)) { (s.name) }
                        text.kind x=(f(x + 10.0)) y=(f(y + 37.0)) {
                            (kind) @if s.status.is_some() { " · " (word) }
                        }
                    }
                };
                @match &s.href {
                    Some(href) => a href=(href) { (node) },
                    None => (node),
                }
            }
        }
    }
}
