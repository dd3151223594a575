//! Bearer tokens: reading `Authorization: Bearer <token>` and comparing the token in
//! constant time, so response timing does not reveal how much of a guess was right.
//!
//! The services' callers (zones, the manager, operators) hold shared secrets; players'
//! tokens are JWTs the manager verifies itself. [`require_service_token`] guards a whole
//! scope with the [`ServiceToken`] the app registers; [`check`] serves handlers that check
//! a token of their own.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError as _};
use protocol::http::parse_bearer;

use crate::framework::FrameworkError;

/// Why a request's bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// No `Authorization` header.
    #[error("this needs `Authorization: Bearer <token>`")]
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    /// A bearer token, but not the expected one.
    #[error("the token is wrong")]
    Wrong,
}

/// The bearer token a request carries.
pub fn bearer(headers: &HeaderMap) -> Result<&str, BearerError> {
    let value = headers.get(AUTHORIZATION).ok_or(BearerError::Missing)?;
    value
        .to_str()
        .ok()
        .and_then(parse_bearer)
        .ok_or(BearerError::Malformed)
}

/// Whether the request carries `expected` as its bearer token.
pub fn check(headers: &HeaderMap, expected: &str) -> Result<(), BearerError> {
    if constant_time_eq(bearer(headers)?.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(BearerError::Wrong)
    }
}

/// Equality whose time depends only on the lengths, never on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The shared secret a scope guarded by [`require_service_token`] demands. Register it
/// with `App::app_data` (the plain value, not `web::Data`).
#[derive(Debug, Clone)]
pub struct ServiceToken(Arc<str>);

impl ServiceToken {
    /// The token `token`.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(token.into())
    }
}

/// Middleware: answers `401` before any handler or extractor runs unless the request
/// carries the app's [`ServiceToken`].
pub async fn require_service_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let verdict = match req.app_data::<ServiceToken>() {
        None => Err(FrameworkError::Misconfigured(
            "no ServiceToken is registered",
        )),
        Some(ServiceToken(token)) => check(req.headers(), token).map_err(FrameworkError::from),
    };
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(authorization: Option<&'static str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(value) = authorization {
            map.insert(AUTHORIZATION, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn accepts_only_the_token() {
        assert_eq!(check(&headers(Some("Bearer s3cret")), "s3cret"), Ok(()));
        assert_eq!(check(&headers(Some("bearer s3cret")), "s3cret"), Ok(()));
        assert_eq!(check(&headers(None), "s3cret"), Err(BearerError::Missing));
        for malformed in ["", "s3cret", "Basic s3cret", "Bearer "] {
            assert_eq!(
                check(&headers(Some(malformed)), "s3cret"),
                Err(BearerError::Malformed),
                "{malformed:?}"
            );
        }
        for wrong in ["Bearer s3cre", "Bearer s3cret!", "Bearer S3CRET"] {
            assert_eq!(
                check(&headers(Some(wrong)), "s3cret"),
                Err(BearerError::Wrong)
            );
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"abc"));
    }
}
