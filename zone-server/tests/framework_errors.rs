//! Every framework-level failure is a problem (`application/problem+json`): 404 for
//! unknown paths, 405 with `Allow`, 401 (constant-time token check) on `/v1/stays`. The zone
//! takes no request bodies, so there is no 413, 400 or 415 to give.

mod support;

use protocol::http::Problem;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;
use support::{TOKEN, TestZone};

async fn problem(res: reqwest::Response, status: u16, slug: &str) -> Problem {
    assert_eq!(res.status(), status, "{}", res.url());
    assert_eq!(res.headers()["content-type"], PROBLEM_CONTENT_TYPE);
    let p: Problem = res.json().await.unwrap();
    assert_eq!(p.status, status);
    assert!(p.problem_type.ends_with(&format!(":{slug}")), "{p:?}");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_errors_are_problems() {
    let zone = TestZone::start().await;
    let base = zone
        .ws_url
        .replace("ws://", "http://")
        .trim_end_matches("/ws")
        .to_owned();
    let http = &zone.http;

    problem(
        http.get(format!("{base}/nothing")).send().await.unwrap(),
        404,
        "no-route",
    )
    .await;

    let r = http.post(format!("{base}/v1/stays")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    problem(r, 405, "method-not-allowed").await;
    let r = http.delete(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    problem(r, 405, "method-not-allowed").await;

    for wrong in [None, Some("guess"), Some("zone-test-toke")] {
        let mut req = http.get(format!("{base}/v1/stays"));
        if let Some(token) = wrong {
            req = req.bearer_auth(token);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        problem(r, 401, "unauthorized").await;
    }
    let r = http
        .get(format!("{base}/v1/stays"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"http_requests_total{service="zone-server",method="GET",route="/v1/stays",status="401"}"#,
        r#"http_problems_total{service="zone-server",type="unauthorized"}"#,
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
    zone.stop().await;
}
