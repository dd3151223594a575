//! The service token: every `/v1` call carries `Authorization: Bearer <token>`. Only
//! zones and the manager call this API (players never do), so one shared secret is the
//! whole access model.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};

use crate::error::ApiError;
use crate::routes::AppState;

/// Middleware: answers `401` before any handler or extractor runs unless the request
/// carries the service token.
pub async fn require_service_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let verdict = match req.app_data::<web::Data<AppState>>() {
        None => Err(ApiError::Internal("no app state registered".into())),
        Some(state) => check(
            req.headers()
                .get(AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or("")),
            &state.service_token,
        ),
    };
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

/// Whether an `Authorization` header value carries `expected`.
fn check(header: Option<&str>, expected: &str) -> Result<(), ApiError> {
    let header = header.ok_or(ApiError::Unauthorized(
        "this API needs `Authorization: Bearer <service token>`",
    ))?;
    let token = protocol::http::parse_bearer(header).ok_or(ApiError::Unauthorized(
        "the Authorization header must be `Bearer <service token>`",
    ))?;
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("the service token is wrong"))
    }
}

/// Compares without an early exit, so response timing does not reveal how much of a
/// guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_token() {
        assert!(check(Some("Bearer s3cret"), "s3cret").is_ok());
        assert!(check(Some("bearer s3cret"), "s3cret").is_ok());
        for bad in [
            None,
            Some(""),
            Some("s3cret"),
            Some("Basic s3cret"),
            Some("Bearer s3cre"),
        ] {
            assert!(check(bad, "s3cret").is_err(), "{bad:?}");
        }
    }
}
