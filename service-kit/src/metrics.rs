//! Prometheus metrics: the process's recorder with one bucket set, the `/metrics` text, and
//! the middleware that counts and times every request.
//!
//! Every HTTP service reports the same request metrics, labelled with the service's name:
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `http_requests_total` | counter | `service`, `method`, `route` (the pattern, e.g. `/v1/characters/{id}`, or `unmatched`), `status` |
//! | `http_request_duration_seconds` | histogram | `service`, `method`, `route` |
//! | `http_problems_total` | counter | `service`, `type` (the problem slug: `malformed-json`, `unauthorized`, ...) |
//!
//! A service's own metrics carry its prefix (`character_api_`, `quest_api_`, `manager_`,
//! `zone_`). Histograms named `*_seconds` share one bucket set and `*_bytes` another.
//!
//! The `metrics` facade has one global recorder per process, installable once, while tests
//! start many servers in one process: [`init`] installs it on first use and later calls
//! reuse it. One process runs one service (the first name given labels its requests).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::problem::ProblemType;

/// Requests answered, by `service`, `method`, `route` and `status`.
pub const REQUESTS: &str = "http_requests_total";
/// Request latency in seconds, by `service`, `method` and `route`.
pub const REQUEST_SECONDS: &str = "http_request_duration_seconds";
/// Problem answers, by `service` and `type`: bad input, refused tokens, failures.
pub const PROBLEMS: &str = "http_problems_total";

/// Buckets of every `*_seconds` histogram, 100 µs to 10 s: a loopback read or a 50 ms tick
/// sits at the low end, a flush in the milliseconds, a join with a preload near a second.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Buckets of every `*_bytes` histogram, 16 B to 64 KiB: a frame or a body.
pub const BYTES_BUCKETS: &[f64] = &[16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0];

/// How often histograms are drained when nobody scrapes, keeping memory bounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

struct Recorder {
    handle: PrometheusHandle,
    service: &'static str,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the process's recorder on first use, for `service` (`character-api`, ...);
/// later calls return the same handle. Call it before anything records.
pub fn init(service: &'static str) -> &'static PrometheusHandle {
    let recorder = RECORDER.get_or_init(|| Recorder {
        handle: install(),
        service,
    });
    if recorder.service != service {
        tracing::warn!(
            installed = recorder.service,
            service,
            "metrics were set up for another service in this process; requests keep its label"
        );
    }
    &recorder.handle
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES_BUCKETS))
        .unwrap_or_else(|e| {
            tracing::warn!(%e, "histogram buckets refused; histograms become summaries");
            PrometheusBuilder::new()
        });
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Something else in this process installed a recorder first (an embedding
        // program's): the service still runs, its /metrics just stays empty.
        tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
    }
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(%e, "could not start the metrics upkeep thread");
    }
    describe();
    handle
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "HTTP requests answered");
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request latency"
    );
    metrics::describe_counter!(PROBLEMS, "problem answers, by problem type");
}

/// The Prometheus text for `/metrics` (empty before [`init`]).
pub fn render() -> String {
    RECORDER.get().map_or_else(String::new, |r| {
        r.handle.run_upkeep();
        r.handle.render()
    })
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `GET /metrics` answer every service gives: [`render`]'s text as [`CONTENT_TYPE`].
pub fn response() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(render())
}

fn service() -> &'static str {
    RECORDER.get().map_or("unknown", |r| r.service)
}

/// Middleware: counts and times every request by its route pattern (so label values stay
/// few whatever paths clients send), and counts problem answers by type.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await;
    let (status, route, problem) = match &res {
        Ok(res) => (
            res.status(),
            res.request()
                .match_pattern()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "unmatched".to_owned()),
            res.response().extensions().get::<ProblemType>().copied(),
        ),
        Err(e) => (
            e.as_response_error().status_code(),
            "unmatched".to_owned(),
            None,
        ),
    };
    let elapsed = started.elapsed();
    let service = service();
    metrics::counter!(REQUESTS, "service" => service, "method" => method, "route" => route.clone(), "status" => status.as_str().to_owned())
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "service" => service, "method" => method, "route" => route.clone())
        .record(elapsed.as_secs_f64());
    if let Some(ProblemType(kind)) = problem {
        metrics::counter!(PROBLEMS, "service" => service, "type" => kind).increment(1);
    }
    if status.is_server_error() {
        tracing::warn!(method, route, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(method, route, status = status.as_u16(), ?elapsed, "request");
    }
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
