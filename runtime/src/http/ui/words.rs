//! A schedule in words, for people: the common cron shapes said plainly,
//! anything else as written.

use serde_json::Value;

use crate::contract::job::SchedulerType;

/// `schedule_config` of a `scheduler_type`, in words.
pub(crate) fn schedule(kind: SchedulerType, config: &Value) -> String {
    match kind {
        SchedulerType::Manual => "by hand only".into(),
        SchedulerType::Date => match config.get("run_date").and_then(Value::as_str) {
            Some(at) => format!("once, at {at}"),
            None => "once".into(),
        },
        SchedulerType::Cron => {
            let expr = config.get("cron_expression").and_then(Value::as_str).unwrap_or("");
            let zone = config.get("timezone").and_then(Value::as_str).unwrap_or("UTC");
            let jitter =
                config.get("jitter_seconds").and_then(Value::as_f64).map(|j| format!(", up to {j} s late"));
            let said = cron(expr).unwrap_or_else(|| format!("cron {expr}"));
            format!("{said} ({zone}){}", jitter.unwrap_or_default())
        }
    }
}

/// The common shapes of a 5- or 6-field cron expression.
fn cron(expr: &str) -> Option<String> {
    let f: Vec<&str> = expr.split_whitespace().collect();
    let (sec, rest) = match f.len() {
        6 => (f[0], &f[1..]),
        5 => ("0", &f[..]),
        _ => return None,
    };
    let every = |part: &str| part.strip_prefix("*/").and_then(|n| n.parse::<u32>().ok());
    match (sec, rest) {
        ("*", ["*", "*", "*", "*", "*"]) => Some("every second".into()),
        (s, ["*", "*", "*", "*", "*"]) if every(s).is_some() => Some(format!("every {} seconds", every(s)?)),
        ("0", [m, "*", "*", "*", "*"]) if every(m).is_some() => Some(format!("every {} minutes", every(m)?)),
        ("0", ["*", "*", "*", "*", "*"]) => Some("every minute".into()),
        ("0", [m, "*", "*", "*", "*"]) if m.parse::<u32>().is_ok() => Some(format!("hourly at :{m:0>2}")),
        ("0", [m, h, "*", "*", "*"]) if m.parse::<u32>().is_ok() && h.parse::<u32>().is_ok() => {
            Some(format!("daily at {h:0>2}:{m:0>2}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_shapes_are_said_plainly() {
        assert_eq!(cron("*/10 * * * * *").as_deref(), Some("every 10 seconds"));
        assert_eq!(cron("*/5 * * * *").as_deref(), Some("every 5 minutes"));
        assert_eq!(cron("30 2 * * *").as_deref(), Some("daily at 02:30"));
        assert_eq!(cron("0 9 * * 1"), None);
    }
}
