//! quest-api over real HTTP: a real server on a free loopback port, real sled in a temp
//! dir. Happy paths, prerequisites, conflicts, idempotent progress, every class of bad
//! input, restarts, and the generated OpenAPI document.

mod support;

test_support::on_both_backends!(
    catalog_is_listed_and_fetched,
    a_quest_is_accepted_progressed_and_completed_with_rewards_once,
    multi_objective_quests_and_prerequisite_chains,
    conflicts_are_409,
    concurrent_accepts_of_one_quest_let_exactly_one_win,
    progress_is_idempotent_by_event_id,
    bad_input_is_refused_clearly_and_changes_nothing,
    data_is_kept_across_a_restart,
    operational_endpoints,
    the_openapi_document_describes_the_api,
);

use std::collections::HashSet;

use protocol::http::quest::{
    CharacterQuests, ProgressOutcome, QuestCatalog, QuestProgress, QuestStatus, Rewards,
};
use protocol::http::{Problem, quest::Quest};
use protocol::{CharacterId, EventId};
use quest_api::Catalog;
use serde_json::{Value, json};
use support::{Api, QuestCalls, TOKEN, TestServer};
use test_support::{Backend, TestStore, assert_problem};

fn status_of(quests: &CharacterQuests, id: &str) -> QuestStatus {
    quests
        .quests
        .iter()
        .find(|q| q.quest_id.0 == id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .status
}

fn progress_of<'a>(quests: &'a CharacterQuests, id: &str) -> &'a QuestProgress {
    quests.quests.iter().find(|q| q.quest_id.0 == id).unwrap()
}

/// Accepts `quest` and meets every objective with one event each.
async fn complete(api: &Api, character: CharacterId, quest: &str) -> Rewards {
    assert_eq!(
        api.accept(character, quest).await.status(),
        200,
        "accept {quest}"
    );
    let catalog: Quest = api
        .get(&format!("/v1/quests/{quest}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut rewards = None;
    for (i, objective) in catalog.objectives.iter().enumerate() {
        let res = api
            .progress(
                character,
                quest,
                EventId::new_random(),
                u8::try_from(i).unwrap(),
                objective.count,
            )
            .await;
        assert_eq!(res.status(), 200);
        let outcome: ProgressOutcome = res.json().await.unwrap();
        rewards = outcome.rewards;
    }
    rewards.expect("the last objective completes the quest")
}

async fn catalog_is_listed_and_fetched(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;

    let res = api.get("/v1/quests").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let listed: QuestCatalog = res.json().await.unwrap();
    let builtin = Catalog::builtin().unwrap();
    assert_eq!(listed.quests, builtin.quests());

    let res = api.get("/v1/quests/wolf-cull").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let quest: Quest = res.json().await.unwrap();
    assert_eq!(
        &quest,
        builtin
            .quests()
            .iter()
            .find(|q| q.id.0 == "wolf-cull")
            .unwrap()
    );

    let p = assert_problem(
        api.get("/v1/quests/no-such-quest").send().await.unwrap(),
        404,
    )
    .await;
    assert!(p.detail.unwrap().contains("no-such-quest"));
    assert_problem(api.get("/v1/quests/Bad%20Id").send().await.unwrap(), 400).await;
    server.stop().await;
}

async fn a_quest_is_accepted_progressed_and_completed_with_rewards_once(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    let me = CharacterId::new_random();

    let log = api.quests_of(me).await;
    assert_eq!(log.character_id, me);
    assert_eq!(log.quests.len(), Catalog::builtin().unwrap().quests().len());
    assert_eq!(status_of(&log, "wolf-cull"), QuestStatus::Available);
    assert_eq!(status_of(&log, "pelt-trader"), QuestStatus::Locked);
    assert_eq!(status_of(&log, "bandit-menace"), QuestStatus::Locked);

    let res = api.accept(me, "boar-hunt").await;
    // boar-hunt needs wolf-cull.
    let p = assert_problem(res, 409).await;
    assert!(p.problem_type.ends_with("quest-locked"));
    assert!(p.detail.unwrap().contains("wolf-cull"));

    let res = api.accept(me, "wolf-cull").await;
    assert_eq!(res.status(), 200);
    let accepted: QuestProgress = res.json().await.unwrap();
    assert_eq!(accepted.status, QuestStatus::Active);
    assert_eq!(accepted.counters, vec![0]);
    assert!(accepted.accepted_at.is_some() && accepted.completed_at.is_none());

    // 3 + 1 of 5 wolves: active, no rewards.
    for (amount, expected) in [(3, 3), (1, 4)] {
        let res = api
            .progress(me, "wolf-cull", EventId::new_random(), 0, amount)
            .await;
        assert_eq!(res.status(), 200);
        let outcome: ProgressOutcome = res.json().await.unwrap();
        assert_eq!(outcome.progress.counters, vec![expected]);
        assert_eq!(outcome.progress.status, QuestStatus::Active);
        assert!(outcome.rewards.is_none() && !outcome.duplicate);
    }
    // 7 more: clamped at 5, completed, rewards.
    let finishing = EventId::new_random();
    let res = api.progress(me, "wolf-cull", finishing, 0, 7).await;
    assert_eq!(res.status(), 200);
    let done: ProgressOutcome = res.json().await.unwrap();
    assert_eq!(done.progress.counters, vec![5]);
    assert_eq!(done.progress.status, QuestStatus::Completed);
    assert!(done.progress.completed_at.is_some());
    let wolf = Catalog::builtin().unwrap();
    let wolf = wolf
        .quests()
        .iter()
        .find(|q| q.id.0 == "wolf-cull")
        .unwrap();
    assert_eq!(done.rewards.as_ref(), Some(&wolf.rewards));
    assert!(!done.duplicate);

    // The replay of the completing event carries the rewards again (same answer)...
    let res = api.progress(me, "wolf-cull", finishing, 0, 7).await;
    assert_eq!(res.status(), 200);
    let replay: ProgressOutcome = res.json().await.unwrap();
    assert!(replay.duplicate);
    assert_eq!(replay.progress, done.progress);
    assert_eq!(replay.rewards, done.rewards);
    // ...but no new event can: the quest is no longer active.
    let p = assert_problem(
        api.progress(me, "wolf-cull", EventId::new_random(), 0, 1)
            .await,
        409,
    )
    .await;
    assert!(p.problem_type.ends_with("quest-not-active"));

    let log = api.quests_of(me).await;
    assert_eq!(status_of(&log, "wolf-cull"), QuestStatus::Completed);
    assert_eq!(progress_of(&log, "wolf-cull").counters, vec![5]);
    // Its dependants unlocked; bandit-menace still needs boar-hunt and scout-the-east.
    assert_eq!(status_of(&log, "pelt-trader"), QuestStatus::Available);
    assert_eq!(status_of(&log, "boar-hunt"), QuestStatus::Available);
    assert_eq!(status_of(&log, "bandit-menace"), QuestStatus::Locked);
    server.stop().await;
}

async fn multi_objective_quests_and_prerequisite_chains(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    let me = CharacterId::new_random();

    complete(api, me, "wolf-cull").await;
    // boar-hunt: kill 3 boars and gather 2 tusks; meeting only one objective is not enough.
    assert_eq!(api.accept(me, "boar-hunt").await.status(), 200);
    let res = api
        .progress(me, "boar-hunt", EventId::new_random(), 0, 3)
        .await;
    let outcome: ProgressOutcome = res.json().await.unwrap();
    assert_eq!(outcome.progress.counters, vec![3, 0]);
    assert_eq!(outcome.progress.status, QuestStatus::Active);
    assert!(outcome.rewards.is_none());
    let res = api
        .progress(me, "boar-hunt", EventId::new_random(), 0, 3)
        .await;
    let outcome: ProgressOutcome = res.json().await.unwrap();
    assert_eq!(outcome.progress.counters, vec![3, 0], "clamped");
    let res = api
        .progress(me, "boar-hunt", EventId::new_random(), 1, 2)
        .await;
    let outcome: ProgressOutcome = res.json().await.unwrap();
    assert_eq!(outcome.progress.status, QuestStatus::Completed);
    assert!(outcome.rewards.is_some());

    let p = assert_problem(api.accept(me, "bandit-menace").await, 409).await;
    let detail = p.detail.unwrap();
    assert!(
        detail.contains("scout-the-east") && !detail.contains("boar-hunt"),
        "{detail}"
    );
    complete(api, me, "scout-the-east").await;
    assert_eq!(
        status_of(&api.quests_of(me).await, "bandit-menace"),
        QuestStatus::Available
    );
    let rewards = complete(api, me, "bandit-menace").await;
    assert_eq!(rewards.items.len(), 1);
    server.stop().await;
}

async fn conflicts_are_409(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    let me = CharacterId::new_random();

    // Progress on a quest never accepted.
    let p = assert_problem(
        api.progress(me, "herbalist", EventId::new_random(), 0, 1)
            .await,
        409,
    )
    .await;
    assert!(p.problem_type.ends_with("quest-not-active"));
    // That refused event id was not spent: after accepting, it counts.
    assert_eq!(api.accept(me, "herbalist").await.status(), 200);
    let p = assert_problem(api.accept(me, "herbalist").await, 409).await;
    assert!(p.problem_type.ends_with("quest-already-active"));
    complete_active(api, me).await;
    let p = assert_problem(api.accept(me, "herbalist").await, 409).await;
    assert!(p.problem_type.ends_with("quest-already-completed"));
    server.stop().await;

    async fn complete_active(api: &Api, me: CharacterId) {
        let res = api
            .progress(me, "herbalist", EventId::new_random(), 0, 5)
            .await;
        let outcome: ProgressOutcome = res.json().await.unwrap();
        assert_eq!(outcome.progress.status, QuestStatus::Completed);
    }
}

async fn concurrent_accepts_of_one_quest_let_exactly_one_win(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let me = CharacterId::new_random();
    let answers = futures_join(
        (0..16)
            .map(|_| {
                let api = server.api.clone();
                async move { api.accept(me, "herbalist").await.status().as_u16() }
            })
            .collect(),
    )
    .await;
    assert_eq!(
        answers.iter().filter(|&&s| s == 200).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|&&s| s == 409).count(),
        15,
        "{answers:?}"
    );
    server.stop().await;
}

/// Runs futures concurrently on the runtime and collects their outputs in order.
async fn futures_join<T: Send + 'static>(
    futures: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn progress_is_idempotent_by_event_id(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    let me = CharacterId::new_random();
    assert_eq!(api.accept(me, "herbalist").await.status(), 200);

    // Sequential replay: counted once, same answer, flagged duplicate.
    let event = EventId::new_random();
    let first: ProgressOutcome = api
        .progress(me, "herbalist", event, 0, 2)
        .await
        .json()
        .await
        .unwrap();
    let again: ProgressOutcome = api
        .progress(me, "herbalist", event, 0, 2)
        .await
        .json()
        .await
        .unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(first.progress, again.progress);
    assert_eq!(first.progress.counters, vec![2]);
    assert_eq!(
        progress_of(&api.quests_of(me).await, "herbalist").counters,
        vec![2]
    );

    // Reusing the id for a different event is refused, and counts nothing.
    let p = assert_problem(api.progress(me, "herbalist", event, 0, 1).await, 422).await;
    assert!(p.problem_type.ends_with("event-id-reused"));
    assert_eq!(
        progress_of(&api.quests_of(me).await, "herbalist").counters,
        vec![2]
    );

    // Concurrent duplicates: 12 copies of one event race; it is counted once, exactly
    // one answer is the first, and all answers agree.
    let event = EventId::new_random();
    let outcomes = futures_join(
        (0..12)
            .map(|_| {
                let api = api.clone();
                async move {
                    let res = api.progress(me, "herbalist", event, 0, 1).await;
                    assert_eq!(res.status(), 200);
                    res.json::<ProgressOutcome>().await.unwrap()
                }
            })
            .collect(),
    )
    .await;
    assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1);
    for o in &outcomes {
        assert_eq!(o.progress, outcomes[0].progress);
        assert_eq!(o.progress.counters, vec![3]);
    }
    assert_eq!(
        progress_of(&api.quests_of(me).await, "herbalist").counters,
        vec![3]
    );

    // Concurrent distinct events all count (clamped at 5); exactly one completes the
    // quest and carries the rewards.
    let outcomes = futures_join(
        (0..6)
            .map(|_| {
                let api = api.clone();
                async move {
                    let res = api
                        .progress(me, "herbalist", EventId::new_random(), 0, 1)
                        .await;
                    match res.status().as_u16() {
                        200 => Some(res.json::<ProgressOutcome>().await.unwrap()),
                        409 => None, // arrived after completion
                        s => panic!("unexpected {s}"),
                    }
                }
            })
            .collect(),
    )
    .await;
    let with_rewards: Vec<_> = outcomes
        .iter()
        .flatten()
        .filter(|o| o.rewards.is_some())
        .collect();
    assert_eq!(with_rewards.len(), 1);
    assert_eq!(
        outcomes.iter().flatten().count(),
        2,
        "3 + 2 reach 5; the rest are 409"
    );

    // The same event id for another character is a different event.
    let other = CharacterId::new_random();
    assert_eq!(api.accept(other, "herbalist").await.status(), 200);
    let o: ProgressOutcome = api
        .progress(other, "herbalist", event, 0, 1)
        .await
        .json()
        .await
        .unwrap();
    assert!(!o.duplicate);
    assert_eq!(o.progress.counters, vec![1]);
    server.stop().await;
}

/// Every class of bad input gets a 400 (or 401/404/405/415) problem+json, never a 5xx,
/// and changes nothing.
async fn bad_input_is_refused_clearly_and_changes_nothing(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    let me = CharacterId::new_random();
    assert_eq!(api.accept(me, "herbalist").await.status(), 200);
    let path = format!("/v1/characters/{me}/quests/herbalist/progress");
    let before = api.quests_of(me).await;
    let event = EventId::new_random().to_string();

    let raw = |body: &'static str| {
        api.post(&path)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "malformed JSON",
            raw("{\"event_id\": "),
            400,
            "malformed-json",
        ),
        ("not JSON at all", raw("kill wolf"), 400, "malformed-json"),
        ("empty body", raw(""), 400, "malformed-json"),
        (
            "wrong type",
            api.post(&path)
                .json(&json!({"event_id": event, "objective": "first", "amount": 1})),
            400,
            "invalid-body",
        ),
        (
            "negative amount",
            api.post(&path)
                .json(&json!({"event_id": event, "objective": 0, "amount": -1})),
            400,
            "invalid-body",
        ),
        (
            "objective beyond u8",
            api.post(&path)
                .json(&json!({"event_id": event, "objective": 300, "amount": 1})),
            400,
            "invalid-body",
        ),
        (
            "malformed event id",
            api.post(&path)
                .json(&json!({"event_id": "not-a-uuid", "objective": 0, "amount": 1})),
            400,
            "invalid-body",
        ),
        (
            "unknown field",
            api.post(&path)
                .json(&json!({"event_id": event, "objective": 0, "amount": 1, "bonus": 9})),
            400,
            "invalid-body",
        ),
        (
            "missing field",
            api.post(&path)
                .json(&json!({"event_id": event, "objective": 0})),
            400,
            "invalid-body",
        ),
        (
            "oversized body",
            api.post(&path)
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"event_id\":\"{event}\",\"objective\":0,\"amount\":1,\"pad\":\"{}\"}}",
                    "x".repeat(64 * 1024)
                )),
            413,
            "body-too-large",
        ),
        (
            "objective out of range",
            api.post(&path)
                .json(&json!({"event_id": event, "objective": 1, "amount": 1})),
            400,
            "objective-out-of-range",
        ),
        (
            "amount zero",
            api.post(&path)
                .json(&json!({"event_id": event, "objective": 0, "amount": 0})),
            400,
            "invalid-amount",
        ),
        (
            "not JSON content type",
            api.post(&path)
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "unsupported-media-type",
        ),
        (
            "malformed character id",
            api.post("/v1/characters/not-a-uuid/quests/herbalist/progress")
                .json(&json!({"event_id": event, "objective": 0, "amount": 1})),
            400,
            "malformed-id",
        ),
        (
            "malformed quest id",
            api.post(&format!("/v1/characters/{me}/quests/HERB%20ALIST/progress"))
                .json(&json!({"event_id": event, "objective": 0, "amount": 1})),
            400,
            "malformed-id",
        ),
        (
            "overlong quest id",
            api.post(&format!(
                "/v1/characters/{me}/quests/{}/accept",
                "a".repeat(65)
            )),
            400,
            "malformed-id",
        ),
        (
            "unknown quest",
            api.post(&format!(
                "/v1/characters/{me}/quests/dragon-slayer/progress"
            ))
            .json(&json!({"event_id": event, "objective": 0, "amount": 1})),
            404,
            "unknown-quest",
        ),
        (
            "malformed id in a GET",
            api.get("/v1/characters/12345/quests"),
            400,
            "malformed-id",
        ),
        (
            "missing token",
            api.http
                .post(api.url(&path))
                .json(&json!({"event_id": event, "objective": 0, "amount": 1})),
            401,
            "unauthorized",
        ),
        (
            "wrong token",
            api.http
                .post(api.url(&path))
                .bearer_auth("guess")
                .json(&json!({"event_id": event, "objective": 0, "amount": 1})),
            401,
            "unauthorized",
        ),
        (
            "not a bearer token",
            api.http
                .post(api.url(&path))
                .basic_auth("zone", Some(TOKEN))
                .json(&json!({"event_id": event, "objective": 0, "amount": 1})),
            401,
            "unauthorized",
        ),
        (
            "token on a GET",
            api.http.get(api.url("/v1/quests")),
            401,
            "unauthorized",
        ),
        ("unknown route", api.get("/v1/dragons"), 404, "no-route"),
        (
            "unknown route outside /v1",
            api.get("/admin"),
            404,
            "no-route",
        ),
        (
            "wrong method",
            api.http.delete(api.url("/v1/quests")).bearer_auth(TOKEN),
            405,
            "method-not-allowed",
        ),
        (
            "GET on a POST route",
            api.get(&path),
            405,
            "method-not-allowed",
        ),
    ];
    for (what, request, status, slug) in cases {
        let res = request.send().await.unwrap();
        let got = res.status().as_u16();
        assert!(got < 500, "{what}: {got}");
        let problem = assert_problem(res, status).await;
        assert!(
            problem.problem_type.ends_with(slug),
            "{what}: {} ({:?})",
            problem.problem_type,
            problem.detail
        );
        assert_eq!(api.quests_of(me).await, before, "{what} changed state");
    }
    // The 401 carries a challenge.
    let res = api.http.get(api.url("/v1/quests")).send().await.unwrap();
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap(),
        "Bearer"
    );
    // A detail says what was wrong.
    let res = api
        .post(&path)
        .json(&json!({"event_id": event, "objective": 0, "amount": 1, "bonus": 9}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 400).await;
    assert!(p.detail.unwrap().contains("unknown field `bonus`"));
    // The event id used in all those refusals was never spent.
    let res = api
        .post(&path)
        .json(&json!({"event_id": event, "objective": 0, "amount": 1}))
        .send()
        .await
        .unwrap();
    let o: ProgressOutcome = res.json().await.unwrap();
    assert!(!o.duplicate);

    // Bad input is counted in metrics.
    let metrics = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_problems_total{service=\"quest-api\",type=\"malformed-json\"}"));
    server.stop().await;
}

async fn data_is_kept_across_a_restart(backend: Backend) {
    let store = TestStore::new(backend).await;
    let me = CharacterId::new_random();
    let event = EventId::new_random();
    let (first, log_before) = {
        let server = TestServer::start(support::storage(&store)).await;
        let api = &server.api;
        complete(api, me, "wolf-cull").await;
        assert_eq!(api.accept(me, "pelt-trader").await.status(), 200);
        let first: ProgressOutcome = api
            .progress(me, "pelt-trader", event, 0, 2)
            .await
            .json()
            .await
            .unwrap();
        let log = api.quests_of(me).await;
        server.stop().await;
        (first, log)
    };
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    assert_eq!(api.quests_of(me).await, log_before);
    let replay: ProgressOutcome = api
        .progress(me, "pelt-trader", event, 0, 2)
        .await
        .json()
        .await
        .unwrap();
    assert!(replay.duplicate);
    assert_eq!(replay.progress, first.progress);
    server.stop().await;
}

async fn operational_endpoints(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    for path in ["/healthz", "/readyz"] {
        let res = api.http.get(api.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} needs no token");
    }
    api.get("/v1/quests").send().await.unwrap();
    let res = api.http.get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for needle in [
        "http_requests_total{service=\"quest-api\",method=\"GET\",route=\"/v1/quests\",status=\"200\"}",
        "http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // sled's group commits (PostgreSQL's are the database's own).
    if backend == Backend::Sled {
        let needle = "# TYPE quest_api_flush_seconds histogram";
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    server.stop().await;
}

/// The OpenAPI document names every route with its method, its parameters, the bearer
/// scheme, and problem responses, and its schemas describe the bodies actually sent.
async fn the_openapi_document_describes_the_api(backend: Backend) {
    let store = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&store)).await;
    let api = &server.api;
    let doc: Value = api
        .http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["components"]["securitySchemes"]["service_token"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/v1/quests", "get"),
        ("/v1/quests/{quest_id}", "get"),
        ("/v1/characters/{id}/quests", "get"),
        ("/v1/characters/{id}/quests/{quest_id}/accept", "post"),
        ("/v1/characters/{id}/quests/{quest_id}/progress", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ];
    let documented: HashSet<_> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (p.clone(), m.clone()))
        })
        .collect();
    for (path, method) in expected {
        assert!(
            documented.contains(&(path.to_owned(), method.to_owned())),
            "{method} {path}"
        );
        let op = &paths[path][method];
        assert!(op["operationId"].is_string());
        if path.starts_with("/v1") {
            assert!(
                op["security"][0]["service_token"].is_array(),
                "{path} security"
            );
            let unauthorized = &op["responses"]["401"]["content"]["application/problem+json"];
            assert!(
                unauthorized["schema"]["$ref"]
                    .as_str()
                    .unwrap()
                    .ends_with("/Problem")
            );
            for param in path.split('{').skip(1) {
                let name = param.split('}').next().unwrap();
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{path}: parameter {name}"
                );
            }
        }
    }
    let progress = &paths["/v1/characters/{id}/quests/{quest_id}/progress"]["post"];
    assert!(
        progress["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/ProgressEvent")
    );
    for code in ["200", "400", "401", "404", "409", "422"] {
        assert!(progress["responses"][code].is_object(), "progress {code}");
    }

    // Every `$ref` resolves (a dangling one breaks generated clients).
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }

    // The schemas match the JSON actually sent: every property of a real answer is
    // declared, and every required property is present.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Quest",
        "QuestCatalog",
        "QuestProgress",
        "CharacterQuests",
        "ProgressEvent",
        "ProgressOutcome",
        "Rewards",
        "Objective",
        "ObjectiveKind",
        "Problem",
        "ItemStack",
        "QuestStatus",
        "NpcKind",
        "ItemKind",
        "AreaId",
        "EventId",
        "CharacterId",
        "QuestId",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    let me = CharacterId::new_random();
    let accepted: Value = api.accept(me, "wolf-cull").await.json().await.unwrap();
    check_object(schemas, "QuestProgress", &accepted);
    let outcome: Value = api
        .progress(me, "wolf-cull", EventId::new_random(), 0, 5)
        .await
        .json()
        .await
        .unwrap();
    check_object(schemas, "ProgressOutcome", &outcome);
    let quest: Value = api
        .get("/v1/quests/wolf-cull")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check_object(schemas, "Quest", &quest);
    let problem: Value = api
        .get("/v1/quests/nope")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check_object(schemas, "Problem", &problem);
    let _: Problem = serde_json::from_value(problem).unwrap();
    server.stop().await;
}

/// `value`'s keys are exactly declared by schema `name`, and its required keys present.
fn check_object(schemas: &Value, name: &str, value: &Value) {
    let schema = &schemas[name];
    let props = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: {schema}"));
    let object = value.as_object().unwrap();
    for key in object.keys() {
        assert!(props.contains_key(key), "{name}: undeclared property {key}");
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        assert!(
            object.contains_key(required.as_str().unwrap()),
            "{name}: {required} missing"
        );
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
