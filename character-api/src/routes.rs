//! The HTTP surface: routes, handlers, and the extractor settings that turn bad input into
//! `400` problems instead of actix-web's plain-text defaults.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::http::header::{self, ContentType};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use protocol::http::character::{
    Character, CharacterList, CharacterUpdate, CreateCharacter, Inventory, Skill, Stats,
    validate_name,
};
use protocol::http::{Problem, etag, parse_if_match};
use protocol::{AccountId, AreaId, CharacterId, WorldGrid};
use utoipa::OpenApi;

use service_kit::routing::{Endpoint, not_found};
use service_kit::time::now_millis;

use crate::config::JSON_LIMIT;
use crate::error::ApiError;
use crate::store::{CharacterStore, StoreError};

/// Health a new character starts with (and its maximum).
pub const START_HEALTH: u32 = 100;
/// Coins a new character starts with: enough to buy a first item.
pub const START_COINS: u64 = 50;

/// What every handler shares.
pub struct AppState {
    /// Where the characters are kept.
    pub store: Arc<dyn CharacterStore>,
    /// Set when shutdown begins, so `/readyz` sends traffic elsewhere while in-flight
    /// requests finish.
    pub stopping: AtomicBool,
}

/// Registers every route, the fallbacks for unknown paths and methods, and the extractor
/// settings. The application must also hold a `web::Data<AppState>` and the
/// [`ServiceToken`](service_kit::auth::ServiceToken) (see `run`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    service_kit::framework::configure_extractors(cfg, JSON_LIMIT);
    cfg.service(Endpoint::new("/healthz").get(healthz))
        .service(Endpoint::new("/readyz").get(readyz))
        .service(Endpoint::new("/metrics").get(metrics))
        .service(Endpoint::new("/openapi.json").get(openapi))
        .service(
            web::scope("/v1")
                .wrap(from_fn(service_kit::auth::require_service_token))
                .service(Endpoint::new("/characters").post(create_character))
                .service(
                    Endpoint::new("/characters/{id}")
                        .get(get_character)
                        .put(update_character)
                        .delete(delete_character),
                )
                .service(Endpoint::new("/accounts/{account_id}/characters").get(list_characters))
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}

/// Every operation [`configure`] serves, for the OpenAPI document
/// ([`crate::openapi::document`] adds the title, tags and security scheme around them).
#[derive(OpenApi)]
#[openapi(paths(
    create_character,
    get_character,
    list_characters,
    update_character,
    delete_character,
    healthz,
    readyz,
    metrics,
    openapi,
))]
pub struct Operations;

fn character_id(text: &str) -> Result<CharacterId, ApiError> {
    text.parse()
        .map_err(|e| ApiError::BadRequest(format!("{e} (in the path)")))
}

/// The version `If-Match` names. Writes must name one: a blind overwrite (`*` or no
/// header) could put back state that a newer owner has replaced.
fn if_match(req: &HttpRequest) -> Result<u64, ApiError> {
    let required = || {
        ApiError::PreconditionRequired(
            "writes must carry `If-Match: \"<version>\"` naming the version they read \
             (the ETag of the GET); `*` is not accepted"
                .to_owned(),
        )
    };
    let mut values = req.headers().get_all(header::IF_MATCH);
    let value = values.next().ok_or_else(required)?;
    if values.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one If-Match header naming one version".to_owned(),
        ));
    }
    let text = value.to_str().unwrap_or("");
    if text.trim() == "*" {
        return Err(required());
    }
    parse_if_match(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "If-Match must be one version in quotes, like \"3\"; got {:?}",
            text.chars().take(40).collect::<String>()
        ))
    })
}

/// The `ApiError` for a refused operation on `id` that named version `sent`.
fn store_failed(e: StoreError, id: CharacterId, sent: u64) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound(format!("no character {id}")),
        StoreError::Stale { current } => ApiError::Stale { sent, current },
        StoreError::NameTaken(name) => ApiError::NameTaken(name),
        StoreError::Unavailable(e) => ApiError::Unavailable(e),
        StoreError::Internal(e) => ApiError::Internal(e),
    }
}

fn with_etag(
    mut res: actix_web::HttpResponseBuilder,
    version: u64,
) -> actix_web::HttpResponseBuilder {
    res.insert_header((header::ETAG, etag(version)));
    res
}

/// A new character: standing in the middle of area 0-0 of the default world grid, full
/// health, level 1, no experience, empty slots and a few coins.
pub fn new_character(req: CreateCharacter) -> Character {
    let area = AreaId::new(0, 0);
    let now = now_millis();
    Character {
        id: CharacterId::new_random(),
        account_id: req.account_id,
        name: req.name,
        version: 1,
        area,
        position: WorldGrid::default().bounds(area).centre(),
        yaw: 0.0,
        stats: Stats {
            health: START_HEALTH,
            max_health: START_HEALTH,
            level: 1,
            xp: Skill::ALL.iter().map(|s| (*s, 0)).collect(),
        },
        inventory: Inventory {
            coins: START_COINS,
            ..Inventory::empty()
        },
        created_at: now,
        updated_at: now,
    }
}

/// Creates a character.
#[utoipa::path(
    post,
    path = "/v1/characters",
    tag = "characters",
    request_body = CreateCharacter,
    responses(
        (status = 201, description = "Created, at version 1.", body = Character, headers(
            ("ETag" = String, description = "The version in quotes: `\"1\"`."),
            ("Location" = String, description = "The new character's URL.")
        )),
        (status = 400, description = "Malformed body, or a name that breaks the rules (3 to 20 characters; letters, digits, `_` or `-`; starting with a letter).", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken (names are unique case-insensitively).", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the size limit (see the description).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Storage failure.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Shutting down, the database unreachable, or the write could not be confirmed durable (it may or may not have been applied: read before retrying); `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_character(
    state: web::Data<AppState>,
    body: web::Json<CreateCharacter>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    validate_name(&body.name).map_err(|e| ApiError::Invalid(vec![e]))?;
    let character = new_character(body);
    state
        .store
        .create(&character)
        .await
        .map_err(|e| store_failed(e, character.id, 0))?;
    tracing::info!(id = %character.id, account = %character.account_id, "character created");
    Ok(with_etag(HttpResponse::Created(), character.version)
        .insert_header((header::LOCATION, format!("/v1/characters/{}", character.id)))
        .json(&character))
}

/// Reads a character.
#[utoipa::path(
    get,
    path = "/v1/characters/{id}",
    tag = "characters",
    params(("id" = CharacterId, Path, description = "The character.")),
    responses(
        (status = 200, description = "The character.", body = Character, headers(
            ("ETag" = String, description = "The version in quotes, for `If-Match` on the next write.")
        )),
        (status = 400, description = "Malformed id.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such character.", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Storage failure.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unreachable or did not answer in time; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_character(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = character_id(&path)?;
    let stored = state
        .store
        .get(id)
        .await
        .map_err(|e| store_failed(e, id, 0))?
        .ok_or_else(|| ApiError::NotFound(format!("no character {id}")))?;
    Ok(with_etag(HttpResponse::Ok(), stored.version)
        .content_type(ContentType::json())
        .body(stored.json))
}

/// Lists an account's characters, oldest first.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account_id}/characters",
    tag = "characters",
    params(("account_id" = AccountId, Path, description = "The owning account.")),
    responses(
        (status = 200, description = "The account's characters (empty if it has none).", body = CharacterList),
        (status = 400, description = "Malformed id.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token.", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Storage failure.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unreachable or did not answer in time; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_characters(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account: AccountId = path
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("{e} (in the path)")))?;
    let characters = state.store.list(account).await.map_err(|e| match e {
        StoreError::Unavailable(e) => ApiError::Unavailable(e),
        other => ApiError::Internal(other.to_string()),
    })?;
    Ok(HttpResponse::Ok().json(CharacterList { characters }))
}

/// Saves a character: compare-and-set on the version `If-Match` names.
#[utoipa::path(
    put,
    path = "/v1/characters/{id}",
    tag = "characters",
    params(
        ("id" = CharacterId, Path, description = "The character."),
        ("If-Match" = String, Header, pattern = r#"^(W/)?"[0-9]{1,20}"$"#, description = "The version this write is based on, in quotes (`\"3\"`; a weak `W/\"3\"` compares equal): the ETag of the last read or write. Required: without it (or with `*`) the answer is 428."),
    ),
    request_body(content = CharacterUpdate, description = "The GET representation; `id`, `account_id`, `version`, `created_at` and `updated_at` may be present and are ignored."),
    responses(
        (status = 200, description = "Saved: the new version.", body = Character, headers(
            ("ETag" = String, description = "The new version in quotes.")
        )),
        (status = 400, description = "Malformed body, id or If-Match, or a character that breaks the rules (non-finite numbers, too many slots, bad counts, bad name).", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such character.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Renamed to a name that is taken.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The version is stale: someone wrote since. The ETag header names the current version.", body = Problem, content_type = "application/problem+json", headers(
            ("ETag" = String, description = "The current version in quotes.")
        )),
        (status = 413, description = "The body is over the size limit (see the description).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing (or `*`).", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Storage failure.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Shutting down, the database unreachable, or the write could not be confirmed durable (it may or may not have been applied: read before retrying); `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn update_character(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<CharacterUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = character_id(&path)?;
    let expected = if_match(&req)?;
    let update = body.into_inner();
    let problems = update.problems();
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let character = state
        .store
        .update(id, expected, &update)
        .await
        .map_err(|e| store_failed(e, id, expected))?;
    Ok(with_etag(HttpResponse::Ok(), character.version).json(&character))
}

/// Deletes a character, releasing its name.
#[utoipa::path(
    delete,
    path = "/v1/characters/{id}",
    tag = "characters",
    params(
        ("id" = CharacterId, Path, description = "The character."),
        ("If-Match" = String, Header, pattern = r#"^(W/)?"[0-9]{1,20}"$"#, description = "The current version in quotes (`\"3\"`; a weak `W/\"3\"` compares equal). Required: without it (or with `*`) the answer is 428."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "Malformed id or If-Match.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong service token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such character.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The version is stale.", body = Problem, content_type = "application/problem+json", headers(
            ("ETag" = String, description = "The current version in quotes.")
        )),
        (status = 428, description = "If-Match is missing (or `*`).", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Storage failure.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Shutting down, the database unreachable, or the delete could not be confirmed durable; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete_character(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = character_id(&path)?;
    let expected = if_match(&req)?;
    state
        .store
        .delete(id, expected)
        .await
        .map_err(|e| store_failed(e, id, expected))?;
    tracing::info!(%id, "character deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up.")))]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the storage takes requests (sled is flushing; the database answers), and the
/// service is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic."),
        (status = 503, description = "Not ready: shutting down, storage failing, or the database unreachable.", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.stopping.load(Ordering::Relaxed) {
        return Err(ApiError::Unavailable("shutting down".into()));
    }
    if let Err(e) = state.store.ready().await {
        return Err(ApiError::Unavailable(e.to_string()));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format.", content_type = "text/plain")))]
pub(crate) async fn metrics() -> HttpResponse {
    service_kit::metrics::response()
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")))]
pub(crate) async fn openapi() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    service_kit::openapi::response(&JSON, || {
        crate::openapi::document(Operations::openapi(), JSON_LIMIT)
    })
}
