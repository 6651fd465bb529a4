//! Schedule specs: parsing a config's `schedule_config` and computing fire
//! times. Pure: no clock reads, no I/O.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde_json::Value;
use std::str::FromStr;

use crate::contract::job::{Job, SchedulerType};

/// When a config fires by itself.
#[derive(Debug, Clone)]
pub enum ScheduleSpec {
    Cron {
        cron: Box<Cron>,
        timezone: Tz,
        /// Each tick is delayed by a pseudo-random amount below this (ms),
        /// the same in every process: see [`jitter_of`].
        jitter_ms: u64,
        /// What the delay of a tick is computed from besides the tick (the
        /// config's id), so configs on one cron spread apart.
        salt: u64,
    },
    Date(DateTime<Utc>),
    Manual,
}

/// A `schedule_config` that cannot be used; names the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("schedule_config.{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> SpecError {
    SpecError { field: field.to_owned(), message: message.into() }
}

/// The longest cron expression accepted (the longest sensible one is far
/// shorter; a refusal never echoes more than this).
const MAX_CRON: usize = 256;

const SPLIT_FIELDS: [&str; 6] = ["second", "minute", "hour", "day", "month", "day_of_week"];

impl ScheduleSpec {
    /// The spec of a job's schedule.
    pub fn of(job: &Job) -> Result<Self, SpecError> {
        Self::parse(job.scheduler_type, &job.schedule_config)
            .map(|spec| spec.salted(job.config_id.as_u64_pair().0))
    }

    /// The spec whose jitter is drawn for the config `salt` names.
    pub fn salted(self, salt: u64) -> Self {
        match self {
            ScheduleSpec::Cron { cron, timezone, jitter_ms, .. } => {
                ScheduleSpec::Cron { cron, timezone, jitter_ms, salt }
            }
            other => other,
        }
    }

    /// Parses `config` for `scheduler_type`. Unknown keys are errors.
    pub fn parse(scheduler_type: SchedulerType, config: &Value) -> Result<Self, SpecError> {
        let empty = serde_json::Map::new();
        let map = match config {
            Value::Object(map) => map,
            Value::Null => &empty,
            _ => return Err(err("", "must be a JSON object")),
        };
        let allowed: &[&str] = match scheduler_type {
            SchedulerType::Cron => &[
                "cron_expression",
                "timezone",
                "jitter_seconds",
                "second",
                "minute",
                "hour",
                "day",
                "month",
                "day_of_week",
            ],
            SchedulerType::Date => &["run_date"],
            SchedulerType::Manual => &[],
        };
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(err(key, format!("unknown field for a {scheduler_type} schedule")));
        }
        match scheduler_type {
            SchedulerType::Manual => Ok(ScheduleSpec::Manual),
            SchedulerType::Date => {
                let text = map.get("run_date").ok_or_else(|| err("run_date", "is required"))?;
                let text = text.as_str().ok_or_else(|| err("run_date", "must be an RFC 3339 string"))?;
                let at = DateTime::parse_from_rfc3339(text)
                    .map_err(|e| err("run_date", format!("{text:?} is not an RFC 3339 time: {e}")))?;
                Ok(ScheduleSpec::Date(at.with_timezone(&Utc)))
            }
            SchedulerType::Cron => {
                let timezone = match map.get("timezone") {
                    None => Tz::UTC,
                    Some(Value::String(name)) => Tz::from_str(name)
                        .map_err(|_| err("timezone", format!("unknown IANA time zone {name:?}")))?,
                    Some(_) => return Err(err("timezone", "must be a string")),
                };
                let jitter_ms = match map.get("jitter_seconds") {
                    None => 0,
                    Some(v) => match v.as_f64() {
                        Some(j) if (0.0..=MAX_JITTER_SECONDS).contains(&j) => (j * 1000.0).round() as u64,
                        _ => {
                            return Err(err(
                                "jitter_seconds",
                                format!("must be a number of seconds from 0 to {MAX_JITTER_SECONDS}"),
                            ));
                        }
                    },
                };
                let (field, expression) = cron_expression(map)?;
                if expression.chars().count() > MAX_CRON {
                    return Err(err(field, format!("is longer than {MAX_CRON} characters")));
                }
                let cron = Cron::from_str(&expression)
                    .map_err(|e| err(field, format!("invalid cron expression {expression:?}: {e}")))?;
                Ok(ScheduleSpec::Cron { cron: Box::new(cron), timezone, jitter_ms, salt: 0 })
            }
        }
    }

    /// The first fire time after `after`, if any: the first tick strictly
    /// after it, delayed by its jitter.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            ScheduleSpec::Cron { jitter_ms, salt, .. } => {
                let tick = self.tick_after(after)?;
                Some(tick + chrono::Duration::milliseconds(jitter_of(*salt, tick, *jitter_ms) as i64))
            }
            ScheduleSpec::Date(at) => (*at > after).then_some(*at),
            ScheduleSpec::Manual => None,
        }
    }

    /// The first fire time for a schedule registered at `now`. A date in the
    /// past is still returned: it is due at once (misfire rules apply).
    pub fn first_fire(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            ScheduleSpec::Date(at) => Some(*at),
            _ => self.next_after(now),
        }
    }

    pub fn is_recurring(&self) -> bool {
        matches!(self, ScheduleSpec::Cron { .. })
    }

    /// The fire times (each tick delayed by its jitter, as the schedule
    /// fires it) of the cron ticks in `[from, to)`, oldest first. More
    /// than `limit` is `Err` with how many there are, counted up to
    /// [`COUNT_CAP`] (where counting stops).
    pub fn fires_in(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DateTime<Utc>>, usize> {
        let ScheduleSpec::Cron { jitter_ms, salt, .. } = self else { return Ok(Vec::new()) };
        let mut fires = Vec::new();
        // Ticks are whole seconds at the finest: a millisecond before
        // `from` makes a tick at `from` count.
        let mut at = from - chrono::Duration::milliseconds(1);
        let mut count = 0;
        while let Some(tick) = self.tick_after(at).filter(|t| *t < to) {
            count += 1;
            if count > limit {
                if count >= COUNT_CAP {
                    break;
                }
            } else {
                fires.push(tick + chrono::Duration::milliseconds(jitter_of(*salt, tick, *jitter_ms) as i64));
            }
            at = tick;
        }
        if count > limit { Err(count) } else { Ok(fires) }
    }

    /// The first cron tick strictly after `after`, without jitter.
    fn tick_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let ScheduleSpec::Cron { cron, timezone, .. } = self else { return None };
        let local = after.with_timezone(timezone);
        cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The jitter bound (zero without one).
    pub fn jitter(&self) -> std::time::Duration {
        match self {
            ScheduleSpec::Cron { jitter_ms, .. } => std::time::Duration::from_millis(*jitter_ms),
            _ => std::time::Duration::ZERO,
        }
    }

    /// The shortest time between two of the next [`GAP_SAMPLE`] ticks after
    /// `from`: a jitter must stay below it, or a delayed tick would pass
    /// the next one.
    pub fn shortest_gap(&self, from: DateTime<Utc>) -> Option<std::time::Duration> {
        let mut ticks = Vec::with_capacity(GAP_SAMPLE);
        let mut at = from;
        while ticks.len() < GAP_SAMPLE {
            at = self.tick_after(at)?;
            ticks.push(at);
        }
        ticks.windows(2).filter_map(|w| (w[1] - w[0]).to_std().ok()).min()
    }
}

/// The longest jitter accepted: a day.
const MAX_JITTER_SECONDS: f64 = 86_400.0;
/// Where [`ScheduleSpec::fires_in`] stops counting.
pub const COUNT_CAP: usize = 1_000_000;
/// How many ticks [`ScheduleSpec::shortest_gap`] looks at.
const GAP_SAMPLE: usize = 16;

/// The delay (ms, below `bound_ms`) of the tick at `tick` of the config
/// `salt` names: a hash of both (SplitMix64, fixed constants), so every
/// scheduler computes the same delay and a tick still fires exactly once.
pub fn jitter_of(salt: u64, tick: DateTime<Utc>, bound_ms: u64) -> u64 {
    if bound_ms == 0 {
        return 0;
    }
    let mut z = salt ^ (tick.timestamp_millis() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % bound_ms
}

/// The cron expression: `cron_expression`, or built from the seed's split
/// fields (missing ones are `*`; `second` defaults to `0`).
fn cron_expression(map: &serde_json::Map<String, Value>) -> Result<(&'static str, String), SpecError> {
    let split: Vec<&str> = SPLIT_FIELDS.iter().copied().filter(|f| map.contains_key(*f)).collect();
    match (map.get("cron_expression"), split.is_empty()) {
        (Some(_), false) => {
            Err(err("cron_expression", "give either cron_expression or the split fields, not both"))
        }
        (Some(Value::String(expr)), true) => {
            if expr.chars().count() > MAX_CRON {
                return Err(err("cron_expression", format!("is longer than {MAX_CRON} characters")));
            }
            let fields = expr.split_whitespace().count();
            if !(5..=6).contains(&fields) {
                return Err(err(
                    "cron_expression",
                    format!("{expr:?} has {fields} fields; expected 5 (minute…) or 6 (second minute…)"),
                ));
            }
            Ok(("cron_expression", expr.clone()))
        }
        (Some(_), true) => Err(err("cron_expression", "must be a string")),
        (None, true) => Err(err("cron_expression", "is required (or the split fields minute, hour, …)")),
        (None, false) => {
            let mut parts = Vec::new();
            for field in SPLIT_FIELDS {
                let part = match map.get(field) {
                    None if field == "second" => "0".to_owned(),
                    None => "*".to_owned(),
                    Some(Value::String(s)) if !s.trim().is_empty() && !s.contains(char::is_whitespace) => {
                        s.clone()
                    }
                    Some(Value::Number(n)) => n.to_string(),
                    Some(_) => return Err(err(field, "must be a cron field such as \"*/5\" or a number")),
                };
                parts.push(part);
            }
            Ok(("minute", parts.join(" ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cron(config: Value) -> ScheduleSpec {
        ScheduleSpec::parse(SchedulerType::Cron, &config).unwrap()
    }

    #[test]
    fn five_fields_fire_on_the_minute() {
        let spec = cron(json!({"cron_expression": "*/5 * * * *"}));
        assert_eq!(spec.next_after(at("2026-03-01T10:02:30Z")), Some(at("2026-03-01T10:05:00Z")));
    }

    #[test]
    fn six_fields_have_seconds() {
        let spec = cron(json!({"cron_expression": "*/10 * * * * *"}));
        assert_eq!(spec.next_after(at("2026-03-01T10:02:30Z")), Some(at("2026-03-01T10:02:40Z")));
        let every = cron(json!({"cron_expression": "* * * * * *"}));
        assert_eq!(every.next_after(at("2026-03-01T10:02:30.5Z")), Some(at("2026-03-01T10:02:31Z")));
    }

    #[test]
    fn weekdays_are_posix_monday_is_one() {
        let spec = cron(json!({"cron_expression": "0 9 * * 1"}));
        // 2026-03-01 is a Sunday.
        assert_eq!(spec.next_after(at("2026-03-01T00:00:00Z")), Some(at("2026-03-02T09:00:00Z")));
    }

    #[test]
    fn split_fields_build_an_expression() {
        let spec = cron(json!({"minute": "30", "hour": 2}));
        assert_eq!(spec.next_after(at("2026-03-01T00:00:00Z")), Some(at("2026-03-01T02:30:00Z")));
    }

    /// Ticks over both clock changes of a named time zone: every real
    /// hour once (25 on the day the clocks go back, 23 on the day they go
    /// forward), oldest first.
    #[test]
    fn ticks_in_a_window_follow_the_clock_changes() {
        let hourly = cron(json!({"cron_expression": "0 * * * *", "timezone": "Europe/Berlin"}));
        let back = hourly.fires_in(at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z"), 100).unwrap();
        assert_eq!(back.len(), 25, "{back:?}");
        assert!(back.windows(2).all(|w| w[1] - w[0] == chrono::Duration::hours(1)), "{back:?}");
        let forward = hourly.fires_in(at("2026-03-28T23:00:00Z"), at("2026-03-29T22:00:00Z"), 100).unwrap();
        assert_eq!(forward.len(), 23, "{forward:?}");
        assert_eq!(forward[0], at("2026-03-28T23:00:00Z"), "a tick at `from` is in the window");
        assert!(forward.iter().all(|t| *t < at("2026-03-29T22:00:00Z")), "`to` is not");
    }

    #[test]
    fn a_window_with_too_many_ticks_says_how_many() {
        let minutely = cron(json!({"cron_expression": "* * * * *"}));
        let day = (at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z"));
        assert_eq!(minutely.fires_in(day.0, day.1, 10_000).unwrap().len(), 1440);
        assert_eq!(minutely.fires_in(day.0, day.1, 1000), Err(1440));
        let daily = cron(json!({"cron_expression": "0 0 * * *"}));
        assert_eq!(daily.fires_in(day.1, day.0, 10).unwrap(), Vec::<DateTime<Utc>>::new(), "an empty window");
    }

    #[test]
    fn a_timezone_shifts_the_schedule() {
        let spec = cron(json!({"cron_expression": "0 9 * * *", "timezone": "Europe/Berlin"}));
        assert_eq!(spec.next_after(at("2026-01-10T00:00:00Z")), Some(at("2026-01-10T08:00:00Z")));
        assert_eq!(spec.next_after(at("2026-07-10T00:00:00Z")), Some(at("2026-07-10T07:00:00Z")));
    }

    #[test]
    fn daily_runs_stay_at_local_time_across_a_dst_change() {
        // New York springs forward on 2026-03-08 (02:00 → 03:00).
        let spec = cron(json!({"cron_expression": "30 1 * * *", "timezone": "America/New_York"}));
        let before = spec.next_after(at("2026-03-07T12:00:00Z")).unwrap();
        let after = spec.next_after(before).unwrap();
        assert_eq!(before, at("2026-03-08T06:30:00Z")); // 01:30 EST
        assert_eq!(after, at("2026-03-09T05:30:00Z")); // 01:30 EDT: 23 hours later
    }

    #[test]
    fn a_time_skipped_by_dst_is_not_fired_twice_nor_lost_forever() {
        // 02:30 does not exist on 2026-03-08 in New York.
        let spec = cron(json!({"cron_expression": "30 2 * * *", "timezone": "America/New_York"}));
        let first = spec.next_after(at("2026-03-07T12:00:00Z")).unwrap();
        let second = spec.next_after(first).unwrap();
        assert!(first < second);
        assert_eq!(second, at("2026-03-09T06:30:00Z"));
    }

    #[test]
    fn dates_fire_once() {
        let spec =
            ScheduleSpec::parse(SchedulerType::Date, &json!({"run_date": "2026-05-01T12:00:00+02:00"}))
                .unwrap();
        assert_eq!(spec.first_fire(at("2026-06-01T00:00:00Z")), Some(at("2026-05-01T10:00:00Z")));
        assert_eq!(spec.next_after(at("2026-05-01T10:00:00Z")), None);
    }

    #[test]
    fn jitter_delays_each_tick_the_same_way_everywhere_and_below_its_bound() {
        let spec = |salt| cron(json!({"cron_expression": "* * * * *", "jitter_seconds": 30})).salted(salt);
        let from = at("2026-03-01T10:00:30Z");
        let (a, b) = (spec(7).next_after(from).unwrap(), spec(7).next_after(from).unwrap());
        assert_eq!(a, b, "the same config and tick: the same delay");
        let mut delays = std::collections::BTreeSet::new();
        for salt in 0..50 {
            let t = spec(salt).next_after(from).unwrap();
            let delay = (t - at("2026-03-01T10:01:00Z")).num_milliseconds();
            assert!((0..30_000).contains(&delay), "{delay} ms");
            delays.insert(delay);
        }
        assert!(delays.len() > 40, "configs spread apart: {delays:?}");
        // The next tick after a delayed one is the following minute's.
        let next = spec(7).next_after(a).unwrap();
        assert!(next >= at("2026-03-01T10:02:00Z") && next < at("2026-03-01T10:02:30Z"));
        assert_eq!(spec(7).shortest_gap(from), Some(std::time::Duration::from_secs(60)));
    }

    #[test]
    fn bad_configs_name_the_field() {
        let bad = |t, v: Value| ScheduleSpec::parse(t, &v).unwrap_err().field;
        assert_eq!(bad(SchedulerType::Cron, json!({"cron_expression": "61 * * * *"})), "cron_expression");
        assert_eq!(bad(SchedulerType::Cron, json!({"cron_expression": "* * *"})), "cron_expression");
        assert_eq!(bad(SchedulerType::Cron, json!({})), "cron_expression");
        assert_eq!(
            bad(SchedulerType::Cron, json!({"cron_expression": "* * * * *", "timezone": "Mars/Base"})),
            "timezone"
        );
        assert_eq!(bad(SchedulerType::Cron, json!({"cron_expression": "* * * * *", "every": 5})), "every");
        assert_eq!(bad(SchedulerType::Date, json!({"run_date": "tomorrow"})), "run_date");
        assert_eq!(
            bad(SchedulerType::Cron, json!({"cron_expression": "* * * * *", "jitter_seconds": -1})),
            "jitter_seconds"
        );
        assert_eq!(bad(SchedulerType::Manual, json!({"run_date": "2026-01-01T00:00:00Z"})), "run_date");
    }
}
