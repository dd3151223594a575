//! What a game client gets from the manager besides `POST /v1/join`: the web client's
//! files at `/play/` and the world grid at `GET /v1/world`.
//!
//! The web client is the repository's `web/` folder: plain static files (HTML, CSS and ES
//! modules; no build step, nothing fetched from elsewhere), compiled into the binary like
//! the dashboard's, so the page always speaks the protocol of the cluster that serves it and
//! nothing is read from disk at run time. Its codec tests ship with it (`/play/test/`):
//! they run in any browser, and in headless Chromium in `cluster-tests`.
//!
//! Positions on the client wire are world coordinates; a client needs the grid (columns,
//! rows, area edge, origin, handoff margin) to draw borders and know the area under a
//! point, and the grid is the manager's configuration: hence `GET /v1/world`, open like the
//! dashboard (it is no secret).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use protocol::WorldGrid;

use crate::manager::Manager;

/// One file of the web client.
struct Asset {
    /// Its path under `/play/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../../web/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json";

/// Every file of `web/`: a file missing here is a 404 in the browser (the Chromium tests
/// fail on any failed load).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("play.css", CSS),
    asset!("js/main.js", JS),
    asset!("js/msgpack.js", JS),
    asset!("js/protocol.js", JS),
    asset!("js/world.js", JS),
    asset!("js/session.js", JS),
    asset!("js/entities.js", JS),
    asset!("js/prediction.js", JS),
    asset!("js/controls.js", JS),
    asset!("js/render.js", JS),
    asset!("js/panels.js", JS),
    asset!("test/index.html", HTML),
    asset!("test/codec.test.js", JS),
    asset!("test/vectors.json", JSON),
];

/// The page may load only its own files and talk only to its own origin (join, login,
/// world, dashboard state) and to zones over WebSocket, wherever they are.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /play`: to `/play/`, so the page's relative links resolve under it.
pub async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "play/"))
        .finish()
}

/// `GET /play/{file}`: a file of the web client (a folder's `index.html` for the folder).
pub async fn file(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let path = req.match_info().query("file");
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return Ok(service_kit::routing::not_found(req).await?);
    };
    let mut res = HttpResponse::Ok();
    res.content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if asset.content_type == HTML {
        res.insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY));
    }
    Ok(res.body(asset.body))
}

/// The world grid every zone and the manager share: where areas are and how big.
#[utoipa::path(
    get,
    path = "/v1/world",
    tag = "players",
    responses((status = 200, description = "The grid: `columns` × `rows` square areas of `area_size` metres, the north-west corner at (`origin_x`, `origin_z`), and the `handoff_margin` a player walks past a border before being handed over. Area (x, z) covers `origin_x + x·area_size ≤ X < origin_x + (x+1)·area_size` and likewise for Z.", body = WorldGrid))
)]
pub async fn world(manager: web::Data<Manager>) -> HttpResponse {
    HttpResponse::Ok().json(manager.config().grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type_and_a_body() {
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            assert!(
                [HTML, JS, CSS, JSON].contains(&a.content_type),
                "{}",
                a.path
            );
            let ext = a.path.rsplit('.').next().unwrap_or_default();
            let expected = match ext {
                "html" => HTML,
                "js" => JS,
                "css" => CSS,
                "json" => JSON,
                other => panic!("{}: no type for .{other}", a.path),
            };
            assert_eq!(a.content_type, expected, "{}", a.path);
        }
    }
}
