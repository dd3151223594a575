//! This service's own Prometheus metrics: the latency and outcome of each group commit.
//! The request metrics every service shares (`http_requests_total`, ...) and the recorder
//! come from [`service_kit::metrics`].

use service_kit::commit::FlushReport;

/// The service's name on the shared request metrics.
pub const SERVICE: &str = "character-api";
/// Group commit (flush + fdatasync) latency, seconds.
pub const FLUSH_SECONDS: &str = "character_api_flush_duration_seconds";
/// Group commits, by `outcome` (`ok` or `error`).
pub const FLUSHES: &str = "character_api_flushes_total";

/// Installs the process's recorder (once) and describes this service's metrics.
pub fn init() {
    service_kit::metrics::init(SERVICE);
    metrics::describe_histogram!(
        FLUSH_SECONDS,
        metrics::Unit::Seconds,
        "group commit latency (sled flush + fdatasync)"
    );
    metrics::describe_counter!(FLUSHES, "group commits");
}

/// Records one group commit (the committer's `on_flush`).
pub(crate) fn record_flush(flush: &FlushReport) {
    metrics::histogram!(FLUSH_SECONDS).record(flush.elapsed.as_secs_f64());
    metrics::counter!(FLUSHES, "outcome" => if flush.ok { "ok" } else { "error" }).increment(1);
}
