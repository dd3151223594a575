//! The OpenAPI document's frame (`GET /openapi.json`): the title, the description, the tags
//! and the bearer scheme. The operations come from the handlers' `#[utoipa::path]`
//! annotations, listed by `routes::Operations` next to the route table, and the
//! bodies' schemas (with every limit the server enforces) from the `protocol` types: so the
//! document cannot drift from the code, and this module needs nothing from the routes.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// What the document says besides its operations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "character-api",
        description = "Characters of the zone cluster: account, position, stats, inventory. \
            Every write is compare-and-set on the character's version (`If-Match`) and is \
            answered only once it is on disk. Every error is `application/problem+json`. \
            A JSON body must be sent as `application/json` (`415` otherwise).",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "characters", description = "Characters; every call needs the service token."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    )
)]
struct Frame;

/// The whole document: the frame around `operations`, stating the body size limit the
/// server enforces (`body_limit` bytes).
pub fn document(
    operations: utoipa::openapi::OpenApi,
    body_limit: usize,
) -> utoipa::openapi::OpenApi {
    let mut doc = Frame::openapi().merge_from(operations);
    if let Some(description) = &mut doc.info.description {
        description.push_str(&format!(
            " A request body is at most {body_limit} bytes (`413` past that)."
        ));
    }
    doc
}

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
