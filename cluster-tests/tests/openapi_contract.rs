//! The HTTP contract, tried from outside: schemathesis (PyPI, installed by
//! `scripts/lib/ensure-tools.sh`'s `ensure_schemathesis`) fuzzes character-api, quest-api and
//! the server-manager of a real cluster from each one's own `GET /openapi.json`, and checks
//! that no answer is a 5xx and that every answer's status, content type and body are ones
//! the document declares for that operation. So a limit the server enforces but the
//! document leaves out, or an error the document does not list, fails here with
//! schemathesis's report of the request that showed it.

use std::path::PathBuf;
use std::process::Command;

use cluster_tests::bot::join_token;
use cluster_tests::{Cluster, ClusterOptions};
use protocol::AccountId;
use protocol::http::quest::MAX_PROGRESS_AMOUNT;
use serde_json::{Value, json};
use test_support::Service;

/// The checks every run makes: no 5xx, and the status code, content type and body of every
/// answer are declared by the document.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";
/// Test cases per operation and phase: enough to reach every documented limit, few enough
/// that the whole test stays near a minute on two cores.
const MAX_EXAMPLES: &str = "25";
/// A fixed seed, so a failure reproduces (schemathesis prints it with the failure).
const SEED: &str = "20251201";

/// The `st` program: `$SCHEMATHESIS` (scripts/test exports it), else the venv
/// `ensure_schemathesis` makes under `target/`, else `st` on the `PATH`.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return path.into();
    }
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/schemathesis/bin/st");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("st")
}

/// The manager's schemathesis settings: the operations whose documented 502 and 503 answers
/// (no idle zone, a zone or character-api failing) are not server errors.
const MANAGER_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/schemathesis-manager.toml"
);

/// Runs schemathesis (with settings from `config`, if any) against the document at
/// `base_url/openapi.json` with `token` as the bearer token and `filters` (operation
/// selection), and returns its report if it found anything.
fn fuzz(
    service: &str,
    base_url: &str,
    token: &str,
    config: Option<&str>,
    filters: &[&str],
) -> Option<String> {
    let st = schemathesis();
    // schemathesis keeps a cache in its working directory: not in the repository.
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let mut command = Command::new(&st);
    command.current_dir(scratch.path()).arg("--no-color");
    if let Some(config) = config {
        command.args(["--config-file", config]);
    }
    let output = command
        .arg("run")
        .arg(format!("{base_url}/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--request-timeout", "10", "--workers", "1"])
        .args(filters)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run schemathesis ({}): {e}. Install it with scripts/test, or \
                 `source scripts/lib/ensure-tools.sh && ensure_schemathesis`",
                st.display()
            )
        });
    (!output.status.success()).then(|| {
        format!(
            "==== {service}: schemathesis exited with {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_answers_as_its_openapi_document_says() {
    let mut cluster = tokio::task::spawn_blocking(|| {
        Cluster::start(ClusterOptions {
            zone_servers: 1,
            slots: 2,
            well_known_ports: false,
            dir: None,
            dev_login: false,
            zone_args: Vec::new(),
        })
    })
    .await
    .expect("join")
    .expect("the cluster starts");
    let secrets = cluster.secrets.clone();
    let player = join_token(&secrets.jwt_secret, AccountId::new_random()).expect("a join token");
    let manager = cluster.manager_url();
    let characters = cluster.character_api_url();
    let quests = format!("http://{}", cluster.quests.addr());

    let runs = tokio::task::spawn_blocking(move || {
        [
            fuzz(
                "character-api",
                &characters,
                &secrets.service_token,
                None,
                &[],
            ),
            fuzz("quest-api", &quests, &secrets.service_token, None, &[]),
            // The manager takes two tokens: the operators' for everything but the join,
            // a player's for the join.
            fuzz(
                "server-manager (operator API)",
                &manager,
                &secrets.admin_token,
                Some(MANAGER_CONFIG),
                &["--exclude-path", "/v1/join"],
            ),
            fuzz(
                "server-manager (join)",
                &manager,
                &player,
                Some(MANAGER_CONFIG),
                &["--include-path", "/v1/join"],
            ),
        ]
    })
    .await
    .expect("join");
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .expect("stopped");
    let failures: Vec<String> = runs.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A progress amount past `int32` (the document's bound) is refused, and counts nothing:
/// it once completed the quest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_amounts_past_the_documented_bound_are_refused() {
    const TOKEN: &str = "contract-token";
    let service = tokio::task::spawn_blocking(|| Service::quest_api(TOKEN))
        .await
        .expect("join")
        .expect("quest-api starts");
    let http = reqwest::Client::new();
    let character = uuid::Uuid::new_v4();
    let quest = format!(
        "{}/v1/characters/{character}/quests/herbalist",
        service.url()
    );
    let accepted = http
        .post(format!("{quest}/accept"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), 200);

    let doc: Value = http
        .get(format!("{}/openapi.json", service.url()))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("JSON");
    let amount = &doc["components"]["schemas"]["ProgressEvent"]["properties"]["amount"];
    assert_eq!(amount["minimum"], 1);
    assert_eq!(amount["maximum"], MAX_PROGRESS_AMOUNT);

    for bad in [0, u64::from(MAX_PROGRESS_AMOUNT) + 1, u64::from(u32::MAX)] {
        let res = http
            .post(format!("{quest}/progress"))
            .bearer_auth(TOKEN)
            .json(&json!({"event_id": uuid::Uuid::new_v4(), "objective": 0, "amount": bad}))
            .send()
            .await
            .expect("progress");
        assert_eq!(res.status(), 400, "amount {bad}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "amount {bad}"
        );
        let problem: Value = res.json().await.expect("a problem body");
        assert_eq!(
            problem["type"], "urn:zone-cluster:problem:invalid-amount",
            "amount {bad}: {problem}"
        );
    }

    let log: Value = http
        .get(format!(
            "{}/v1/characters/{character}/quests",
            service.url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("quest log")
        .json()
        .await
        .expect("JSON");
    let herbalist = log["quests"]
        .as_array()
        .expect("quests")
        .iter()
        .find(|q| q["quest_id"] == "herbalist")
        .expect("herbalist");
    assert_eq!(herbalist["status"], "active", "{herbalist}");
    assert_eq!(herbalist["counters"], json!([0]), "{herbalist}");
}
