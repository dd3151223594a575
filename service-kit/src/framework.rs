//! The framework's own errors — a body that is not JSON or too large, a malformed path or
//! query, an unknown route, a wrong method, a missing token — answered as problems like
//! every other error, with one `type` slug per kind whichever service answers.
//!
//! [`configure_extractors`] installs the error handlers of actix-web's extractors; handlers
//! that must check something before reading the body (a token) take the raw bytes and
//! call [`json_body`], which fails the same way. [`problem_fallback`] turns whatever
//! error response is left (one made by actix itself) into a problem too.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, ResponseError, web};
use protocol::http::problem::PROBLEM_CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::auth::BearerError;
use crate::problem::ProblemResponse;

/// A request refused before any service logic ran.
#[derive(Debug, thiserror::Error)]
pub enum FrameworkError {
    /// Nothing lives at this path (404).
    #[error("no route for {method} {path}")]
    NoRoute {
        /// The method used.
        method: String,
        /// The path asked for, quoted and cut short.
        path: String,
    },
    /// The path exists but not with this method (405, with `Allow`).
    #[error("{method} is not allowed on {path}; allowed: {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path, quoted and cut short.
        path: String,
        /// The methods the path accepts, as the `Allow` header lists them.
        allow: String,
    },
    /// The body is larger than the service accepts (413).
    #[error("the body is {}larger than the {limit}-byte limit", .length.map(|n| format!("{n} bytes, ")).unwrap_or_default())]
    BodyTooLarge {
        /// Its declared length, when `Content-Length` said it.
        length: Option<usize>,
        /// The limit.
        limit: usize,
    },
    /// The body is not JSON (400).
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON of the wrong shape: a wrong type, an unknown or missing field (400).
    #[error("the body does not fit the expected fields and types: {0}")]
    InvalidBody(String),
    /// The body could not be read off the connection (400).
    #[error("the body could not be read: {0}")]
    UnreadableBody(String),
    /// The body was not declared as JSON (415).
    #[error("the body must be JSON, sent with `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// A path segment could not be decoded (400).
    #[error("the path is malformed: {0}")]
    MalformedPath(String),
    /// The query string does not fit the route's parameters (400).
    #[error("the query is malformed: {0}")]
    MalformedQuery(String),
    /// No valid bearer token (401).
    #[error(transparent)]
    Unauthorized(#[from] BearerError),
    /// The service was wired wrongly (500); the detail is logged, not sent.
    #[error("{0}")]
    Misconfigured(&'static str),
}

impl FrameworkError {
    /// The problem `type` slug.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::NoRoute { .. } => "no-route",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::BodyTooLarge { .. } => "body-too-large",
            Self::MalformedJson(_) => "malformed-json",
            Self::InvalidBody(_) => "invalid-body",
            Self::UnreadableBody(_) => "unreadable-body",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::MalformedPath(_) => "malformed-path",
            Self::MalformedQuery(_) => "malformed-query",
            Self::Unauthorized(_) => "unauthorized",
            Self::Misconfigured(_) => "internal",
        }
    }

    /// The problem answer for this error.
    pub fn problem_response(&self) -> ProblemResponse {
        let detail = match self {
            Self::Misconfigured(_) => {
                "the service failed to handle the request; see its log".into()
            }
            other => other.to_string(),
        };
        let res = ProblemResponse::with_reason_title(self.status_code(), self.slug(), detail);
        match self {
            Self::MethodNotAllowed { allow, .. } => match HeaderValue::from_str(allow) {
                Ok(allow) => res.header(header::ALLOW, allow),
                Err(_) => res,
            },
            _ => res,
        }
    }
}

impl ResponseError for FrameworkError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedJson(_)
            | Self::InvalidBody(_)
            | Self::UnreadableBody(_)
            | Self::MalformedPath(_)
            | Self::MalformedQuery(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Misconfigured(what) = self {
            tracing::error!(what, "the service is misconfigured");
        }
        self.problem_response().finish()
    }
}

/// User input quoted in a detail: escaped, and cut short if long.
pub(crate) fn quoted(input: &str) -> String {
    const MAX: usize = 80;
    match input.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}...", &input[..end]),
        None => format!("{input:?}"),
    }
}

/// Registers the extractor settings every service uses: JSON bodies of at most
/// `body_limit` bytes declared as JSON, raw bodies of at most `body_limit` bytes, and every
/// JSON, path and query failure answered as a [`FrameworkError`] problem.
pub fn configure_extractors(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(body_limit)
            .error_handler(|err, _req| json_error(err).into()),
    )
    .app_data(web::PayloadConfig::new(body_limit))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _req| FrameworkError::MalformedPath(err.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _req| FrameworkError::MalformedQuery(err.to_string()).into()),
    );
}

/// What was wrong with a JSON body.
pub fn json_error(err: JsonPayloadError) -> FrameworkError {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => FrameworkError::BodyTooLarge {
            length: Some(length),
            limit,
        },
        JsonPayloadError::Overflow { limit } => FrameworkError::BodyTooLarge {
            length: None,
            limit,
        },
        JsonPayloadError::ContentType => FrameworkError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) => deserialize_error(&e),
        other => FrameworkError::UnreadableBody(other.to_string()),
    }
}

fn deserialize_error(e: &serde_json::Error) -> FrameworkError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => FrameworkError::InvalidBody(e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => {
            FrameworkError::MalformedJson(e.to_string())
        }
    }
}

/// A JSON body read by hand, failing exactly as the `web::Json` extractor would: for
/// handlers that must check something (a token) before they look at the body. The size
/// limit is the `PayloadConfig`'s, set by [`configure_extractors`].
pub fn json_body<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, FrameworkError> {
    let is_json = matches!(
        req.mime_type(),
        Ok(Some(mime)) if mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json")
    );
    if !is_json {
        return Err(FrameworkError::UnsupportedMediaType);
    }
    serde_json::from_slice(body).map_err(|e| deserialize_error(&e))
}

/// Middleware: any 4xx or 5xx response that is not a problem already (one actix-web made
/// itself, such as the `413` of a raw body over the `PayloadConfig` limit) becomes one, so
/// callers can rely on every error being `application/problem+json`.
pub fn problem_fallback<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(ensure_problem)
}

fn ensure_problem<B: MessageBody + 'static>(
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
    let slug = match status {
        StatusCode::NOT_FOUND => "no-route",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNAUTHORIZED => "unauthorized",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    };
    let detail = res
        .response()
        .error()
        .map_or_else(|| status.to_string(), ToString::to_string);
    let (req, _) = res.into_parts();
    let response = ProblemResponse::with_reason_title(status, slug, detail).finish();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_failures_have_their_own_kinds() {
        let syntax = serde_json::from_str::<u8>("1 x").unwrap_err();
        let data = serde_json::from_str::<u8>("\"x\"").unwrap_err();
        let cases = [
            (JsonPayloadError::Deserialize(syntax), 400, "malformed-json"),
            (JsonPayloadError::Deserialize(data), 400, "invalid-body"),
            (
                JsonPayloadError::Overflow { limit: 1 },
                413,
                "body-too-large",
            ),
            (JsonPayloadError::ContentType, 415, "unsupported-media-type"),
        ];
        for (err, status, slug) in cases {
            let e = json_error(err);
            assert_eq!((e.status_code().as_u16(), e.slug()), (status, slug), "{e}");
        }
        let e = FrameworkError::BodyTooLarge {
            length: Some(9),
            limit: 4,
        };
        assert_eq!(
            e.to_string(),
            "the body is 9 bytes, larger than the 4-byte limit"
        );
    }

    #[test]
    fn a_405_names_the_allowed_methods() {
        let res = FrameworkError::MethodNotAllowed {
            method: "PATCH".into(),
            path: quoted("/x"),
            allow: "GET, PUT".into(),
        }
        .error_response();
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers().get(header::ALLOW).unwrap(), "GET, PUT");
    }

    #[test]
    fn quoting_cuts_long_input() {
        assert_eq!(quoted("a\"b"), r#""a\"b""#);
        assert!(quoted(&"x".repeat(500)).len() < 100);
    }
}
