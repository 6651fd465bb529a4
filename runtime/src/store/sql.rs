//! The config store's SQL that both databases share; so far the one LIKE
//! escape of the name filter (queries say `ESCAPE '\'` on both).
//!
//! It never runs a query and never holds what one database does its own
//! way: `postgres.rs` and `sqlite.rs` do.

/// The LIKE pattern of the names that contain `part`, with `\`, `%` and
/// `_` escaped by `\` (queries say `ESCAPE '\'`), so each matches itself.
pub(super) fn containing(part: &str) -> String {
    let mut pattern = String::with_capacity(part.len() + 2);
    pattern.push('%');
    for c in part.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
