//! The one place an error becomes an `application/problem+json` response (RFC 9457).
//!
//! Services keep their own error enums for their domain failures; each enum's
//! `ResponseError::error_response` describes itself as a [`ProblemResponse`] and lets it
//! build the answer, so content type, body, the `401` challenge and the metrics label are
//! the same everywhere.

use std::borrow::Cow;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use protocol::http::Problem;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;

/// The problem `type` slug of a response, left in its extensions so the request metrics
/// can count problems by kind without parsing bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType(pub &'static str);

/// A problem answer being built: status, kind, text, and any headers it needs.
#[derive(Debug, Clone)]
pub struct ProblemResponse {
    status: StatusCode,
    slug: &'static str,
    title: Cow<'static, str>,
    detail: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ProblemResponse {
    /// A problem of kind `slug` (its `type` is `urn:zone-cluster:problem:<slug>`).
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title: title.into(),
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// A problem whose title is the status's reason phrase ("Not Found", ...).
    pub fn with_reason_title(
        status: StatusCode,
        slug: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(
            status,
            slug,
            status.canonical_reason().unwrap_or("Error"),
            detail,
        )
    }

    /// Adds a header (`Allow`, `Retry-After`, `ETag`, ...).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn problem(&self) -> Problem {
        Problem::new(
            self.status.as_u16(),
            self.slug,
            self.title.clone(),
            self.detail.clone(),
        )
    }

    /// The response. A `401` always carries `WWW-Authenticate: Bearer`: every service's
    /// credentials are bearer tokens, and RFC 9110 wants the challenge on every 401.
    pub fn finish(self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        ));
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        for (name, value) in &self.headers {
            res.insert_header((name.clone(), value.clone()));
        }
        res.extensions_mut().insert(ProblemType(self.slug));
        // A struct of strings and a number always serializes.
        res.body(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody as _;

    #[test]
    fn a_problem_response_is_problem_json_with_its_headers() {
        let res = ProblemResponse::new(StatusCode::UNAUTHORIZED, "unauthorized", "No", "why")
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .finish();
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_CONTENT_TYPE
        );
        assert_eq!(
            res.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert_eq!(
            res.extensions().get::<ProblemType>(),
            Some(&ProblemType("unauthorized"))
        );
        let body = res.into_body().try_into_bytes().unwrap();
        let p: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            p,
            Problem::new(401, "unauthorized", "No", "why"),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}
