//! Player routing against a real character-api and stand-in zones over a real NATS:
//! a join, 100 concurrent joins to one unallocated area (one allocation), refused tokens,
//! 503 without an idle zone, and a stale map entry routed around.

mod support;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use protocol::http::Problem;
use protocol::http::manager::JoinResponse;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;
use protocol::{AccountId, AreaId, CharacterId};
use server_manager::auth::Claims;
use support::*;
use test_support::{NatsServer, wait_for};

async fn join(url: &str, token: Option<&str>, body: serde_json::Value) -> reqwest::Response {
    let mut req = http().post(format!("{url}/v1/join")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn join_ok(url: &str, account: AccountId, character: CharacterId) -> JoinResponse {
    let res = join(
        url,
        Some(&token_for(account)),
        serde_json::json!({ "character_id": character }),
    )
    .await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn problem(res: reqwest::Response, status: u16) -> Problem {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["content-type"], PROBLEM_CONTENT_TYPE);
    let p: Problem = res.json().await.unwrap();
    assert_eq!(p.status, status);
    p
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(secret: &[u8], sub: &str, exp: u64) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Claims {
            sub: sub.to_owned(),
            exp,
            iat: unix_now(),
        },
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_player_joins_the_zone_of_their_area() {
    let nats = NatsServer::start().unwrap();
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats, &api.url);
    config.spawn_areas = vec![AreaId::new(0, 0)];
    let manager = TestManager::start(config).await;
    let zones = [
        StandInZone::start(&nats, ZoneOptions::default()).await,
        StandInZone::start(&nats, ZoneOptions::default()).await,
    ];
    wait_for("spawn area allocated", Duration::from_secs(10), || async {
        zones.iter().any(|z| z.sim().holds().is_some())
    })
    .await;
    let owner = zones.iter().find(|z| z.sim().holds().is_some()).unwrap();
    let (_, epoch) = owner.sim().holds().unwrap();

    let account = AccountId::new_random();
    let character = api.create(account).await;
    let before = service_kit::time::now_millis();
    let res = join_ok(&manager.url, account, character).await;
    assert_eq!(res.area, AreaId::new(0, 0));
    assert_eq!(res.zone_url, owner.ws_url);
    assert!(res.expires_at >= before + 25_000 && res.expires_at <= before + 40_000);
    // The zone was told to expect exactly this player with exactly this ticket.
    let expects = owner.sim().expects;
    assert_eq!(expects.len(), 1);
    let x = expects[0];
    assert_eq!(
        (x.account, x.character, x.ticket, x.epoch, x.expires_at),
        (account, character, res.ticket, epoch, res.expires_at)
    );
    // A second join gets a fresh ticket.
    let again = join_ok(&manager.url, account, character).await;
    assert_ne!(again.ticket, res.ticket);

    let metrics = get_text(&format!("{}/metrics", manager.url)).await;
    assert!(
        metrics.contains("manager_joins_total{outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("manager_join_duration_seconds_bucket"));
    assert!(metrics.contains("manager_allocations_total{outcome=\"ok\"}"));
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_joins_to_an_unallocated_area_allocate_one_zone() {
    let nats = NatsServer::start().unwrap();
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    // No spawn area: the characters' area (0-0) is unallocated when the joins arrive.
    let manager = TestManager::start(test_config(dir.path(), &nats, &api.url)).await;
    let options = ZoneOptions {
        // A slow allocation keeps the window for duplicates wide open.
        allocate_delay: Duration::from_millis(100),
        ..ZoneOptions::default()
    };
    let mut zones = Vec::new();
    for _ in 0..5 {
        zones.push(StandInZone::start(&nats, options.clone()).await);
    }
    wait_for("zones registered", Duration::from_secs(5), || async {
        admin_get(&manager.url, "/v1/pool").await["idle"] == 5
    })
    .await;
    let mut players = Vec::new();
    for _ in 0..10 {
        let account = AccountId::new_random();
        players.push((account, api.create(account).await));
    }
    let joins = (0..100).map(|i| {
        let (account, character) = players[i % players.len()];
        let url = manager.url.clone();
        tokio::spawn(async move { join_ok(&url, account, character).await })
    });
    let answers: Vec<JoinResponse> = join_all(joins)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let allocations: usize = zones.iter().map(|z| z.sim().allocations.len()).sum();
    assert_eq!(allocations, 1, "exactly one Allocate for 100 joins");
    let owner = zones
        .iter()
        .find(|z| z.sim().holds().is_some())
        .expect("one zone holds the area");
    assert!(answers.iter().all(|a| a.zone_url == owner.ws_url));
    assert!(answers.iter().all(|a| a.area == AreaId::new(0, 0)));
    let tickets: HashSet<_> = answers.iter().map(|a| a.ticket).collect();
    assert_eq!(tickets.len(), 100, "every join gets its own ticket");
    assert_eq!(owner.sim().expects.len(), 100);
    let pool = admin_get(&manager.url, "/v1/pool").await;
    assert_eq!(
        (pool["idle"].as_u64(), pool["allocated"].as_u64()),
        (Some(4), Some(1))
    );
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let nats = NatsServer::start().unwrap();
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(dir.path(), &nats, &api.url)).await;
    let zone = StandInZone::start(&nats, ZoneOptions::default()).await;
    let url = &manager.url;
    let account = AccountId::new_random();
    let character = api.create(account).await;
    let body = serde_json::json!({ "character_id": character });

    // No token, a garbage token, a token signed with another secret, an expired token, a
    // token whose subject is not an account id: 401.
    let refused = [
        None,
        Some("not.a.jwt".to_owned()),
        Some(sign(
            b"someone-elses-secret",
            &account.to_string(),
            unix_now() + 600,
        )),
        Some(sign(
            JWT_SECRET.as_bytes(),
            &account.to_string(),
            unix_now() - 600,
        )),
        Some(sign(JWT_SECRET.as_bytes(), "admin", unix_now() + 600)),
    ];
    for token in refused {
        let res = join(url, token.as_deref(), body.clone()).await;
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        problem(res, 401).await;
    }
    // A valid token of another account: 403.
    let stranger = token_for(AccountId::new_random());
    let p = problem(join(url, Some(&stranger), body.clone()).await, 403).await;
    assert_eq!(p.problem_type, "urn:zone-cluster:problem:forbidden");
    // An unknown character: 404. A malformed body: 400.
    let own = token_for(account);
    let missing = serde_json::json!({ "character_id": CharacterId::new_random() });
    problem(join(url, Some(&own), missing).await, 404).await;
    for bad in [
        serde_json::json!({}),
        serde_json::json!({ "character_id": "nope" }),
        serde_json::json!({ "character_id": character, "extra": 1 }),
        serde_json::json!([1, 2]),
    ] {
        problem(join(url, Some(&own), bad).await, 400).await;
    }
    // Nothing was routed to the zone by any of these.
    assert!(zone.sim().expects.is_empty());
    assert!(zone.sim().allocations.is_empty());
    // And the real thing still works.
    join_ok(url, account, character).await;

    let metrics = get_text(&format!("{url}/metrics")).await;
    for reason in ["unauthorized", "forbidden", "not_found", "bad_request"] {
        assert!(
            metrics.contains(&format!(
                "manager_join_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason}: {metrics}"
        );
    }
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_join_without_an_idle_zone_is_503_with_retry_after() {
    let nats = NatsServer::start().unwrap();
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(dir.path(), &nats, &api.url)).await;
    let account = AccountId::new_random();
    let character = api.create(account).await;
    let res = join(
        &manager.url,
        Some(&token_for(account)),
        serde_json::json!({ "character_id": character }),
    )
    .await;
    assert_eq!(res.headers()["retry-after"], "2");
    let p = problem(res, 503).await;
    assert_eq!(p.problem_type, "urn:zone-cluster:problem:no-idle-zone");
    // A zone arrives: the same join now succeeds.
    let _zone = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for("zone registered", Duration::from_secs(5), || async {
        admin_get(&manager.url, "/v1/pool").await["idle"] == 1
    })
    .await;
    join_ok(&manager.url, account, character).await;
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_owner_is_routed_around() {
    let nats = NatsServer::start().unwrap();
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(dir.path(), &nats, &api.url)).await;
    let zones = [
        StandInZone::start(&nats, ZoneOptions::default()).await,
        StandInZone::start(&nats, ZoneOptions::default()).await,
    ];
    wait_for("zones registered", Duration::from_secs(5), || async {
        admin_get(&manager.url, "/v1/pool").await["idle"] == 2
    })
    .await;
    let account = AccountId::new_random();
    let character = api.create(account).await;
    join_ok(&manager.url, account, character).await;
    let owner = zones.iter().find(|z| z.sim().holds().is_some()).unwrap();
    let (_, epoch) = owner.sim().holds().unwrap();
    // The zone gives the area up behind the manager's back (before its next heartbeat).
    owner.give_up_area();
    // The next join meets `wrong_epoch`, forgets the stale owner and allocates again.
    let res = join_ok(&manager.url, account, character).await;
    let holder = zones.iter().find(|z| z.sim().holds().is_some()).unwrap();
    assert_eq!(res.zone_url, holder.ws_url);
    let (_, new_epoch) = holder.sim().holds().unwrap();
    assert!(new_epoch > epoch);
    manager.stop().await;
}
