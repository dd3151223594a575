//! The API over real HTTP: a real server on a free loopback port, over real sled in a temp
//! dir and over a real PostgreSQL: every test runs on both (`sled::*`, `postgres::*`), so
//! the contract is the same on each.

mod support;

test_support::on_both_backends!(
    create_read_save_list_delete,
    lists_are_per_account_and_oldest_first,
    names_are_unique_case_insensitively_through_renames_and_deletes,
    malformed_json_wrong_types_and_unknown_fields_are_400,
    oversized_bodies_are_413,
    malformed_ids_are_400,
    every_v1_route_needs_the_service_token,
    writes_need_a_current_if_match,
    invalid_characters_are_400_and_change_nothing,
    unknown_routes_and_methods_are_problems,
    racing_writers_on_one_version_exactly_one_wins,
    racing_creates_of_one_name_exactly_one_wins,
    data_survives_a_restart,
    health_readiness_and_metrics,
    openapi_document_describes_the_api,
);

use std::collections::HashSet;

use protocol::http::character::{Character, INVENTORY_SLOTS, Skill};
use protocol::{AccountId, AreaId, CharacterId, WorldGrid};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Api, CharacterCalls, TOKEN, TestServer, body_of};
use test_support::assert_problem;
use test_support::{Backend, TestStore};

async fn server(backend: Backend) -> (TestStore, TestServer, Api) {
    let env = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&env)).await;
    let api = server.client();
    (env, server, api)
}

async fn create_read_save_list_delete(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();

    let r = api.create_raw(account, "Aria").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let created: Character = {
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let c: Character = r.json().await.unwrap();
        assert_eq!(location, format!("/v1/characters/{}", c.id));
        c
    };
    // A sensible start.
    assert_eq!(created.account_id, account);
    assert_eq!(created.name, "Aria");
    assert_eq!(created.version, 1);
    assert_eq!(created.area, AreaId::new(0, 0));
    assert_eq!(
        WorldGrid::default().area_at(created.position.x, created.position.z),
        Some(AreaId::new(0, 0))
    );
    assert_eq!(created.stats.health, created.stats.max_health);
    assert_eq!(created.stats.level, 1);
    assert_eq!(created.stats.xp.len(), Skill::ALL.len());
    assert_eq!(created.inventory.slots, vec![None; INVENTORY_SLOTS]);
    assert!(created.inventory.coins > 0);
    assert_eq!(created.inventory.weapon, None);
    assert_eq!(created.created_at, created.updated_at);

    let (status, etag, body) = api.snapshot(created.id).await;
    assert_eq!((status, etag.as_deref()), (StatusCode::OK, Some("\"1\"")));
    assert_eq!(serde_json::from_str::<Character>(&body).unwrap(), created);
    assert_eq!(api.list(account).await, vec![created.clone()]);

    // Save: the GET representation with changes; read-only fields are ignored even when
    // they are wrong.
    let mut body = body_of(&created);
    body["id"] = json!(CharacterId::new_random());
    body["account_id"] = json!(AccountId::new_random());
    body["version"] = json!(99);
    body["created_at"] = json!(1);
    body["updated_at"] = json!(2);
    body["area"] = json!({ "x": 1, "z": 0 });
    body["position"] = json!({ "x": 130.5, "y": 1.0, "z": 10.0 });
    body["yaw"] = json!(1.5);
    body["stats"]["health"] = json!(70);
    body["stats"]["xp"]["combat"] = json!(40);
    body["inventory"]["coins"] = json!(7);
    body["inventory"]["slots"][3] = json!({ "item": "wolf_pelt", "count": 5 });
    body["inventory"]["weapon"] = json!({ "item": "bronze_sword", "count": 1 });
    let r = api.put_json(created.id, 1, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let saved: Character = r.json().await.unwrap();
    assert_eq!(saved.id, created.id);
    assert_eq!(saved.account_id, account);
    assert_eq!(saved.version, 2);
    assert_eq!(saved.created_at, created.created_at);
    assert!(saved.updated_at >= created.updated_at);
    assert_eq!(saved.area, AreaId::new(1, 0));
    assert_eq!(saved.position.x, 130.5);
    assert_eq!(saved.stats.health, 70);
    assert_eq!(saved.stats.xp[&Skill::Combat], 40);
    assert_eq!(saved.inventory.coins, 7);
    assert_eq!(
        saved
            .inventory
            .count_of(protocol::content::ItemKind::WOLF_PELT),
        5
    );
    assert_eq!(api.fetch(created.id).await, saved);

    // A short slot list is stored padded to the full inventory.
    let mut short = body_of(&saved);
    short["inventory"]["slots"] = json!([{ "item": "iron_ore", "count": 2 }]);
    let r = api.put_json(created.id, 2, &short).await;
    assert_eq!(r.status(), StatusCode::OK);
    let padded: Character = r.json().await.unwrap();
    assert_eq!(padded.inventory.slots.len(), INVENTORY_SLOTS);
    assert_eq!(padded.version, 3);

    let r = api
        .delete(&format!("/v1/characters/{}", created.id))
        .header("if-match", "\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(
        api.get(&format!("/v1/characters/{}", created.id))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert!(api.list(account).await.is_empty());
    // The name is free again.
    api.create(account, "ARIA").await;
    server.stop().await;
}

async fn lists_are_per_account_and_oldest_first(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let (a, b) = (AccountId::new_random(), AccountId::new_random());
    let mut made = Vec::new();
    for name in ["Alpha", "Bravo", "Charlie"] {
        made.push(api.create(a, name).await.id);
        // Distinct creation times make "oldest first" observable.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let other = api.create(b, "Delta").await;
    let listed: Vec<_> = api.list(a).await.into_iter().map(|c| c.id).collect();
    assert_eq!(listed, made);
    assert_eq!(api.list(b).await, vec![other]);
    assert!(api.list(AccountId::new_random()).await.is_empty());
    server.stop().await;
}

async fn names_are_unique_case_insensitively_through_renames_and_deletes(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let aria = api.create(account, "Aria").await;
    let bob = api.create(account, "Bob").await;

    // Duplicate on create, in any case.
    for name in ["Aria", "aria", "ARIA"] {
        let p = assert_problem(api.create_raw(account, name).await, 409).await;
        assert!(p.detail.unwrap().contains("taken"));
    }
    assert_eq!(api.list(account).await.len(), 2);

    // Renaming onto a taken name: 409, nothing changed.
    let before = api.snapshot(bob.id).await;
    let mut body = body_of(&bob);
    body["name"] = json!("aRiA");
    assert_problem(api.put_json(bob.id, 1, &body).await, 409).await;
    assert_eq!(api.snapshot(bob.id).await, before);

    // Renaming to a free name frees the old one.
    body["name"] = json!("Robert");
    let r = api.put_json(bob.id, 1, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(api.create_raw(account, "robert").await, 409).await;
    api.create(account, "Bob").await;

    // Changing only the case of one's own name is fine.
    let mut body = body_of(&aria);
    body["name"] = json!("ARIA");
    let r = api.put_json(aria.id, 1, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.fetch(aria.id).await.name, "ARIA");
    server.stop().await;
}

async fn malformed_json_wrong_types_and_unknown_fields_are_400(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let c = api.create(account, "Aria").await;
    let before = api.snapshot(c.id).await;
    let path = format!("/v1/characters/{}", c.id);

    let send_raw = |body: &'static str, create: bool| {
        let req = if create {
            api.post("/v1/characters")
        } else {
            api.put(&path).header("if-match", "\"1\"")
        };
        req.header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, create, needle) in [
        ("{\"account_id\": ", true, "not valid JSON"),
        ("not json at all", true, "not valid JSON"),
        ("{\"name\": \"Aria\",}", false, "not valid JSON"),
        ("", false, "not valid JSON"),
    ] {
        let p = assert_problem(send_raw(body, create).await.unwrap(), 400).await;
        assert!(p.detail.as_deref().unwrap().contains(needle), "{p:?}");
    }

    // Wrong types.
    let p = assert_problem(
        api.post("/v1/characters")
            .json(&json!({ "account_id": account, "name": 42 }))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p.detail.unwrap().contains("invalid type"));
    let p = assert_problem(
        api.post("/v1/characters")
            .json(&json!({ "account_id": "not-a-uuid", "name": "Zed" }))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p.detail.unwrap().contains("does not fit"));
    for (pointer, value) in [
        ("/inventory/coins", json!("lots")),
        ("/yaw", json!("north")),
        ("/position/x", json!([1])),
        ("/stats/level", json!(1.5)),
        ("/area", json!("0-0")),
        (
            "/inventory/slots/0",
            json!({ "item": "unobtainium", "count": 1 }),
        ),
    ] {
        let mut body = body_of(&c);
        *body.pointer_mut(pointer).unwrap() = value;
        let p = assert_problem(api.put_json(c.id, 1, &body).await, 400).await;
        assert!(p.detail.unwrap().contains("does not fit"), "{pointer}");
    }

    // Unknown fields, at the top and nested.
    let p = assert_problem(
        api.post("/v1/characters")
            .json(&json!({ "account_id": account, "name": "Zed", "admin": true }))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p.detail.unwrap().contains("unknown field `admin`"));
    for pointer in ["", "/stats", "/inventory"] {
        let mut body = body_of(&c);
        body.pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("godmode".into(), json!(true));
        let p = assert_problem(api.put_json(c.id, 1, &body).await, 400).await;
        assert!(
            p.detail.unwrap().contains("unknown field `godmode`"),
            "{pointer}"
        );
    }

    // Not declared as JSON.
    let r = api
        .post("/v1/characters")
        .header("content-type", "text/plain")
        .body(json!({ "account_id": account, "name": "Zed" }).to_string())
        .send()
        .await
        .unwrap();
    assert_problem(r, 415).await;

    // Nothing changed.
    assert_eq!(api.snapshot(c.id).await, before);
    assert_eq!(api.list(account).await.len(), 1);
    server.stop().await;
}

async fn oversized_bodies_are_413(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let c = api.create(account, "Aria").await;
    let before = api.snapshot(c.id).await;

    let mut body = body_of(&c);
    body["name"] = json!("x".repeat(70 * 1024));
    let p = assert_problem(api.put_json(c.id, 1, &body).await, 413).await;
    assert!(p.detail.unwrap().contains("limit"));
    let huge = json!({ "account_id": account, "name": "y".repeat(100 * 1024) });
    let p = assert_problem(
        api.post("/v1/characters").json(&huge).send().await.unwrap(),
        413,
    )
    .await;
    assert!(p.detail.unwrap().contains("limit"));

    assert_eq!(api.snapshot(c.id).await, before);
    assert_eq!(api.list(account).await.len(), 1);
    server.stop().await;
}

async fn malformed_ids_are_400(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let c = api.create(account, "Aria").await;
    let before = api.snapshot(c.id).await;
    let body = body_of(&c);

    for bad in [
        "nope",
        "1234",
        "00000000-0000-0000-0000-00000000000g",
        "%E2%82%AC",
    ] {
        let path = format!("/v1/characters/{bad}");
        let p = assert_problem(api.get(&path).send().await.unwrap(), 400).await;
        assert!(p.detail.unwrap().contains("character id"), "{bad}");
        let r = api
            .put(&path)
            .header("if-match", "\"1\"")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400).await;
        let r = api
            .delete(&path)
            .header("if-match", "\"1\"")
            .send()
            .await
            .unwrap();
        assert_problem(r, 400).await;
        let p = assert_problem(
            api.get(&format!("/v1/accounts/{bad}/characters"))
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        assert!(p.detail.unwrap().contains("account id"), "{bad}");
    }
    // A well-formed id that names nothing.
    let ghost = CharacterId::new_random();
    assert_problem(
        api.get(&format!("/v1/characters/{ghost}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_problem(api.put_json(ghost, 1, &body).await, 404).await;

    assert_eq!(api.snapshot(c.id).await, before);
    server.stop().await;
}

async fn every_v1_route_needs_the_service_token(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let c = api.create(account, "Aria").await;
    let before = api.snapshot(c.id).await;
    let http = reqwest::Client::new();
    let id_path = api.url(&format!("/v1/characters/{}", c.id));
    let body = body_of(&c);

    let auths: [Option<String>; 5] = [
        None,
        Some("Bearer wrong".into()),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.into()),
        Some(format!("Bearer {TOKEN}x")),
    ];
    for auth in auths {
        let requests = [
            http.post(api.url("/v1/characters"))
                .json(&json!({ "account_id": account, "name": "Mallory" })),
            http.get(&id_path),
            http.put(&id_path).header("if-match", "\"1\"").json(&body),
            http.delete(&id_path).header("if-match", "\"1\""),
            http.get(api.url(&format!("/v1/accounts/{account}/characters"))),
            http.get(api.url("/v1/no-such-route")),
        ];
        for req in requests {
            let req = match &auth {
                Some(a) => req.header("authorization", a),
                None => req,
            };
            let r = req.send().await.unwrap();
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            assert_problem(r, 401).await;
        }
    }
    assert_eq!(api.snapshot(c.id).await, before);
    assert_eq!(api.list(account).await.len(), 1);

    // Operations endpoints are open.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let r = http.get(api.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    server.stop().await;
}

async fn writes_need_a_current_if_match(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let c = api.create(account, "Aria").await;
    let before = api.snapshot(c.id).await;
    let path = format!("/v1/characters/{}", c.id);
    let body = body_of(&c);

    // Missing or `*`: 428.
    for if_match in [None, Some("*")] {
        let put = api.put(&path).json(&body);
        let del = api.delete(&path);
        let (put, del) = match if_match {
            Some(v) => (put.header("if-match", v), del.header("if-match", v)),
            None => (put, del),
        };
        let p = assert_problem(put.send().await.unwrap(), 428).await;
        assert!(p.detail.unwrap().contains("If-Match"));
        assert_problem(del.send().await.unwrap(), 428).await;
    }
    // Malformed: 400.
    for bad in ["1", "\"one\"", "\"-1\"", "\"1\", \"2\""] {
        let r = api
            .put(&path)
            .header("if-match", bad)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400).await;
        let r = api
            .delete(&path)
            .header("if-match", bad)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400).await;
    }
    // Stale: 412, with the current version in ETag.
    for stale in [0, 2, 7] {
        let r = api.put_json(c.id, stale, &body).await;
        assert_eq!(r.headers()["etag"], "\"1\"");
        let p = assert_problem(r, 412).await;
        assert!(p.detail.unwrap().contains("current version is 1"));
        let r = api
            .delete(&path)
            .header("if-match", format!("\"{stale}\""))
            .send()
            .await
            .unwrap();
        assert_problem(r, 412).await;
    }
    // Weak tags compare equal (versions identify whole representations).
    let r = api
        .put(&path)
        .header("if-match", "W/\"1\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after = api.snapshot(c.id).await;
    assert_eq!(after.1.as_deref(), Some("\"2\""));
    assert_ne!(after, before);
    server.stop().await;
}

async fn invalid_characters_are_400_and_change_nothing(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let c = api.create(account, "Aria").await;
    let before = api.snapshot(c.id).await;

    let cases: Vec<(&str, Value, &str)> = vec![
        // f32 overflows to infinity: JSON cannot say NaN, but it can say this.
        ("/position/x", json!(1e39), "finite"),
        ("/yaw", json!(-1e40), "finite"),
        ("/stats/health", json!(101), "max_health"),
        ("/stats/max_health", json!(0), "max_health"),
        ("/stats/level", json!(0), "level"),
        ("/stats/level", json!(-1), "does not fit"),
        ("/inventory/coins", json!(-5), "does not fit"),
        (
            "/inventory/slots/0",
            json!({ "item": "wolf_pelt", "count": -1 }),
            "does not fit",
        ),
        (
            "/inventory/slots/0",
            json!({ "item": "wolf_pelt", "count": 0 }),
            "count 0",
        ),
        (
            "/inventory/slots/0",
            json!({ "item": "wolf_pelt", "count": 51 }),
            "count 51",
        ),
        (
            "/inventory/slots/0",
            json!({ "item": 999, "count": 1 }),
            "unknown item",
        ),
        (
            "/inventory/weapon",
            json!({ "item": "iron_ore", "count": 1 }),
            "not a weapon",
        ),
        (
            "/inventory/slots",
            json!(vec![Value::Null; INVENTORY_SLOTS + 1]),
            "slots",
        ),
        ("/name", json!("ab"), "3 to 20"),
        ("/name", json!("9lives"), "start with a letter"),
        ("/name", json!("two words"), "not ' '"),
        ("/name", json!("x".repeat(21)), "3 to 20"),
    ];
    for (pointer, value, needle) in cases {
        let mut body = body_of(&c);
        *body.pointer_mut(pointer).unwrap() = value.clone();
        let p = assert_problem(api.put_json(c.id, 1, &body).await, 400).await;
        let detail = p.detail.unwrap();
        assert!(detail.contains(needle), "{pointer} = {value}: {detail}");
    }
    // Several problems are all named.
    let mut body = body_of(&c);
    body["stats"]["level"] = json!(0);
    body["name"] = json!("x");
    let p = assert_problem(api.put_json(c.id, 1, &body).await, 400).await;
    assert!(p.detail.as_deref().unwrap().contains("level"));
    assert!(p.detail.as_deref().unwrap().contains("name"));

    // Bad names on create.
    for name in ["ab", "1abc", "a;b;c", "", "Zoë Smith"] {
        assert_problem(api.create_raw(account, name).await, 400).await;
    }
    assert_eq!(api.snapshot(c.id).await, before);
    assert_eq!(api.list(account).await.len(), 1);
    server.stop().await;
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let http = reqwest::Client::new();
    assert_problem(http.get(api.url("/nope")).send().await.unwrap(), 404).await;
    assert_problem(api.get("/v1/nope/deeper").send().await.unwrap(), 404).await;
    assert_problem(api.get("/v1/characters/a/b").send().await.unwrap(), 404).await;

    let r = api.get("/v1/characters").send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_problem(r, 405).await;
    let id = CharacterId::new_random();
    let r = api
        .patch_like(&format!("/v1/characters/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET, PUT, DELETE");
    assert_problem(r, 405).await;
    let r = http.post(api.url("/healthz")).send().await.unwrap();
    assert_problem(r, 405).await;
    server.stop().await;
}

trait PatchLike {
    fn patch_like(&self, path: &str) -> reqwest::RequestBuilder;
}

impl PatchLike for Api {
    fn patch_like(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(TOKEN)
    }
}

async fn racing_writers_on_one_version_exactly_one_wins(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    let c = api.create(account, "Aria").await;
    let mut version = 1;
    for round in 0..10u64 {
        let mut tasks = Vec::new();
        for writer in 0..4u64 {
            let (api, mut body) = (api.clone(), body_of(&c));
            body["inventory"]["coins"] = json!(round * 100 + writer);
            // Every other writer also renames, to race the transactional path too.
            if writer % 2 == 1 {
                body["name"] = json!(format!("Aria{round}w{writer}"));
            }
            tasks.push(tokio::spawn(async move {
                let r = api.put_json(c.id, version, &body).await;
                let status = r.status();
                let coins = (status == StatusCode::OK)
                    .then(|| body["inventory"]["coins"].as_u64().unwrap());
                if status == StatusCode::PRECONDITION_FAILED {
                    assert_problem(r, 412).await;
                }
                (status, coins)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (status, coins) = t.await.unwrap();
            match status {
                StatusCode::OK => winners.push(coins.unwrap()),
                StatusCode::PRECONDITION_FAILED => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        version += 1;
        let now = api.fetch(c.id).await;
        assert_eq!(now.version, version);
        assert_eq!(now.inventory.coins, winners[0]);
    }
    // Losing renames left no names behind.
    let taken: Vec<String> = (0..10)
        .flat_map(|r| [format!("Aria{r}w1"), format!("Aria{r}w3")])
        .collect();
    let current = api.fetch(c.id).await.name.to_lowercase();
    for name in taken {
        let r = api.create_raw(account, &name).await;
        let expect = if name.to_lowercase() == current {
            409
        } else {
            201
        };
        assert_eq!(r.status().as_u16(), expect, "{name}");
    }
    server.stop().await;
}

async fn racing_creates_of_one_name_exactly_one_wins(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let account = AccountId::new_random();
    for round in 0..5 {
        let name = format!("Twin{round}");
        let mut tasks = Vec::new();
        for i in 0..6 {
            let api = api.clone();
            let name = if i % 2 == 0 {
                name.clone()
            } else {
                name.to_uppercase()
            };
            tasks.push(tokio::spawn(async move {
                api.create_raw(account, &name).await.status()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap().as_u16());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409]);
    }
    assert_eq!(api.list(account).await.len(), 5);
    server.stop().await;
}

async fn data_survives_a_restart(backend: Backend) {
    let env = TestStore::new(backend).await;
    let server = TestServer::start(support::storage(&env)).await;
    let api = server.client();
    let account = AccountId::new_random();
    let kept = api.create(account, "Keeper").await;
    let mut body = body_of(&kept);
    body["inventory"]["coins"] = json!(1234);
    assert_eq!(
        api.put_json(kept.id, 1, &body).await.status(),
        StatusCode::OK
    );
    let gone = api.create(account, "Goner").await;
    let r = api
        .delete(&format!("/v1/characters/{}", gone.id))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let before = api.snapshot(kept.id).await;
    server.stop().await;

    let server = TestServer::start(support::storage(&env)).await;
    let api = server.client();
    assert_eq!(api.snapshot(kept.id).await, before);
    assert_eq!(api.fetch(kept.id).await.inventory.coins, 1234);
    assert_problem(
        api.get(&format!("/v1/characters/{}", gone.id))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_problem(api.create_raw(account, "keeper").await, 409).await;
    api.create(account, "Goner").await;
    let names: HashSet<_> = api
        .list(account)
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names,
        HashSet::from(["Keeper".to_owned(), "Goner".to_owned()])
    );
    // And it still takes writes at the next version.
    assert_eq!(
        api.put_json(kept.id, 2, &body).await.status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn health_readiness_and_metrics(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let http = reqwest::Client::new();
    let r = http.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http.get(api.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let account = AccountId::new_random();
    let c = api.create(account, "Metric").await;
    api.fetch(c.id).await;
    assert_problem(api.get("/v1/characters/bad").send().await.unwrap(), 400).await;

    let r = http.get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    for needle in [
        r#"http_requests_total{service="character-api",method="GET",route="/v1/characters/{id}",status="200"}"#,
        r#"http_requests_total{service="character-api",method="GET",route="/v1/characters/{id}",status="400"}"#,
        r#"http_requests_total{service="character-api",method="POST",route="/v1/characters",status="201"}"#,
        "http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // sled's group commits (PostgreSQL's are the database's own).
    if backend == Backend::Sled {
        for needle in [
            "character_api_flush_duration_seconds_bucket",
            r#"character_api_flushes_total{outcome="ok"}"#,
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
    server.stop().await;
}

async fn openapi_document_describes_the_api(backend: Backend) {
    let (_env, server, api) = server(backend).await;
    let doc: Value = reqwest::get(api.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/v1/characters", &["post"][..]),
        ("/v1/characters/{id}", &["get", "put", "delete"][..]),
        ("/v1/accounts/{account_id}/characters", &["get"][..]),
        ("/healthz", &["get"][..]),
        ("/readyz", &["get"][..]),
        ("/metrics", &["get"][..]),
        ("/openapi.json", &["get"][..]),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path}");
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for schema in [
        "Character",
        "CharacterUpdate",
        "CreateCharacter",
        "CharacterList",
        "Problem",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    let put = &paths["/v1/characters/{id}"]["put"];
    assert_eq!(put["security"][0]["bearer"], json!([]));
    let params: Vec<_> = put["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
        .collect();
    assert!(params.contains(&("If-Match", "header")));
    assert!(params.contains(&("id", "path")));
    assert!(put["responses"]["200"]["headers"]["ETag"].is_object());
    for status in ["400", "401", "404", "409", "412", "428"] {
        assert!(
            put["responses"][status]["content"]["application/problem+json"].is_object(),
            "PUT {status}"
        );
    }
    let create = &paths["/v1/characters"]["post"];
    assert!(create["responses"]["201"]["headers"]["Location"].is_object());
    assert!(create["requestBody"]["content"]["application/json"].is_object());
    server.stop().await;
}
