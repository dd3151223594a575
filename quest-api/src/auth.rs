//! Service-token authentication for `/v1`: zones and the manager call these APIs, players
//! never do, so one shared bearer token (`--service-token`) guards every `/v1` route.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::web;
use protocol::http::parse_bearer;

use crate::AppState;
use crate::error::ApiError;

/// Compares in time independent of where the strings differ, so response timing does not
/// reveal how much of a guessed token was right.
fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: passes requests carrying `Authorization: Bearer <service token>`, answers
/// any other with a 401 problem.
pub async fn require_service_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.service_token.as_str());
    let problem = match (req.headers().get(AUTHORIZATION), expected) {
        (_, None) => Some("the service is not configured with a service token"),
        (None, _) => Some("missing `Authorization: Bearer <service token>` header"),
        (Some(value), Some(expected)) => match value.to_str().ok().and_then(parse_bearer) {
            None => Some("the Authorization header is not `Bearer <service token>`"),
            Some(token) if same_token(token, expected) => None,
            Some(_) => Some("wrong service token"),
        },
    };
    match problem {
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Some(detail) => Ok(req
            .error_response(ApiError::Unauthorized(detail.to_owned()))
            .map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn tokens_compare_exactly() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("", "abc"));
    }
}
