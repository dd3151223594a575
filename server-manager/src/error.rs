//! Every way an HTTP request can fail, and how each failure looks on the wire: an RFC 9457
//! problem (`application/problem+json`, built by [`service_kit::problem`]). Handlers
//! return `Result<_, ApiError>`; the framework's own failures (bad JSON, an oversized body,
//! an unknown route, a wrong method) are [`FrameworkError`]s, answered the same way, so no
//! 4xx or 5xx answer of the manager has another shape.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use protocol::http::Problem;
use service_kit::framework::FrameworkError;
use service_kit::problem::ProblemResponse;

/// Why a request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read (malformed JSON, id or path).
    #[error("{0}")]
    BadRequest(String),
    /// No valid token (join: the player's JWT; operator API: the admin token).
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but does not allow this (a character of another account).
    #[error("{0}")]
    Forbidden(String),
    /// The character, zone or area does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A body that is not a JSON object of the expected shape, declared as JSON.
    #[error(transparent)]
    Body(#[from] FrameworkError),
    /// The request conflicts with the current state (e.g. draining an idle zone).
    #[error("{0}")]
    Conflict(String),
    /// No idle zone is left; retry after the given time (the pool may grow).
    #[error("no idle zone is left to allocate")]
    NoIdleZone {
        /// The `Retry-After`.
        retry_after: Duration,
    },
    /// A zone failed or did not answer; retrying may work.
    #[error("{detail}")]
    ZoneUnavailable {
        /// What happened.
        detail: String,
        /// The `Retry-After`.
        retry_after: Duration,
    },
    /// character-api failed or did not answer.
    #[error("{0}")]
    Upstream(String),
    /// The manager cannot serve this now (NATS down, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the manager; details are logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The problem `type` slug and `title`.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Malformed request"),
            Self::Unauthorized(_) => ("unauthorized", "Missing or invalid token"),
            Self::Forbidden(_) => ("forbidden", "Not allowed"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::Conflict(_) => ("conflict", "Conflict with the current state"),
            Self::Body(e) => (e.slug(), "Unusable body"),
            Self::NoIdleZone { .. } => ("no-idle-zone", "No idle zone"),
            Self::ZoneUnavailable { .. } => ("zone-unavailable", "Zone unavailable"),
            Self::Upstream(_) => ("upstream", "character-api unavailable"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The failure reason label for join metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Body(_) => "bad_request",
            Self::Conflict(_) => "conflict",
            Self::NoIdleZone { .. } => "no_idle_zone",
            Self::ZoneUnavailable { .. } => "zone",
            Self::Upstream(_) => "upstream",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The problem answer, with the headers its kind needs.
    fn problem_response(&self) -> ProblemResponse {
        let (slug, title) = self.kind();
        let detail = match self {
            Self::Internal(_) => "the manager failed; the details are in its log".to_owned(),
            other => other.to_string(),
        };
        let res = ProblemResponse::new(self.status_code(), slug, title, detail);
        match self {
            Self::NoIdleZone { retry_after } | Self::ZoneUnavailable { retry_after, .. } => {
                let secs = retry_after.as_secs().max(1);
                res.header(header::RETRY_AFTER, HeaderValue::from(secs))
            }
            _ => res,
        }
    }

    /// The problem body.
    pub fn problem(&self) -> Problem {
        self.problem_response().problem()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Body(e) => e.status_code(),
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::NoIdleZone { .. } | Self::ZoneUnavailable { .. } | Self::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            tracing::error!("internal error: {detail}");
        }
        self.problem_response().finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn problems_carry_their_headers() {
        let e = ApiError::NoIdleZone {
            retry_after: Duration::from_secs(2),
        };
        let res = e.error_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers().get("retry-after").unwrap(), "2");
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            protocol::http::problem::PROBLEM_CONTENT_TYPE
        );
        let body = res.into_body().try_into_bytes().unwrap();
        let p: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(p.status, 503);
        assert_eq!(p.problem_type, "urn:zone-cluster:problem:no-idle-zone");
        let res = ApiError::Unauthorized("x".into()).error_response();
        assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
    }
}
