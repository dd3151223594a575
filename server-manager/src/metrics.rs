//! Prometheus metrics: allocations (count, latency), joins (count, latency, failures by
//! reason), zones by state, malformed NATS messages.
//!
//! The `metrics` facade has one global recorder per process and it can be installed once,
//! while tests and the benchmark start several managers in one process: the recorder is
//! installed on first use and every manager renders from the same handle.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Allocations finished, by `outcome` (`ok`, `no_idle_zone`, `failed`).
pub const ALLOCATIONS: &str = "manager_allocations_total";
/// Allocation latency (epoch persisted + the zone's `Allocated`), seconds.
pub const ALLOCATION_SECONDS: &str = "manager_allocation_duration_seconds";
/// Joins answered, by `outcome` (`ok` or the failure reason).
pub const JOINS: &str = "manager_joins_total";
/// Failed joins, by `reason` (`unauthorized`, `forbidden`, `not_found`, `bad_request`,
/// `no_idle_zone`, `zone`, `upstream`, `internal`).
pub const JOIN_FAILURES: &str = "manager_join_failures_total";
/// Join latency (token to ticket, including the zone's preload), seconds.
pub const JOIN_SECONDS: &str = "manager_join_duration_seconds";
/// Zones, by `state`.
pub const ZONES: &str = "manager_zones";
/// Areas with an owner.
pub const AREAS_ALLOCATED: &str = "manager_areas_allocated";
/// Zones judged Unhealthy.
pub const UNHEALTHY: &str = "manager_zones_unhealthy_total";
/// `LostArea` sent, by `outcome`.
pub const LOST_AREA: &str = "manager_lost_area_total";
/// Releases of idle areas, by `outcome`.
pub const RELEASES: &str = "manager_releases_total";
/// NATS messages that did not decode, by `subject` (the manager subject's last token).
pub const MALFORMED: &str = "manager_nats_malformed_total";
/// HTTP requests refused as malformed (400).
pub const BAD_REQUESTS: &str = "manager_http_bad_requests_total";

const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the global recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = match PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // Another component of this process installed one first: the manager still
            // runs, its /metrics just shows what that recorder does not take.
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(ALLOCATIONS, "area allocations finished, by outcome");
    describe_histogram!(ALLOCATION_SECONDS, Unit::Seconds, "allocation latency");
    describe_counter!(JOINS, "joins answered, by outcome");
    describe_counter!(JOIN_FAILURES, "failed joins, by reason");
    describe_histogram!(
        JOIN_SECONDS,
        Unit::Seconds,
        "join latency incl. zone preload"
    );
    describe_gauge!(ZONES, "zones by state");
    describe_gauge!(AREAS_ALLOCATED, "areas with an owner");
    describe_counter!(UNHEALTHY, "zones judged unhealthy");
    describe_counter!(LOST_AREA, "LostArea requests sent, by outcome");
    describe_counter!(RELEASES, "idle-area releases, by outcome");
    describe_counter!(MALFORMED, "NATS messages that did not decode, by subject");
    describe_counter!(BAD_REQUESTS, "HTTP requests refused as malformed");
}
