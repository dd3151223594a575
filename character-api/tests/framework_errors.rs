//! Every framework-level failure is a problem (`application/problem+json`) with its own
//! status: 404 for unknown paths, 405 with `Allow`, 413 for an oversized body, 400 for bad
//! JSON, 415 for a body declared as something other than JSON.

mod support;

test_support::on_both_backends!(framework_errors_are_problems);

use protocol::AccountId;
use serde_json::json;
use support::{CharacterCalls, TestServer};
use test_support::assert_problem;
use test_support::{Backend, TestStore};

async fn framework_errors_are_problems(backend: Backend) {
    let env = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&env)).await;
    let api = server.client();
    let account = AccountId::new_random();

    let p = assert_problem(api.get("/v2/nothing").send().await.unwrap(), 404).await;
    assert!(p.problem_type.ends_with(":no-route"), "{p:?}");

    let r = api.delete("/v1/characters").send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    let p = assert_problem(r, 405).await;
    assert!(p.problem_type.ends_with(":method-not-allowed"), "{p:?}");
    let r = api.http.post(api.url("/metrics")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    assert_problem(r, 405).await;

    let huge = json!({ "account_id": account, "name": "x".repeat(128 * 1024) });
    let r = api.post("/v1/characters").json(&huge).send().await.unwrap();
    let p = assert_problem(r, 413).await;
    assert!(p.problem_type.ends_with(":body-too-large"), "{p:?}");

    let r = api
        .post("/v1/characters")
        .header("content-type", "application/json")
        .body("{\"account_id\": ")
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 400).await;
    assert!(p.problem_type.ends_with(":malformed-json"), "{p:?}");

    let r = api
        .post("/v1/characters")
        .header("content-type", "text/plain")
        .body(json!({ "account_id": account, "name": "Zed" }).to_string())
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 415).await;
    assert!(p.problem_type.ends_with(":unsupported-media-type"), "{p:?}");

    let r = api
        .http
        .get(api.url("/v1/characters/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_problem(r, 401).await;

    assert!(api.list(account).await.is_empty(), "nothing was created");
    server.stop().await;
}
