//! `ApiError`: every way a request can fail, each answered as RFC 9457 problem details
//! (`application/problem+json`) so callers can tell failures apart by `type` and people
//! can read `detail`. Also the handlers that turn actix's own extractor errors (bad JSON,
//! bad paths) and any stray non-problem error response into problem details.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use protocol::http::Problem;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;

/// A failed request. The variant fixes the status; `slug` names the kind of problem (the
/// `type` is `urn:zone-cluster:problem:<slug>`) and `detail` says what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is wrong (malformed JSON or id, out-of-range value, ...).
    #[error("{detail}")]
    BadRequest {
        /// Kind of problem.
        slug: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// 401: no valid service token.
    #[error("{0}")]
    Unauthorized(String),
    /// 404: no such quest or route.
    #[error("{detail}")]
    NotFound {
        /// Kind of problem.
        slug: &'static str,
        /// What was not found.
        detail: String,
    },
    /// 405: the route exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the request conflicts with the character's quest state (already active, not
    /// active, prerequisites not completed).
    #[error("{detail}")]
    Conflict {
        /// Kind of problem.
        slug: &'static str,
        /// What the conflict is.
        detail: String,
    },
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: an idempotency key was reused for a different request.
    #[error("{detail}")]
    Unprocessable {
        /// Kind of problem.
        slug: &'static str,
        /// What is inconsistent.
        detail: String,
    },
    /// 503: shutting down; try another instance or later.
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
            Self::Unauthorized(_) => "unauthorized",
            Self::MethodNotAllowed(_) => "method-not-allowed",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The problem-details body of this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem::new(
            status.as_u16(),
            self.slug(),
            status.canonical_reason().unwrap_or("Error"),
            self.to_string(),
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        metrics::counter!("quest_api_problems_total", "type" => self.slug()).increment(1);
        problem_response(&self.problem(), matches!(self, Self::Unauthorized(_)))
    }
}

/// A problem-details response.
fn problem_response(problem: &Problem, challenge: bool) -> HttpResponse<BoxBody> {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    ));
    if challenge {
        response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
    }
    // Serializing a struct of strings and a number cannot fail.
    response.body(serde_json::to_vec(problem).unwrap_or_default())
}

/// `JsonConfig` error handler: says which of the ways a JSON body can be wrong this was.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let error = match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::bad_request(
            "body-too-large",
            format!("the body is {length} bytes; the limit is {limit} bytes"),
        ),
        JsonPayloadError::Overflow { limit } => ApiError::bad_request(
            "body-too-large",
            format!("the body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "the body must be JSON, sent with `Content-Type: application/json`".to_owned(),
        ),
        JsonPayloadError::Deserialize(e) => {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::bad_request("malformed-json", format!("the body is not JSON: {e}"))
                }
                Category::Data => ApiError::bad_request(
                    "invalid-body",
                    format!("the body does not have the expected fields and types: {e}"),
                ),
            }
        }
        other => ApiError::bad_request(
            "unreadable-body",
            format!("could not read the body: {other}"),
        ),
    };
    error.into()
}

/// `PathConfig` error handler (a path segment that is not valid percent-encoded UTF-8).
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("malformed-path", format!("the path is malformed: {err}")).into()
}

/// `ErrorHandlers` fallback: any 4xx/5xx response that is not problem details already
/// (one made by actix itself, e.g. for a malformed request line) becomes one, so callers
/// can rely on every error being `application/problem+json`.
pub fn ensure_problem<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = res
        .response()
        .error()
        .map_or_else(|| status.to_string(), |e| e.to_string());
    let problem = Problem::new(
        status.as_u16(),
        "http",
        status.canonical_reason().unwrap_or("Error"),
        detail,
    );
    let (req, _) = res.into_parts();
    let response = problem_response(&problem, status == StatusCode::UNAUTHORIZED);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
