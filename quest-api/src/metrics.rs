//! Prometheus metrics: the process-wide recorder (installed once, however many servers a
//! process starts, as the tests do) and the middleware that counts every request by route
//! pattern, method and status and times it.
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `http_requests_total` | counter | `method`, `route` (the pattern, e.g. `/v1/quests/{quest_id}`, or `unmatched`), `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route` |
//! | `quest_api_flush_seconds` | histogram | — (time for sled to make a write durable) |
//! | `quest_api_problems_total` | counter | `type` (the problem slug: bad input, conflicts, ...) |

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds: from a cached read to a slow disk flush.
const BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. If some other recorder was
/// installed first (an embedding program's), `/metrics` renders an empty local one
/// instead of failing.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(BUCKETS) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%e, "histogram buckets refused; using summaries");
                PrometheusBuilder::new()
            }
        };
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                tracing::warn!(%e, "a metrics recorder was already installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        // Histograms accumulate between scrapes; upkeep drains them even if no one
        // scrapes, so memory stays bounded.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(%e, "could not start the metrics upkeep thread");
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests by route pattern, method and status."
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route pattern and method."
    );
    metrics::describe_histogram!(
        "quest_api_flush_seconds",
        metrics::Unit::Seconds,
        "Time for sled to make the writes so far durable (flush_async)."
    );
    metrics::describe_counter!(
        "quest_api_problems_total",
        "Problem responses by problem type (bad input, auth, conflicts, failures)."
    );
}

/// Label for a method: the standard ones by name, anything else as `other`, so a caller
/// cannot grow the label set.
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

/// Middleware: counts and times every request. Routes are labelled by pattern, never by
/// the raw path, so ids in paths do not create new series.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = method_label(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(res) => (
            res.request()
                .match_pattern()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "unmatched".to_owned()),
            res.status(),
        ),
        Err(e) => ("unmatched".to_owned(), e.as_response_error().status_code()),
    };
    let elapsed = start.elapsed();
    metrics::counter!(
        "http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route.clone())
        .record(elapsed.as_secs_f64());
    if status.is_server_error() {
        tracing::warn!(method, route, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(method, route, status = status.as_u16(), ?elapsed, "request");
    }
    result
}
