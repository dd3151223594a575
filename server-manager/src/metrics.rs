//! The manager's own Prometheus metrics: allocations (count, latency), joins (count,
//! latency, failures by reason), zones by state, malformed NATS messages. The recorder, its
//! buckets and the request metrics every service shares (`http_requests_total`, ...,
//! `http_problems_total` for refused requests) come from [`service_kit::metrics`].

/// The service's name on the shared request metrics.
pub const SERVICE: &str = "server-manager";
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
/// Zones' messages refused for what they claim, by `reason` (`not_your_zone`,
/// `too_many_zones`, `unissued_epoch`, `not_allocated`, `wrong_sender`).
pub const REFUSED: &str = "manager_nats_refused_total";
/// NATS messages that did not decode, by `subject` (the manager subject's last token).
pub const MALFORMED: &str = "manager_nats_malformed_total";

/// Installs the process's recorder (once, with the request metrics every service shares)
/// and describes the manager's own metrics.
pub fn init() {
    service_kit::metrics::init(SERVICE);
    describe();
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
    describe_counter!(
        REFUSED,
        "zones' NATS messages refused for what they claim, by reason"
    );
    describe_counter!(MALFORMED, "NATS messages that did not decode, by subject");
}
