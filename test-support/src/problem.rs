//! Asserting that an HTTP answer is an error as DESIGN promises it: `application/problem+json`
//! with the project's problem type, a title and a detail.

use protocol::http::Problem;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;

/// Asserts `response` is a problem with `status`: the status line, the content type, and a
/// body with a `urn:zone-cluster:problem:` type, a title, the same `status` and a detail.
/// Returns the problem, for the test to check its type.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Problem {
    let url = response.url().clone();
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body = response.text().await.expect("a body");
    assert_eq!(got, status, "status of {url}: {body}");
    assert_eq!(content_type, PROBLEM_CONTENT_TYPE, "{url}: {body}");
    let problem: Problem = serde_json::from_str(&body).expect("a problem body");
    assert_eq!(problem.status, status, "{body}");
    assert!(
        problem
            .problem_type
            .starts_with("urn:zone-cluster:problem:"),
        "{body}"
    );
    assert!(!problem.title.is_empty(), "{body}");
    assert!(
        problem.detail.as_deref().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    problem
}
