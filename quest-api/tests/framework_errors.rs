//! Every framework-level failure is a problem (`application/problem+json`) with its own
//! status: 404 for unknown paths, 405 with `Allow`, 413 for an oversized body, 400 for bad
//! JSON, 415 for a body declared as something other than JSON.

mod support;

test_support::on_both_backends!(framework_errors_are_problems,);

use protocol::{CharacterId, EventId};
use serde_json::json;
use support::{QuestCalls, TestServer};
use test_support::{Backend, TestStore, assert_problem};

async fn framework_errors_are_problems(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    let me = CharacterId::new_random();
    assert_eq!(api.accept(me, "wolf-cull").await.status(), 200);
    let before = api.quests_of(me).await;
    let progress = format!("/v1/characters/{me}/quests/wolf-cull/progress");

    let p = assert_problem(api.get("/v2/nothing").send().await.unwrap(), 404).await;
    assert!(p.problem_type.ends_with(":no-route"), "{p:?}");

    let r = api.get(&progress).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    let p = assert_problem(r, 405).await;
    assert!(p.problem_type.ends_with(":method-not-allowed"), "{p:?}");
    let r = api.http.delete(api.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    assert_problem(r, 405).await;

    let r = api
        .post(&progress)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"event_id\":\"{}\",\"objective\":0,\"amount\":1,\"pad\":\"{}\"}}",
            EventId::new_random(),
            "x".repeat(32 * 1024)
        ))
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 413).await;
    assert!(p.problem_type.ends_with(":body-too-large"), "{p:?}");

    let r = api
        .post(&progress)
        .header("content-type", "application/json")
        .body("{\"event_id\": ")
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 400).await;
    assert!(p.problem_type.ends_with(":malformed-json"), "{p:?}");

    let event = json!({"event_id": EventId::new_random(), "objective": 0, "amount": 1});
    let r = api
        .post(&progress)
        .header("content-type", "text/plain")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 415).await;
    assert!(p.problem_type.ends_with(":unsupported-media-type"), "{p:?}");

    assert_eq!(api.quests_of(me).await, before, "nothing changed");
    server.stop().await;
}
