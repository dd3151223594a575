//! The OpenAPI document's frame (`GET /openapi.json`): the title, the description, the tags
//! and the bearer scheme. The operations come from the handlers' `#[utoipa::path]`
//! annotations, listed by `routes::Operations` next to the route table, and the
//! bodies' schemas (with every limit the server enforces) from the `protocol` types: so the
//! document cannot drift from the code, and this module needs nothing from the routes.

use service_kit::openapi::bearer;
use utoipa::OpenApi;

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
    tags(
        (name = "characters", description = "Characters; every call needs the service token."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    )
)]
struct Frame;

/// The whole document: the frame around `operations`, with the security schemes the
/// operations name and the body size limit the server enforces (`body_limit` bytes).
pub fn document(
    operations: utoipa::openapi::OpenApi,
    body_limit: usize,
) -> utoipa::openapi::OpenApi {
    service_kit::openapi::document(
        Frame::openapi(),
        operations,
        vec![(
            "bearer",
            bearer(
                "The service token (`--service-token`), shared by zones and the manager.",
                None,
            ),
        )],
        body_limit,
    )
}
