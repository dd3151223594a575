//! Every way a request can fail, and how each failure looks on the wire: an RFC 9457
//! problem (`application/problem+json` with `type`, `title`, `status`, `detail`).
//!
//! Handlers return `Result<_, ApiError>`; the extractor error handlers (JSON body, path)
//! and the fallback routes map their failures here too, so no 4xx or 5xx answer of this
//! service has any other shape.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use protocol::http::Problem;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;

/// Why a request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read: malformed JSON, a wrong type, an unknown field, an
    /// oversized body, a malformed id or header. The text says what was wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The body was well-formed but breaks the character rules (one entry per rule).
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The body was not declared as JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No valid service token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Nothing lives at this path.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method that was used.
        method: String,
        /// The methods the path accepts (the `Allow` header).
        allow: &'static str,
    },
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
    /// The service cannot take this request now (shutting down, storage failed); retrying
    /// later, possibly elsewhere, may work.
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
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::Unauthorized(_) => ("unauthorized", "Missing or wrong service token"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            Self::NameTaken(_) => ("name-taken", "Name taken"),
            Self::Stale { .. } => ("stale-version", "Stale version"),
            Self::PreconditionRequired(_) => ("precondition-required", "If-Match required"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The problem body this error is answered with.
    pub fn problem(&self) -> Problem {
        let (slug, title) = self.kind();
        let detail = match self {
            // Internal details can name files and sled internals: they go to the log only.
            Self::Internal(_) => "the service failed to handle the request; see its log".to_owned(),
            other => other.to_string(),
        };
        Problem::new(self.status_code().as_u16(), slug, title, detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
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
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        match self {
            Self::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::MethodNotAllowed { allow, .. } => {
                res.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            Self::Stale { current, .. } => {
                // Lets a writer that wants to overwrite anyway see what it would replace.
                res.insert_header((header::ETAG, protocol::http::etag(*current)));
            }
            Self::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        // A Problem always serializes; the fallback keeps this path infallible anyway.
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        res.body(body)
    }
}

impl From<sled::Error> for ApiError {
    fn from(e: sled::Error) -> Self {
        Self::Internal(format!("storage: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking pool: {e}"))
    }
}

/// The `400` for a JSON body that could not be used, saying what was wrong with it.
pub(crate) fn json_error(err: &actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { length, limit } => ApiError::BadRequest(format!(
            "the body is {length} bytes, larger than the {limit}-byte limit"
        )),
        E::Overflow { limit } => {
            ApiError::BadRequest(format!("the body is larger than the {limit}-byte limit"))
        }
        E::ContentType => ApiError::UnsupportedMediaType(
            "the body must be JSON with `Content-Type: application/json`".to_owned(),
        ),
        E::Deserialize(e) => {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::BadRequest(format!("the body does not fit: {e}")),
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
                }
            }
        }
        E::Payload(e) => ApiError::BadRequest(format!("the body could not be read: {e}")),
        other => ApiError::BadRequest(format!("the body could not be read: {other}")),
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
            ApiError::UnsupportedMediaType("x".into()),
            ApiError::Unauthorized("x"),
            ApiError::NotFound("x".into()),
            ApiError::MethodNotAllowed {
                method: "PATCH".into(),
                allow: "GET",
            },
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
