//! Polling with a deadline, for tests that wait on a real cluster (never a bare sleep).

use std::time::{Duration, Instant};

/// Polls `f` every 100 ms until it holds; panics naming `what` after `timeout`. Returns how
/// long it took (tests print such figures).
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    let deadline = started + timeout;
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
