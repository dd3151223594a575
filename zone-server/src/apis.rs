//! Clients of character-api and quest-api. Every call runs outside the tick (in a task),
//! and the zone actor learns the outcome as a message.

use std::time::Duration;

use protocol::http::character::{Character, CharacterUpdate};
use protocol::http::quest::{
    CharacterQuests, ProgressEvent, ProgressOutcome, Quest, QuestCatalog, QuestProgress,
};
use protocol::http::{Problem, etag};
use protocol::{CharacterId, EventId, QuestId};
use reqwest::StatusCode;

/// Why an API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The API refused the request for good (4xx); retrying cannot help.
    #[error("{service} refused: {status} {detail}")]
    Refused {
        /// Which API.
        service: &'static str,
        /// The status.
        status: u16,
        /// The problem detail.
        detail: String,
    },
    /// The API could not be reached or failed (5xx, timeout); retry later.
    #[error("{service} unavailable: {reason}")]
    Unavailable {
        /// Which API.
        service: &'static str,
        /// What happened.
        reason: String,
    },
}

impl ApiError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            Self::Unavailable { .. } => None,
        }
    }
}

/// Both APIs, sharing one connection pool.
#[derive(Debug, Clone)]
pub struct Apis {
    http: reqwest::Client,
    character_api: String,
    quest_api: String,
    token: String,
}

const CHARACTERS: &str = "character-api";
const QUESTS: &str = "quest-api";

impl Apis {
    /// Clients for the APIs at these base URLs.
    pub fn new(character_api: &str, quest_api: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            character_api: character_api.trim_end_matches('/').to_owned(),
            quest_api: quest_api.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        service: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<(T, reqwest::header::HeaderMap), ApiError> {
        let unavailable = |e: reqwest::Error| ApiError::Unavailable {
            service,
            reason: e.to_string(),
        };
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_success() {
            return Ok((response.json().await.map_err(unavailable)?, headers));
        }
        let detail = response
            .json::<Problem>()
            .await
            .ok()
            .and_then(|p| p.detail.or(Some(p.title)))
            .unwrap_or_default();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Err(ApiError::Unavailable {
                service,
                reason: format!("{status} {detail}"),
            })
        } else {
            Err(ApiError::Refused {
                service,
                status: status.as_u16(),
                detail,
            })
        }
    }

    /// A character.
    pub async fn character(&self, id: CharacterId) -> Result<Character, ApiError> {
        let url = format!("{}/v1/characters/{id}", self.character_api);
        Ok(self.send(CHARACTERS, self.http.get(url)).await?.0)
    }

    /// Saves a character against the version it names; the new version on success,
    /// `Refused{status: 412}` when someone else wrote it since.
    pub async fn save(&self, character: &Character) -> Result<u64, ApiError> {
        let url = format!("{}/v1/characters/{}", self.character_api, character.id);
        let body = CharacterUpdate::from(character.clone());
        let request = self
            .http
            .put(url)
            .header("If-Match", etag(character.version))
            .json(&body);
        let (saved, _): (Character, _) = self.send(CHARACTERS, request).await?;
        Ok(saved.version)
    }

    /// Saves `character`, retrying while character-api is unreachable. A retry that gets
    /// 412 after an attempt whose answer was lost may be meeting its own write (applied
    /// durably, then the service died before answering): if the stored character is exactly
    /// what was sent, one version on, that is this save's success, not a newer writer.
    pub async fn save_with_retry(&self, character: &Character) -> Result<u64, ApiError> {
        let answer_lost = std::sync::atomic::AtomicBool::new(false);
        let saved = with_retry(|| async {
            let attempt = self.save(character).await;
            if attempt.as_ref().is_err_and(ApiError::is_transient) {
                answer_lost.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            attempt
        })
        .await;
        match saved {
            Err(e)
                if answer_lost.load(std::sync::atomic::Ordering::Relaxed)
                    && e.status() == Some(412) =>
            {
                let stored = with_retry(|| self.character(character.id)).await?;
                let own = stored.version == character.version + 1
                    && CharacterUpdate::from(stored.clone())
                        == CharacterUpdate::from(character.clone());
                if own { Ok(stored.version) } else { Err(e) }
            }
            other => other,
        }
    }

    /// The quest catalog.
    pub async fn catalog(&self) -> Result<Vec<Quest>, ApiError> {
        let url = format!("{}/v1/quests", self.quest_api);
        Ok(self
            .send::<QuestCatalog>(QUESTS, self.http.get(url))
            .await?
            .0
            .quests)
    }

    /// A character's quest standings.
    pub async fn quests(&self, id: CharacterId) -> Result<Vec<QuestProgress>, ApiError> {
        let url = format!("{}/v1/characters/{id}/quests", self.quest_api);
        Ok(self
            .send::<CharacterQuests>(QUESTS, self.http.get(url))
            .await?
            .0
            .quests)
    }

    /// Accepts a quest.
    pub async fn accept(
        &self,
        id: CharacterId,
        quest: &QuestId,
    ) -> Result<QuestProgress, ApiError> {
        let url = format!(
            "{}/v1/characters/{id}/quests/{quest}/accept",
            self.quest_api
        );
        Ok(self.send(QUESTS, self.http.post(url)).await?.0)
    }

    /// Reports progress; idempotent by `event_id`, so retrying with the same id is safe.
    pub async fn progress(
        &self,
        id: CharacterId,
        quest: &QuestId,
        event_id: EventId,
        objective: u8,
        amount: u32,
    ) -> Result<ProgressOutcome, ApiError> {
        let url = format!(
            "{}/v1/characters/{id}/quests/{quest}/progress",
            self.quest_api
        );
        let event = ProgressEvent {
            event_id,
            objective,
            amount,
        };
        Ok(self.send(QUESTS, self.http.post(url).json(&event)).await?.0)
    }
}

/// Runs `call` until it succeeds or fails for good, backing off from 200 ms to 5 s between
/// transient failures. Used for saves and quest events, which must not be lost while an
/// API restarts.
pub async fn with_retry<T, F, Fut>(mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut delay = Duration::from_millis(200);
    loop {
        match call().await {
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}
