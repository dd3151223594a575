//! Who may call what: players' join tokens (JWT, HS256, `sub` = account id, `exp`
//! required) and the operator API's admin bearer token.
//!
//! The manager only verifies join tokens; issuing them belongs to a login service the
//! cluster does not ship. `server-manager token` mints one for development with the same
//! secret, so a local cluster can be played without that service.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use actix_web::http::header;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use protocol::AccountId;
use protocol::http::parse_bearer;
use serde::{Deserialize, Serialize};

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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

/// The bearer token of a request, if it has one.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(parse_bearer)
}

/// The account of the request's join token.
pub fn join_account(req: &HttpRequest, secret: &[u8]) -> Result<AccountId, TokenError> {
    verify(secret, bearer(req).ok_or(TokenError::Missing)?)
}

/// Checks the operator API's admin token (compared in constant time).
pub fn require_admin(req: &HttpRequest, admin_token: &str) -> Result<(), ApiError> {
    match bearer(req) {
        Some(t) if constant_time_eq(t.as_bytes(), admin_token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("wrong admin token".into())),
        None => Err(ApiError::Unauthorized(
            "the operator API needs `Authorization: Bearer <admin token>`".into(),
        )),
    }
}

/// Equality whose time depends only on the lengths, so a token cannot be guessed byte by
/// byte from response times.
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

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
