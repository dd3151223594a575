//! What a game client gets from the manager besides the join: the web client's files at
//! `/play/` (linked from the dashboard), the world grid at `GET /v1/world`, and the development login, which exists
//! only with `--dev-login` (refused with a `403` that says so otherwise) and gives a
//! character and a join token that joins for real (real character-api, stand-in zones).

mod support;

use std::time::Duration;

use protocol::http::Problem;
use protocol::http::manager::JoinResponse;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;
use protocol::{AccountId, AreaId, WorldGrid};
use serde_json::{Value, json};
use support::*;
use test_support::{NatsServer, wait_for};

async fn dev_login(url: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{url}/v1/dev/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn problem(res: reqwest::Response, status: u16) -> Problem {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["content-type"], PROBLEM_CONTENT_TYPE);
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_and_the_world_grid_are_served_and_the_dev_login_is_off_by_default() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), &nats, "http://127.0.0.1:9");
    let grid = config.grid;
    let manager = TestManager::start(config).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{}{path}", manager.url)).send();

    // `/play` sends the browser to `/play/`, so the page's relative links resolve there.
    let res = get("/play").await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "play/");

    let res = get("/play/").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self' ws: wss:"));
    let page = res.text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="js/main.js">"#));

    for (path, content_type) in [
        ("/play/js/main.js", "text/javascript; charset=utf-8"),
        ("/play/js/protocol.js", "text/javascript; charset=utf-8"),
        ("/play/play.css", "text/css; charset=utf-8"),
        ("/play/test/", "text/html; charset=utf-8"),
        ("/play/test/vectors.json", "application/json"),
    ] {
        let res = get(path).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], content_type, "{path}");
    }
    problem(get("/play/js/nothing.js").await.unwrap(), 404).await;

    // The dashboard links to it.
    let dashboard = get("/").await.unwrap().text().await.unwrap();
    assert!(dashboard.contains(r#"href="/play/""#));

    // The grid, as the manager (and so every zone) has it.
    let world: WorldGrid = get("/v1/world").await.unwrap().json().await.unwrap();
    assert_eq!(world, grid);

    // No `--dev-login`: refused, saying how to turn it on.
    let p = problem(
        dev_login(&manager.url, json!({ "name": "Aria" })).await,
        403,
    )
    .await;
    assert!(p.detail.unwrap_or_default().contains("--dev-login"));
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dev_login_gives_a_character_and_a_token_that_joins() {
    let nats = NatsServer::start().unwrap();
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats, &api.url);
    config.spawn_areas = vec![AreaId::new(0, 0)];
    config.dev_login = true;
    let manager = TestManager::start(config).await;
    let zone = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for("spawn area allocated", Duration::from_secs(10), || async {
        zone.sim().holds().is_some()
    })
    .await;

    let res = dev_login(&manager.url, json!({ "name": "Aria" })).await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["name"], "Aria");
    assert_eq!(first["created"], true);
    let token = first["token"].as_str().unwrap();
    let account: AccountId = first["account_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        server_manager::auth::verify(JWT_SECRET.as_bytes(), token),
        Ok(account)
    );

    // The same name, in any case, comes back to the same character.
    let again: Value = dev_login(&manager.url, json!({ "name": "aRIA" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["character_id"], first["character_id"]);
    assert_eq!(again["created"], false);

    // The token joins like one from an identity provider.
    let res = http()
        .post(format!("{}/v1/join", manager.url))
        .bearer_auth(token)
        .json(&json!({ "character_id": first["character_id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let join: JoinResponse = res.json().await.unwrap();
    assert_eq!(join.area, AreaId::new(0, 0));
    assert_eq!(join.zone_url, zone.ws_url);

    // A name another account holds, a bad name, a body that is not JSON.
    let other = api.create(AccountId::new_random()).await;
    let taken: Value = http()
        .get(format!("{}/v1/characters/{other}", api.url))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = problem(
        dev_login(&manager.url, json!({ "name": taken["name"] })).await,
        409,
    )
    .await;
    assert!(p.detail.unwrap_or_default().contains("another account"));
    problem(dev_login(&manager.url, json!({ "name": "x" })).await, 400).await;
    problem(
        dev_login(&manager.url, json!({ "name": "Aria", "admin": true })).await,
        400,
    )
    .await;
    let res = http()
        .post(format!("{}/v1/dev/login", manager.url))
        .body("name=Aria")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    manager.stop().await;
}
