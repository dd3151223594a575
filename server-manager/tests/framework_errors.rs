//! Every framework-level failure is a problem (`application/problem+json`) with its own
//! status: 404 for unknown paths, 405 with `Allow`, 413 for an oversized body, 400 for bad
//! JSON, 415 for a join body declared as something other than JSON.

mod support;

use protocol::http::Problem;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;
use protocol::{AccountId, CharacterId};
use support::*;
use test_support::NatsServer;

async fn problem(res: reqwest::Response, status: u16, slug: &str) -> Problem {
    assert_eq!(res.status(), status, "{}", res.url());
    assert_eq!(res.headers()["content-type"], PROBLEM_CONTENT_TYPE);
    let p: Problem = res.json().await.unwrap();
    assert_eq!(p.status, status);
    assert!(p.problem_type.ends_with(&format!(":{slug}")), "{p:?}");
    assert!(p.detail.as_deref().is_some_and(|d| !d.is_empty()), "{p:?}");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_errors_are_problems() {
    let nats = NatsServer::start().unwrap();
    let data = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(data.path(), &nats, "http://127.0.0.1:9")).await;
    let url = &manager.url;
    let http = http();
    let join = format!("{url}/v1/join");
    let token = token_for(AccountId::new_random());
    let body = serde_json::json!({ "character_id": CharacterId::new_random() }).to_string();

    problem(
        http.get(format!("{url}/v2/nothing")).send().await.unwrap(),
        404,
        "no-route",
    )
    .await;

    let r = http.get(&join).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    problem(r, 405, "method-not-allowed").await;
    let r = http.delete(format!("{url}/v1/zones")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    problem(r, 405, "method-not-allowed").await;

    let huge = format!("{{\"character_id\": \"{}\"}}", "x".repeat(64 * 1024));
    let r = http
        .post(&join)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(r, 413, "body-too-large").await;

    let r = http
        .post(&join)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"character_id\": ")
        .send()
        .await
        .unwrap();
    problem(r, 400, "malformed-json").await;

    let r = http
        .post(&join)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    problem(r, 415, "unsupported-media-type").await;

    // The token is checked before the body is looked at.
    let r = http
        .post(&join)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401, "unauthorized").await;

    let r = http
        .get(format!("{url}/v1/areas?allocated=maybe"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    problem(r, 400, "malformed-query").await;

    manager.stop().await;
}
