//! Request and response bodies of the HTTP APIs (JSON), shared by each service and its
//! callers, plus the pieces of HTTP semantics they agree on: problem details and ETags.

pub mod character;
pub mod manager;
pub mod problem;
pub mod quest;
#[cfg(feature = "openapi")]
mod schema;
pub mod zone;

pub use problem::Problem;

/// The `ETag` (and `If-Match`) value for a version: the number in double quotes.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` header names: `"<n>"`, or `W/"<n>"` (weak tags compare equal
/// here, since versions identify whole representations). `None` when it names no version.
pub fn parse_if_match(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    inner.parse().ok()
}

/// The bearer token in an `Authorization` header value, if it is one.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_parsing() {
        assert_eq!(parse_if_match(&etag(42)), Some(42));
        assert_eq!(parse_if_match("W/\"7\""), Some(7));
        for bad in [
            "42",
            "\"\"",
            "\"-1\"",
            "\"4x\"",
            "*",
            "\"99999999999999999999999\"",
        ] {
            assert_eq!(parse_if_match(bad), None, "{bad}");
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("bearer  abc "), Some("abc"));
        assert_eq!(parse_bearer("Basic abc"), None);
        assert_eq!(parse_bearer("Bearer "), None);
    }
}
