//! Every way a request can fail in this service's own logic, and how each failure looks on
//! the wire: an RFC 9457 problem (`application/problem+json` with `type`, `title`,
//! `status`, `detail`), built by [`service_kit::problem`].
//!
//! Handlers return `Result<_, ApiError>`. The framework's own failures (bad JSON, an
//! oversized body, an unknown route, a wrong method, a missing token) are
//! [`service_kit::framework::FrameworkError`]s, answered the same way.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use protocol::http::Problem;
use service_kit::problem::ProblemResponse;

/// Why a request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be used: a malformed id or header. The text says what was
    /// wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The body was well-formed but breaks the character rules (one entry per rule).
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// No such character.
    #[error("{0}")]
    NotFound(String),
    /// Another character already has this name (compared case-insensitively).
    #[error("the name {0:?} is taken")]
    NameTaken(String),
    /// `If-Match` named a version that is no longer the current one.
    #[error("If-Match names version {sent}, but the current version is {current}")]
    Stale {
        /// The version the client named.
        sent: u64,
        /// The version stored now.
        current: u64,
    },
    /// A write came without the `If-Match` version it must be conditional on.
    #[error("{0}")]
    PreconditionRequired(String),
    /// The service cannot take this request now (shutting down, storage failed, the
    /// database unreachable); retrying later, possibly elsewhere, may work.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of this service; the details are logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The problem `type` slug and `title` for this kind of failure.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Malformed request"),
            Self::Invalid(_) => ("invalid-character", "Invalid character"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::NameTaken(_) => ("name-taken", "Name taken"),
            Self::Stale { .. } => ("stale-version", "Stale version"),
            Self::PreconditionRequired(_) => ("precondition-required", "If-Match required"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The problem answer for this error, with the headers its kind needs.
    fn problem_response(&self) -> ProblemResponse {
        let (slug, title) = self.kind();
        let detail = match self {
            // Internal details can name files and sled internals: they go to the log only.
            Self::Internal(_) => "the service failed to handle the request; see its log".to_owned(),
            other => other.to_string(),
        };
        let res = ProblemResponse::new(self.status_code(), slug, title, detail);
        match self {
            // Lets a writer that wants to overwrite anyway see what it would replace.
            Self::Stale { current, .. } => {
                match HeaderValue::from_str(&protocol::http::etag(*current)) {
                    Ok(etag) => res.header(header::ETAG, etag),
                    Err(_) => res,
                }
            }
            Self::Unavailable(_) => res.header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            _ => res,
        }
    }

    /// The problem body this error is answered with.
    pub fn problem(&self) -> Problem {
        self.problem_response().problem()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NameTaken(_) => StatusCode::CONFLICT,
            Self::Stale { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        self.problem_response().finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_details() {
        let p = ApiError::Internal("/secret/path: EIO".into()).problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.unwrap().contains("secret"));
    }

    #[test]
    fn every_kind_has_its_status_in_the_body() {
        let all = [
            ApiError::BadRequest("x".into()),
            ApiError::Invalid(vec!["a".into(), "b".into()]),
            ApiError::NotFound("x".into()),
            ApiError::NameTaken("x".into()),
            ApiError::Stale {
                sent: 1,
                current: 2,
            },
            ApiError::PreconditionRequired("x".into()),
            ApiError::Unavailable("x".into()),
        ];
        for e in all {
            let p = e.problem();
            assert_eq!(p.status, e.status_code().as_u16());
            assert!(p.problem_type.starts_with("urn:zone-cluster:problem:"));
            assert!(p.detail.is_some_and(|d| !d.is_empty()));
        }
    }
}
