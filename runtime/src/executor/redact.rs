//! Redaction of a run's secrets (DESIGN §9, the third door): every granted
//! secret's value becomes `[redacted:NAME]` in everything the run leaves
//! behind (logs, result, error message) — as written, percent-encoded, and
//! for a value that is a URL its shorter forms too (without its fragment,
//! without its query, its path, its query), each also as JSON would
//! escape it.
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
            for form in forms(value) {
                // Inside a JSON string the form may appear escaped.
                let escaped = serde_json::to_string(&form).expect("a string serialises");
                let escaped = &escaped[1..escaped.len() - 1];
                if escaped != form {
                    pairs.push((escaped.to_owned(), marker.clone()));
                }
                pairs.push((form, marker.clone()));
            }
        }
        pairs.sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        pairs.dedup_by(|a, b| a.0 == b.0);
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

/// Parts of a value shorter than this are not hidden on their own (they
/// would hide ordinary text): the value itself always is.
const MIN_PART: usize = 8;

/// The forms of `value` a run may leave behind: itself, percent-encoded,
/// and, for a URL, without its fragment, without its query, its path and
/// its query.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let encoded = percent_encoded(value);
    if encoded != value {
        out.push(encoded);
    }
    if let Some((_, rest)) = value.split_once("://") {
        let without_fragment = value.split('#').next().unwrap_or(value);
        let without_query = without_fragment.split('?').next().unwrap_or(without_fragment);
        let path = rest.find('/').map(|at| &rest[at..]).unwrap_or("");
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let query = without_fragment.split_once('?').map(|(_, q)| q).unwrap_or("");
        for part in [without_fragment, without_query, path, query] {
            if part.len() >= MIN_PART && part != value {
                out.push(part.to_owned());
            }
        }
    }
    out
}

/// `value` with every byte but the unreserved ones as `%XX`.
fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    fn replaces_a_urls_shorter_forms_and_its_percent_encoding() {
        let red = r(&[("HOOK", "https://hooks.example.com/services/T1/B2/XsecretX?x=tokenvalue#frag")]);
        for form in [
            "https://hooks.example.com/services/T1/B2/XsecretX?x=tokenvalue",
            "https://hooks.example.com/services/T1/B2/XsecretX",
            "/services/T1/B2/XsecretX",
            "x=tokenvalue",
            "https%3A%2F%2Fhooks.example.com%2Fservices%2FT1%2FB2%2FXsecretX%3Fx%3Dtokenvalue%23frag",
        ] {
            assert_eq!(red.apply(&format!("a {form} b")), "a [redacted:HOOK] b", "{form}");
        }
    }

    #[test]
    fn leaves_text_alone_without_secrets_and_skips_empty_values() {
        let red = r(&[("E", "")]);
        assert!(red.is_empty());
        assert_eq!(red.apply("héllo"), "héllo");
    }
}
