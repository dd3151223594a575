//! The OpenAPI document (`GET /openapi.json`), generated from the handlers'
//! `#[utoipa::path]` annotations and the `protocol` types' schemas, so it cannot drift
//! from the code.

use std::sync::OnceLock;

use protocol::http::Problem;
use protocol::http::quest::{
    CharacterQuests, Objective, ObjectiveKind, ProgressEvent, ProgressOutcome, Quest, QuestCatalog,
    QuestProgress, QuestStatus, Rewards,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "quest-api",
        description = "The quest catalog and per-character quest progress of the zone \
            cluster. Every `/v1` call needs `Authorization: Bearer <service token>`. Every \
            error is `application/problem+json`. Writes are answered once durable on disk.",
    ),
    paths(
        routes::list_quests,
        routes::get_quest,
        routes::character_quests,
        routes::accept_quest,
        routes::record_progress,
        routes::healthz,
        routes::readyz,
        routes::render_metrics,
        routes::openapi_json,
    ),
    components(schemas(
        Problem,
        Quest,
        QuestCatalog,
        Objective,
        ObjectiveKind,
        Rewards,
        QuestProgress,
        QuestStatus,
        CharacterQuests,
        ProgressEvent,
        ProgressOutcome,
        routes::Health,
    )),
    modifiers(&ServiceToken),
    tags(
        (name = "quests", description = "The quest catalog"),
        (name = "progress", description = "A character's quest progress"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// Adds the `service_token` bearer scheme the `/v1` paths name.
struct ServiceToken;

impl Modify for ServiceToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "service_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The cluster's shared service token (`--service-token`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}
