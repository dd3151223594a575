//! The character-api client: the one read the manager makes, the character behind a join
//! (whose account owns it, where it stands).

use std::time::Duration;

use protocol::{AccountId, AreaId, CharacterId, Position};
use serde::Deserialize;

/// The fields of a character the manager uses. Decoded leniently (unknown fields are
/// ignored) so a newer character-api does not break joins.
#[derive(Debug, Clone, Deserialize)]
pub struct CharacterView {
    /// The character.
    pub id: CharacterId,
    /// The owning account.
    pub account_id: AccountId,
    /// The area it was last saved in.
    pub area: AreaId,
    /// Where it stands.
    pub position: Position,
}

/// Why the character could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CharacterError {
    /// character-api does not know it.
    #[error("character {0} does not exist")]
    NotFound(CharacterId),
    /// character-api failed, refused our token, or did not answer.
    #[error("character-api: {0}")]
    Upstream(String),
}

/// A client for character-api.
#[derive(Debug, Clone)]
pub struct CharacterClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl CharacterClient {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:7101`) using `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, CharacterError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| {
                // reqwest's message alone ("builder error") hides the cause, such as a
                // missing certificate store: say all of it.
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    why.push_str(": ");
                    why.push_str(&cause.to_string());
                    source = cause.source();
                }
                CharacterError::Upstream(why)
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// Reads a character.
    pub async fn get(&self, id: CharacterId) -> Result<CharacterView, CharacterError> {
        let res = self
            .http
            .get(format!("{}/v1/characters/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| CharacterError::Upstream(e.to_string()))?;
        match res.status().as_u16() {
            200 => res
                .json::<CharacterView>()
                .await
                .map_err(|e| CharacterError::Upstream(format!("unreadable character: {e}"))),
            404 => Err(CharacterError::NotFound(id)),
            status => {
                let body = res.text().await.unwrap_or_default();
                let body: String = body.chars().take(200).collect();
                Err(CharacterError::Upstream(format!("status {status}: {body}")))
            }
        }
    }
}
