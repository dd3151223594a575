//! Prometheus metrics: requests by route pattern and status, request latency, and the
//! latency and outcome of each group commit.
//!
//! The `metrics` facade has one global recorder per process, installable once, while tests
//! and the benchmark start many servers in one process: the recorder is installed on first
//! use and every server renders from the same handle.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests answered, by `method`, `route` (the pattern, e.g. `/v1/characters/{id}`) and
/// `status`.
pub const REQUESTS: &str = "character_api_http_requests_total";
/// Request latency, seconds, by `method` and `route`.
pub const REQUEST_SECONDS: &str = "character_api_http_request_duration_seconds";
/// Group commit (flush + fdatasync) latency, seconds.
pub const FLUSH_SECONDS: &str = "character_api_flush_duration_seconds";
/// Group commits, by `outcome` (`ok` or `error`).
pub const FLUSHES: &str = "character_api_flushes_total";

/// Histogram buckets from 100 µs to 10 s: loopback reads sit at the low end, flushes in the
/// milliseconds.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the global recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // Something else in this process installed a recorder first: the service still
            // runs, its /metrics just stays empty.
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        metrics::describe_counter!(REQUESTS, "HTTP requests answered");
        metrics::describe_histogram!(
            REQUEST_SECONDS,
            metrics::Unit::Seconds,
            "HTTP request latency"
        );
        metrics::describe_histogram!(
            FLUSH_SECONDS,
            metrics::Unit::Seconds,
            "group commit latency (sled flush + fdatasync)"
        );
        metrics::describe_counter!(FLUSHES, "group commits");
        handle
    })
}

/// The Prometheus text for `/metrics`.
pub fn render() -> String {
    let handle = handle();
    // Without the exporter's HTTP listener nobody else runs upkeep; scraping is a good time.
    handle.run_upkeep();
    handle.render()
}

/// Middleware: counts and times every request by its route pattern, so label values stay
/// few whatever paths clients send.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await;
    let (status, route) = match &res {
        Ok(res) => (
            res.status().as_u16(),
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
        Err(e) => (
            e.as_response_error().status_code().as_u16(),
            "unmatched".to_owned(),
        ),
    };
    let elapsed = started.elapsed();
    metrics::counter!(REQUESTS, "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    tracing::debug!(method, status, elapsed_us = elapsed.as_micros(), "request");
    res
}

/// A bounded label for a method: clients can send any token as a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records one group commit.
pub(crate) fn record_flush(elapsed: Duration, ok: bool) {
    metrics::histogram!(FLUSH_SECONDS).record(elapsed.as_secs_f64());
    metrics::counter!(FLUSHES, "outcome" => if ok { "ok" } else { "error" }).increment(1);
}
