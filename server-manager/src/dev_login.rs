//! The development login, `POST /v1/dev/login`: a name in, a character and a join token
//! out, so a local cluster can be played from the browser (`/play/`) without the game's
//! identity provider. In production that provider issues the join tokens and the page is
//! handed one; the manager itself only verifies them.
//!
//! It exists only when the manager runs with `--dev-login` (`DEV_LOGIN=true`): anyone who
//! reaches the manager then plays any development character by naming it, which is the
//! point on a laptop and the reason it is off by default. Off, the route answers `403` with
//! how to turn it on, and the attempt is logged as a warning, so a page pointed at a
//! production manager fails loudly rather than mysteriously.
//!
//! The account is derived from the name (a UUIDv8 of the FNV-1a hash of its lower case
//! form: names are unique case-insensitively), so the same name always comes back to the
//! same account and character, across browsers and restarts, with no state kept here. The
//! character is made through character-api with the service token, as bots make theirs.

use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use protocol::http::Problem;
use protocol::http::character::{Character, CharacterList, CreateCharacter, validate_name};
use protocol::{AccountId, CharacterId, UnixMillis};
use serde::{Deserialize, Serialize};

use crate::auth;
use crate::config::Config;
use crate::error::ApiError;
use crate::manager::Manager;

/// How long a development join token is valid (a day of play; the page logs in again
/// after that).
const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// `POST /v1/dev/login`: who wants to play.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLoginRequest {
    /// The character's name: 3 to 20 letters, digits, `_` or `-`, starting with a letter.
    /// The same name (in any case) always logs into the same character.
    #[schema(
        min_length = 3,
        max_length = 20,
        pattern = r"^\p{L}[\p{L}\p{N}_-]{2,19}$"
    )]
    pub name: String,
}

/// A character to play and the token to join with.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DevLoginResponse {
    /// A join token for the account (HS256, like the identity provider's): the bearer
    /// token of `POST /v1/join`.
    pub token: String,
    /// When the token expires, milliseconds since the Unix epoch.
    #[schema(minimum = 0)]
    pub expires_at: UnixMillis,
    /// The account, derived from the name.
    pub account_id: AccountId,
    /// The character: the `character_id` of `POST /v1/join`.
    pub character_id: CharacterId,
    /// The character's name as stored.
    pub name: String,
    /// Whether the character was made just now (false: it existed).
    pub created: bool,
}

/// The character-api calls of the development login (made only when it is on).
#[derive(Debug, Clone)]
pub struct DevLogin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl DevLogin {
    /// A client for the configured character-api.
    pub fn new(config: &Config) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self {
            http,
            base: config.character_api.trim_end_matches('/').to_owned(),
            token: config.service_token.clone(),
        })
    }

    /// The account's character named `name`, made if the account has none by that name.
    async fn character(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<(Character, bool), ApiError> {
        let upstream = |e: reqwest::Error| ApiError::Upstream(e.to_string());
        let listed = self
            .http
            .get(format!("{}/v1/accounts/{account}/characters", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(upstream)?;
        if !listed.status().is_success() {
            return Err(ApiError::Upstream(format!(
                "listing characters: status {}",
                listed.status()
            )));
        }
        let list: CharacterList = listed.json().await.map_err(upstream)?;
        if let Some(found) = list
            .characters
            .into_iter()
            .find(|c| c.name.to_lowercase() == name.to_lowercase())
        {
            return Ok((found, false));
        }
        let created = self
            .http
            .post(format!("{}/v1/characters", self.base))
            .bearer_auth(&self.token)
            .json(&CreateCharacter {
                account_id: account,
                name: name.to_owned(),
            })
            .send()
            .await
            .map_err(upstream)?;
        match created.status().as_u16() {
            200 | 201 => Ok((created.json().await.map_err(upstream)?, true)),
            409 => Err(ApiError::Conflict(format!(
                "the name {name:?} belongs to a character of another account (a bot's, or one \
                 made through character-api): pick another"
            ))),
            status => Err(ApiError::Upstream(format!(
                "creating the character: status {status}"
            ))),
        }
    }
}

/// The development account of `name`: a UUIDv8 whose 122 free bits are the FNV-1a hash of
/// the name in lower case. Not a secret, on purpose (see the module's doc).
pub fn account_of(name: &str) -> AccountId {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let hash = format!("dev-login:{}", name.to_lowercase())
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u128::from(b)).wrapping_mul(PRIME));
    AccountId(uuid::Builder::from_custom_bytes(hash.to_be_bytes()).into_uuid())
}

/// Logs in as `name` (development only): the character of that name, made on first use,
/// and a join token for its account.
#[utoipa::path(
    post,
    path = "/v1/dev/login",
    tag = "development",
    request_body = DevLoginRequest,
    responses(
        (status = 200, description = "The character and a join token for it.", body = DevLoginResponse),
        (status = 400, description = "The body is not `{\"name\": <3 to 20 letters, digits, _ or ->}`.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The development login is off (the manager runs without `--dev-login`): production tokens come from the game's identity provider.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name belongs to a character of another account.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the size limit (see the description).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The manager failed; the details are in its log.", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "character-api did not answer or refused.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    req: HttpRequest,
    body: Bytes,
    manager: web::Data<Manager>,
    dev: web::Data<DevLogin>,
) -> Result<HttpResponse, ApiError> {
    let config = manager.config();
    if !config.dev_login {
        tracing::warn!(
            peer = ?req.peer_addr(),
            "refused a development login: this manager runs without --dev-login"
        );
        return Err(ApiError::Forbidden(
            "the development login is off on this manager: it exists only when the manager \
             runs with --dev-login (DEV_LOGIN=true), for local play; otherwise join with a \
             token from the game's identity provider"
                .into(),
        ));
    }
    let request: DevLoginRequest = service_kit::framework::json_body(&req, &body)?;
    validate_name(&request.name).map_err(ApiError::BadRequest)?;
    let account = account_of(&request.name);
    let secret = config.jwt_secret.clone();
    let dev = dev.get_ref().clone();
    let name = request.name;
    let answer = manager
        .on_runtime(async move {
            let (character, created) = dev.character(account, &name).await?;
            let token = auth::mint(secret.as_bytes(), account, TOKEN_TTL)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let ttl_ms = u64::try_from(TOKEN_TTL.as_millis()).unwrap_or(u64::MAX);
            if created {
                tracing::info!(character = %character.id, %account, "development login made a character");
            }
            Ok::<_, ApiError>(DevLoginResponse {
                token,
                expires_at: service_kit::time::now_millis().saturating_add(ttl_ms),
                account_id: account,
                character_id: character.id,
                name: character.name,
                created,
            })
        })
        .await
        .unwrap_or_else(|| Err(ApiError::Internal("the login task failed".into())))?;
    Ok(HttpResponse::Ok().json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_names_one_account_whatever_its_case() {
        assert_eq!(account_of("Aria"), account_of("aRIA"));
        assert_ne!(account_of("Aria"), account_of("Arian"));
        let id = account_of("Aria").0;
        assert_eq!(id.get_version(), Some(uuid::Version::Custom));
    }
}
