//! `ApiError`: every way a request can fail in this service's own logic, each answered as
//! RFC 9457 problem details (`application/problem+json`, built by
//! [`service_kit::problem`]) so callers can tell failures apart by `type` and people can
//! read `detail`. The framework's own failures (bad JSON, an oversized body, an unknown
//! route, a wrong method, a missing token) are
//! [`service_kit::framework::FrameworkError`]s, answered the same way.

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use protocol::http::Problem;
use service_kit::commit::CommitError;
use service_kit::problem::ProblemResponse;

/// A failed request. The variant fixes the status; `slug` names the kind of problem (the
/// `type` is `urn:zone-cluster:problem:<slug>`) and `detail` says what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is wrong (malformed id, out-of-range value, ...).
    #[error("{detail}")]
    BadRequest {
        /// Kind of problem.
        slug: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// 404: no such quest.
    #[error("{detail}")]
    NotFound {
        /// Kind of problem.
        slug: &'static str,
        /// What was not found.
        detail: String,
    },
    /// 409: the request conflicts with the character's quest state (already active, not
    /// active, prerequisites not completed).
    #[error("{detail}")]
    Conflict {
        /// Kind of problem.
        slug: &'static str,
        /// What the conflict is.
        detail: String,
    },
    /// 422: an idempotency key was reused for a different request.
    #[error("{detail}")]
    Unprocessable {
        /// Kind of problem.
        slug: &'static str,
        /// What is inconsistent.
        detail: String,
    },
    /// 503: shutting down, or the database unreachable; try another instance or later.
    #[error("{0}")]
    Unavailable(String),
    /// 500: storage failed. Never caused by input; logged with its cause.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 of kind `slug`.
    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            slug,
            detail: detail.into(),
        }
    }

    /// A 409 of kind `slug`.
    pub fn conflict(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            slug,
            detail: detail.into(),
        }
    }

    /// A 500 for a storage failure; the cause is logged here, not shown to callers.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Self::Internal(format!("{context}; the failure was logged"))
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest { slug, .. }
            | Self::NotFound { slug, .. }
            | Self::Conflict { slug, .. }
            | Self::Unprocessable { slug, .. } => slug,
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn problem_response(&self) -> ProblemResponse {
        let res =
            ProblemResponse::with_reason_title(self.status_code(), self.slug(), self.to_string());
        match self {
            // Shutting down, or the database unreachable: worth trying again shortly.
            Self::Unavailable(_) => res.header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            _ => res,
        }
    }

    /// The problem-details body of this error.
    pub fn problem(&self) -> Problem {
        self.problem_response().problem()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        self.problem_response().finish()
    }
}

impl From<CommitError> for ApiError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Closed => Self::Unavailable("the store is closed".to_owned()),
            CommitError::Flush(e) => Self::internal("flushing the quest store failed", e),
        }
    }
}
