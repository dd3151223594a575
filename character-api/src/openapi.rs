//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! the protocol types' schemas, so it cannot drift from the code.

use std::sync::OnceLock;

use protocol::http::Problem;
use protocol::http::character::{
    Character, CharacterList, CharacterUpdate, CreateCharacter, Inventory, Skill, Stats,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The document's root: every route and the schemas they name.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "character-api",
        description = "Characters of the zone cluster: account, position, stats, inventory. \
            Every write is compare-and-set on the character's version (`If-Match`) and is \
            answered only once it is on disk. Every error is `application/problem+json`.",
    ),
    paths(
        routes::create_character,
        routes::get_character,
        routes::list_characters,
        routes::update_character,
        routes::delete_character,
        routes::healthz,
        routes::readyz,
        routes::metrics,
        routes::openapi,
    ),
    components(schemas(
        Character,
        CharacterUpdate,
        CreateCharacter,
        CharacterList,
        Stats,
        Inventory,
        Skill,
        Problem
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "characters", description = "Characters; every call needs the service token."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the `/v1` operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The service token (`--service-token`), shared by zones and the manager.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}
