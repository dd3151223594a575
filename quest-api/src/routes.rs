//! The HTTP routes: the catalog, a character's quest log, accept, progress, and the
//! operational endpoints. [`configure`] registers them all, with the service token on
//! `/v1`, the 404 and 405 fallbacks and the extractor settings.

use std::sync::OnceLock;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use protocol::http::Problem;
use protocol::http::quest::{
    CharacterQuests, MAX_PROGRESS_AMOUNT, ProgressEvent, ProgressOutcome, Quest, QuestCatalog,
    QuestProgress,
};
use protocol::{CharacterId, QuestId};
use serde::Serialize;
use utoipa::OpenApi;

use service_kit::routing::{Endpoint, not_found};
use service_kit::time::now_millis;

use crate::error::ApiError;
use crate::{AppState, openapi};

/// Largest JSON body accepted (a progress event is under 100 bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

type State = web::Data<AppState>;

/// Registers every route, the fallbacks for unknown paths and methods, and the extractor
/// settings. Expects a `web::Data<AppState>` and the
/// [`ServiceToken`](service_kit::auth::ServiceToken) in the app (see [`crate::run`], which
/// also adds the request metrics and the problem fallback).
pub fn configure(cfg: &mut web::ServiceConfig) {
    service_kit::framework::configure_extractors(cfg, MAX_BODY_BYTES);
    cfg.service(Endpoint::new("/healthz").get(healthz))
        .service(Endpoint::new("/readyz").get(readyz))
        .service(Endpoint::new("/metrics").get(render_metrics))
        .service(Endpoint::new("/openapi.json").get(openapi_json))
        .service(
            web::scope("/v1")
                .wrap(from_fn(service_kit::auth::require_service_token))
                .service(Endpoint::new("/quests").get(list_quests))
                .service(Endpoint::new("/quests/{quest_id}").get(get_quest))
                .service(Endpoint::new("/characters/{id}/quests").get(character_quests))
                .service(
                    Endpoint::new("/characters/{id}/quests/{quest_id}/accept").post(accept_quest),
                )
                .service(
                    Endpoint::new("/characters/{id}/quests/{quest_id}/progress")
                        .post(record_progress),
                )
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}

/// Every operation [`configure`] serves, for the OpenAPI document ([`openapi::document`]
/// adds the title, tags and security scheme around them).
#[derive(OpenApi)]
#[openapi(paths(
    list_quests,
    get_quest,
    character_quests,
    accept_quest,
    record_progress,
    healthz,
    readyz,
    render_metrics,
    openapi_json,
))]
pub struct Operations;

/// User input quoted in an error detail: escaped, and cut short if long.
fn quoted(input: &str) -> String {
    const MAX: usize = 80;
    match input.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}...", &input[..end]),
        None => format!("{input:?}"),
    }
}

fn parse_character(text: &str) -> Result<CharacterId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            "malformed-id",
            format!(
                "{} is not a character id: expected a UUID such as \
                 67e55044-10b1-426f-9247-bb680e5fe0c8",
                quoted(text)
            ),
        )
    })
}

fn parse_quest_id(text: &str) -> Result<QuestId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            "malformed-id",
            format!(
                "{} is not a quest id: expected 1 to {} of a-z, 0-9, '-', '_'",
                quoted(text),
                QuestId::MAX_LEN
            ),
        )
    })
}

/// The catalog quest named by a path segment: 400 if malformed, 404 if unknown.
fn find_quest<'a>(state: &'a AppState, text: &str) -> Result<&'a Quest, ApiError> {
    let id = parse_quest_id(text)?;
    state.catalog.get(&id).ok_or_else(|| ApiError::NotFound {
        slug: "unknown-quest",
        detail: format!("no quest has the id `{id}`"),
    })
}

/// A liveness or readiness answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` (alive) or `ready` (serving).
    pub status: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health))
)]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the store takes requests (sled is flushing; the database answers) and the
/// service is not shutting down.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Serving", body = Health),
        (status = 503, description = "Shutting down, the store failing, or the database \
            unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(state: State) -> Result<web::Json<Health>, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::Unavailable("shutting down".to_owned()));
    }
    state.store.ready().await?;
    Ok(web::Json(Health { status: "ready" }))
}

/// Prometheus text exposition of this process's metrics.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4"))
)]
pub async fn render_metrics() -> HttpResponse {
    service_kit::metrics::response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub async fn openapi_json() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    service_kit::openapi::response(&JSON, || {
        openapi::document(Operations::openapi(), MAX_BODY_BYTES)
    })
}

/// The whole quest catalog.
#[utoipa::path(
    get, path = "/v1/quests", tag = "quests",
    security(("service_token" = [])),
    responses(
        (status = 200, description = "Every quest, in catalog order", body = QuestCatalog),
        (status = 401, description = "Missing or wrong service token", body = Problem,
            content_type = "application/problem+json"),
    )
)]
pub async fn list_quests(state: State) -> web::Json<QuestCatalog> {
    web::Json(QuestCatalog {
        quests: state.catalog.quests().to_vec(),
    })
}

/// One quest of the catalog.
#[utoipa::path(
    get, path = "/v1/quests/{quest_id}", tag = "quests",
    security(("service_token" = [])),
    params(("quest_id" = QuestId, Path, description = "The quest's id")),
    responses(
        (status = 200, description = "The quest", body = Quest),
        (status = 400, description = "Malformed quest id", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such quest", body = Problem,
            content_type = "application/problem+json"),
    )
)]
pub async fn get_quest(
    state: State,
    path: web::Path<String>,
) -> Result<web::Json<Quest>, ApiError> {
    Ok(web::Json(find_quest(&state, &path)?.clone()))
}

/// Every catalog quest with the character's standing (locked, available, active or
/// completed) and objective counters. Character ids are not checked against
/// character-api: an unknown character has every quest locked or available.
#[utoipa::path(
    get, path = "/v1/characters/{id}/quests", tag = "progress",
    security(("service_token" = [])),
    params(("id" = CharacterId, Path, description = "The character's id (a UUID)")),
    responses(
        (status = 200, description = "The character's quest log", body = CharacterQuests),
        (status = 400, description = "Malformed character id", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token", body = Problem,
            content_type = "application/problem+json"),
        (status = 500, description = "Storage failure", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "Shutting down, or the database unreachable or too slow \
            (`Retry-After` says when to try again); a write may or may not have been applied",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn character_quests(
    state: State,
    path: web::Path<String>,
) -> Result<web::Json<CharacterQuests>, ApiError> {
    let character = parse_character(&path)?;
    let quests = state
        .store
        .character_quests(state.catalog.clone(), character)
        .await?;
    Ok(web::Json(quests))
}

/// Accepts a quest for a character: every prerequisite must be completed, and the quest
/// must never have been accepted. Answered once durable.
#[utoipa::path(
    post, path = "/v1/characters/{id}/quests/{quest_id}/accept", tag = "progress",
    security(("service_token" = [])),
    params(
        ("id" = CharacterId, Path, description = "The character's id (a UUID)"),
        ("quest_id" = QuestId, Path, description = "The quest's id"),
    ),
    responses(
        (status = 200, description = "Accepted: the quest is active with zeroed counters",
            body = QuestProgress),
        (status = 400, description = "Malformed id", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such quest", body = Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "Already active (`quest-already-active`), already \
            completed (`quest-already-completed`), or prerequisites not completed \
            (`quest-locked`)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Storage failure", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "Shutting down, or the database unreachable or too slow \
            (`Retry-After` says when to try again); a write may or may not have been applied",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn accept_quest(
    state: State,
    path: web::Path<(String, String)>,
) -> Result<web::Json<QuestProgress>, ApiError> {
    let character = parse_character(&path.0)?;
    let quest = find_quest(&state, &path.1)?.clone();
    let progress = state
        .store
        .accept(state.catalog.clone(), character, quest, now_millis())
        .await?;
    Ok(web::Json(progress))
}

/// Records progress on an objective of an active quest. Idempotent by `event_id`: a
/// repeated event id is answered with the first answer (`duplicate: true`) and counts
/// nothing. Counters stop at the objective's count; the event that meets the last
/// objective completes the quest, and only its answer (and its replays) carries the
/// rewards. Answered once durable.
#[utoipa::path(
    post, path = "/v1/characters/{id}/quests/{quest_id}/progress", tag = "progress",
    security(("service_token" = [])),
    params(
        ("id" = CharacterId, Path, description = "The character's id (a UUID)"),
        ("quest_id" = QuestId, Path, description = "The quest's id"),
    ),
    request_body = ProgressEvent,
    responses(
        (status = 200, description = "Counted (or a replay of an event already counted)",
            body = ProgressOutcome),
        (status = 400, description = "Malformed id or body, an objective the quest does not \
            have (`objective-out-of-range`), or an amount outside 1 to 2147483647 \
            (`invalid-amount`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such quest", body = Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "The quest is not active (`quest-not-active`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the size limit (see the description)", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "The event id was used before for a different event \
            (`event-id-reused`)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Storage failure", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "Shutting down, or the database unreachable or too slow \
            (`Retry-After` says when to try again); a write may or may not have been applied",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_progress(
    state: State,
    path: web::Path<(String, String)>,
    body: web::Json<ProgressEvent>,
) -> Result<web::Json<ProgressOutcome>, ApiError> {
    let character = parse_character(&path.0)?;
    let quest = find_quest(&state, &path.1)?.clone();
    let event = body.into_inner();
    if usize::from(event.objective) >= quest.objectives.len() {
        return Err(ApiError::bad_request(
            "objective-out-of-range",
            format!(
                "objective {} does not exist: quest `{}` has {} objective(s), numbered from 0",
                event.objective,
                quest.id,
                quest.objectives.len()
            ),
        ));
    }
    if !(1..=MAX_PROGRESS_AMOUNT).contains(&event.amount) {
        return Err(ApiError::bad_request(
            "invalid-amount",
            format!(
                "amount must be 1 to {MAX_PROGRESS_AMOUNT}, got {}",
                event.amount
            ),
        ));
    }
    let outcome = state
        .store
        .record_progress(character, quest, event, now_millis())
        .await?;
    Ok(web::Json(outcome))
}
