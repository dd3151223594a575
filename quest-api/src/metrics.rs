//! This service's own Prometheus metrics: its group commits and how long requests wait
//! for them. The request metrics every service shares (`http_requests_total`,
//! `http_request_duration_seconds`, `http_problems_total`) and the recorder come from
//! [`service_kit::metrics`].
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `quest_api_flush_seconds` | histogram | — (one flush: sled's and the `fdatasync`) |
//! | `quest_api_flush_batch_size` | summary | — (durability requests answered by one flush) |
//! | `quest_api_commit_wait_seconds` | histogram | — (a request's wait for durability) |

use std::time::Duration;

use service_kit::commit::FlushReport;

/// The service's name on the shared request metrics.
pub const SERVICE: &str = "quest-api";
/// One flush's latency, seconds.
pub const FLUSH_SECONDS: &str = "quest_api_flush_seconds";
/// Durability requests answered per flush.
pub const FLUSH_BATCH_SIZE: &str = "quest_api_flush_batch_size";
/// A request's wait for durability, seconds.
pub const COMMIT_WAIT_SECONDS: &str = "quest_api_commit_wait_seconds";

/// Installs the process's recorder (once) and describes this service's metrics.
pub fn init() {
    service_kit::metrics::init(SERVICE);
    metrics::describe_histogram!(
        FLUSH_SECONDS,
        metrics::Unit::Seconds,
        "Time for sled to make the writes so far durable (flush + fdatasync)."
    );
    metrics::describe_histogram!(
        FLUSH_BATCH_SIZE,
        "Durability requests answered by one flush."
    );
    metrics::describe_histogram!(
        COMMIT_WAIT_SECONDS,
        metrics::Unit::Seconds,
        "Time a request waited for its writes (or what it read) to be durable."
    );
}

/// Records one flush (the committer's `on_flush`).
pub(crate) fn record_flush(flush: &FlushReport) {
    metrics::histogram!(FLUSH_SECONDS).record(flush.elapsed.as_secs_f64());
    #[allow(clippy::cast_precision_loss)] // batch sizes are far below 2^52
    metrics::histogram!(FLUSH_BATCH_SIZE).record(flush.batch as f64);
}

/// Records a request's wait for durability.
pub(crate) fn record_commit_wait(waited: Duration) {
    metrics::histogram!(COMMIT_WAIT_SECONDS).record(waited.as_secs_f64());
}
