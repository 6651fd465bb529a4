//! Redaction of a run's secrets (DESIGN §9, the third door): every granted
//! secret's value, as written and as JSON would escape it, becomes
//! `[redacted:NAME]` in everything the run leaves behind (logs, result,
//! error message).
//!
//! Owns that replacement only. It cannot see a secret the guest has
//! transformed (encoded, split, reversed): redaction keeps an honest
//! plugin's mistakes out of the records; the threat model in the book (`docs/src/security/threat-model.md`) says
//! what it does not do.

/// The values to hide, longest first (so a secret that contains another is
/// replaced whole), with the names that replace them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    pairs: Vec<(String, String)>,
}

impl Redactor {
    pub(crate) fn new(secrets: &[(String, String)]) -> Self {
        let mut pairs = Vec::new();
        for (name, value) in secrets {
            if value.is_empty() {
                continue;
            }
            let marker = format!("[redacted:{name}]");
            // Inside a JSON string the value may appear escaped.
            let escaped = serde_json::to_string(value).expect("a string serialises");
            let escaped = &escaped[1..escaped.len() - 1];
            if escaped != value {
                pairs.push((escaped.to_owned(), marker.clone()));
            }
            pairs.push((value.clone(), marker));
        }
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        Self { pairs }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The longest value hidden, in bytes: how much a bounded capture must
    /// keep beyond its bound so a value cut at the bound is still found.
    pub(crate) fn longest(&self) -> usize {
        self.pairs.first().map_or(0, |(v, _)| v.len())
    }

    /// `text` with every value replaced, in one pass from left to right.
    pub(crate) fn apply(&self, text: &str) -> String {
        if self.pairs.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while !rest.is_empty() {
            for (value, marker) in &self.pairs {
                if rest.starts_with(value.as_str()) {
                    out.push_str(marker);
                    rest = &rest[value.len()..];
                    continue 'scan;
                }
            }
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(secrets: &[(&str, &str)]) -> Redactor {
        Redactor::new(&secrets.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn replaces_every_occurrence_longest_first() {
        let red = r(&[("A", "abc"), ("B", "abcdef")]);
        assert_eq!(red.apply("x abcdef abc abcabc"), "x [redacted:B] [redacted:A] [redacted:A][redacted:A]");
    }

    #[test]
    fn replaces_the_json_escaped_form_too() {
        let red = r(&[("Q", "a\"b\\c")]);
        assert_eq!(red.apply(r#"{"v":"a\"b\\c"} a"b\c"#), r#"{"v":"[redacted:Q]"} [redacted:Q]"#);
    }

    #[test]
    fn leaves_text_alone_without_secrets_and_skips_empty_values() {
        let red = r(&[("E", "")]);
        assert!(red.is_empty());
        assert_eq!(red.apply("héllo"), "héllo");
    }
}
