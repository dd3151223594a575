//! The OpenAPI document's frame (`GET /openapi.json`): the title, the description, the tags
//! and the two security schemes (players' join tokens, the operators' admin token). The
//! operations come from the handlers' `#[utoipa::path]` annotations, listed by
//! `api::Operations` next to the route table, and the bodies' schemas from the
//! `protocol` types: so the document cannot drift from the code, and this module needs
//! nothing from the routes.

use service_kit::openapi::bearer;
use utoipa::OpenApi;

/// What the document says besides its operations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "server-manager",
        description = "The zone cluster's control plane: player routing (`POST /v1/join`, \
            with a player's join token; `GET /v1/world`, the grid its positions are in), the \
            development login (`POST /v1/dev/login`, only with `--dev-login`) and the operator \
            API (with the admin token). Every \
            error is `application/problem+json`; a `503` carries `Retry-After`. A JSON body \
            must be sent as `application/json` (`415` otherwise). The live dashboard (`GET /`, \
            `GET /v1/events`, `GET /v1/dashboard/state`) and the web client (`GET /play/`) are \
            for browsers and are not described here.",
    ),
    tags(
        (name = "players", description = "Routing a player's character to its zone, and the world grid."),
        (name = "development", description = "The development login: off unless the manager runs with `--dev-login`."),
        (name = "operators", description = "The zone pool and the area map; every call needs the admin token."),
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
        vec![
            (
                "player_token",
                bearer(
                    "A player's join token: an HS256 JWT signed with the manager's `--jwt-secret`, \
                 whose `sub` is the account id and `exp` is in the future.",
                    Some("JWT"),
                ),
            ),
            (
                "admin_token",
                bearer("The operators' token (`--admin-token`).", None),
            ),
        ],
        body_limit,
    )
}
