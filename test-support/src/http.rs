//! Talking to a service under test over HTTP: waiting until it says it is ready (as a load
//! balancer would), a client that sends its bearer token, and reading its metrics.

use std::time::Duration;

use crate::wait::wait_for;

/// How long a service may take to get ready before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `GET <base>/readyz` until it answers 200; panics after 30 s.
pub async fn wait_ready(base: &str) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let url = format!("{base}/readyz");
    wait_for(&format!("{base} ready"), READY_TIMEOUT, async || {
        http.get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
    })
    .await;
}

/// A client of one service's HTTP API that sends the service's bearer token with every
/// request; a crate's tests add that API's calls to it with a trait of their own.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    /// `http://host:port`, without a trailing slash.
    pub base: String,
    /// The client requests go through (its timeout is the caller's choice).
    pub http: reqwest::Client,
    token: String,
}

impl ServiceClient {
    /// A client of the service at `base` (`http://host:port`) sending `token`.
    pub fn new(base: impl Into<String>, token: &str, http: reqwest::Client) -> Self {
        Self {
            base: base.into(),
            http,
            token: token.to_owned(),
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` with the token.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.token)
    }

    /// `POST path` with the token.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.token)
    }

    /// `PUT path` with the token.
    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.put(self.url(path)).bearer_auth(&self.token)
    }

    /// `DELETE path` with the token.
    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(&self.token)
    }
}

/// In Prometheus text (a service's `/metrics`), the sum of every series of `name` whose labels include all of `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (label_part, value) = if let Some(rest) = rest.strip_prefix('{') {
                let (l, v) = rest.split_once('}')?;
                (l, v)
            } else if rest.starts_with(' ') {
                ("", rest)
            } else {
                return None;
            };
            let wanted = labels
                .iter()
                .all(|(k, v)| label_part.split(',').any(|p| p == format!("{k}=\"{v}\"")));
            wanted
                .then(|| value.split_whitespace().next()?.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}
