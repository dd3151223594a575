//! The OpenAPI document's frame (`GET /openapi.json`): the title, the description, the tags
//! and the service-token scheme. The operations come from the handlers' `#[utoipa::path]`
//! annotations, listed by `routes::Operations` next to the route table, and the
//! bodies' schemas (with every limit the server enforces) from the `protocol` types: so the
//! document cannot drift from the code, and this module needs nothing from the routes.

use service_kit::openapi::bearer;
use utoipa::OpenApi;

/// What the document says besides its operations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "quest-api",
        description = "The quest catalog and per-character quest progress of the zone \
            cluster. Every `/v1` call needs `Authorization: Bearer <service token>`. Every \
            error is `application/problem+json`. Writes are answered once durable on disk. \
            A JSON body must be sent as `application/json` (`415` otherwise).",
    ),
    tags(
        (name = "quests", description = "The quest catalog"),
        (name = "progress", description = "A character's quest progress"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
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
            "service_token",
            bearer(
                "The cluster's shared service token (`--service-token`).",
                None,
            ),
        )],
        body_limit,
    )
}
