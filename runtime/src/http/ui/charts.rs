//! Small bar charts as SVG, drawn on the server (no script, no library):
//! runs per hour split into successes and failures, and run durations.
//! Sizes are SVG attributes, not styles, so the CSP needs no inline style.

use maud::{Markup, html};

use crate::app::HourCount;

const W: f64 = 720.0;
const H: f64 = 160.0;
const PAD: f64 = 22.0;

/// Stacked bars per hour: successes below, failures above.
pub(crate) fn hourly(hours: &[HourCount], label: &str) -> Markup {
    let most = hours.iter().map(|h| h.successes + h.failures).max().unwrap_or(0).max(1) as f64;
    let n = hours.len().max(1) as f64;
    let step = (W - 2.0 * PAD) / n;
    html! {
        svg.chart viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(label) {
            title { (label) }
            @for (i, HourCount { at: hour, successes: ok, failures: bad }) in hours.iter().enumerate() {
                @let x = PAD + i as f64 * step;
                @let h_ok = (*ok as f64 / most) * (H - 2.0 * PAD);
                @let h_bad = (*bad as f64 / most) * (H - 2.0 * PAD);
                rect.ok x=(format!("{x:.1}")) y=(format!("{:.1}", H - PAD - h_ok)) width=(format!("{:.1}", (step - 2.0).max(1.0))) height=(format!("{h_ok:.1}")) {
                    title { (hour.format("%H:00")) ": " (ok) " ok, " (bad) " failed" }
                }
                rect.bad x=(format!("{x:.1}")) y=(format!("{:.1}", H - PAD - h_ok - h_bad)) width=(format!("{:.1}", (step - 2.0).max(1.0))) height=(format!("{h_bad:.1}")) {}
                @if i % 4 == 0 {
                    text.axis x=(format!("{x:.1}")) y=(format!("{:.1}", H - 6.0)) { (hour.format("%H:00")) }
                }
            }
            text.axis x="4" y="14" { "max " (most as i64) }
        }
    }
}

/// One bar per run (oldest left): its duration, red when it failed.
pub(crate) fn durations(runs: &[(f64, bool)], label: &str) -> Markup {
    let most = runs.iter().map(|(d, _)| *d).fold(0.0, f64::max).max(1e-6);
    let n = runs.len().max(1) as f64;
    let step = (W - 2.0 * PAD) / n;
    html! {
        svg.chart viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(label) {
            title { (label) }
            @for (i, (d, ok)) in runs.iter().enumerate() {
                @let h = (d / most) * (H - 2.0 * PAD);
                rect class=(if *ok { "ok" } else { "bad" }) x=(format!("{:.1}", PAD + i as f64 * step)) y=(format!("{:.1}", H - PAD - h)) width=(format!("{:.1}", (step - 2.0).max(1.0))) height=(format!("{h:.1}")) {}
            }
            text.axis x="4" y="14" { "max " (super::layout::seconds(most)) }
        }
    }
}
