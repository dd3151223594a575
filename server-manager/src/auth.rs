//! Who may call what: players' join tokens (JWT, HS256, `sub` = account id, `exp`
//! required) and the operator API's admin bearer token.
//!
//! The manager only verifies join tokens; issuing them belongs to a login service the
//! cluster does not ship. `server-manager token` mints one for development with the same
//! secret, so a local cluster can be played without that service.

use std::time::Duration;

use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use protocol::AccountId;
use serde::{Deserialize, Serialize};
use service_kit::auth::BearerError;

use crate::error::ApiError;

/// Clock skew tolerated on `exp`, seconds. Small, so an expired token is refused promptly.
pub const LEEWAY_SECS: u64 = 5;

/// The claims of a join token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    #[serde(default)]
    pub iat: u64,
}

/// Why a join token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("a bearer token is required")]
    Missing,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Bad signature, wrong algorithm, malformed, or missing claims.
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::Unauthorized(e.to_string())
    }
}

/// Seconds since the Unix epoch, now (JWT times are in seconds).
fn unix_now() -> u64 {
    service_kit::time::now_millis() / 1000
}

/// A join token for `account`, valid for `ttl`, signed with `secret`.
pub fn mint(secret: &[u8], account: AccountId, ttl: Duration) -> Result<String, TokenError> {
    let now = unix_now();
    let claims = Claims {
        sub: account.to_string(),
        exp: now.saturating_add(ttl.as_secs()),
        iat: now,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| TokenError::Invalid(e.to_string()))
}

/// The account a join token names, if it is signed with `secret` and not expired.
pub fn verify(secret: &[u8], token: &str) -> Result<AccountId, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_SECS;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })?;
    data.claims
        .sub
        .parse()
        .map_err(|_| TokenError::Invalid("`sub` is not an account id".to_owned()))
}

/// The account of the request's join token.
pub fn join_account(req: &HttpRequest, secret: &[u8]) -> Result<AccountId, TokenError> {
    let token = service_kit::auth::bearer(req.headers()).map_err(|e| match e {
        BearerError::Missing => TokenError::Missing,
        other => TokenError::Invalid(other.to_string()),
    })?;
    verify(secret, token)
}

/// Checks the operator API's admin token (compared in constant time).
pub fn require_admin(req: &HttpRequest, admin_token: &str) -> Result<(), ApiError> {
    service_kit::auth::check(req.headers(), admin_token).map_err(|e| {
        ApiError::Unauthorized(match e {
            BearerError::Wrong => "wrong admin token".into(),
            BearerError::Missing | BearerError::Malformed => {
                "the operator API needs `Authorization: Bearer <admin token>`".into()
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_others_do_not() {
        let account = AccountId::new_random();
        let t = mint(b"secret", account, Duration::from_secs(60)).unwrap();
        assert_eq!(verify(b"secret", &t), Ok(account));
        assert!(matches!(verify(b"other", &t), Err(TokenError::Invalid(_))));
        assert!(matches!(
            verify(b"secret", "junk"),
            Err(TokenError::Invalid(_))
        ));

        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: account.to_string(),
                exp: unix_now() - 3600,
                iat: 0,
            },
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(verify(b"secret", &expired), Err(TokenError::Expired));

        let not_an_account = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "bob".into(),
                exp: unix_now() + 60,
                iat: 0,
            },
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert!(verify(b"secret", &not_an_account).is_err());
    }
}
