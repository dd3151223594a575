//! Polling with a deadline, for tests that wait on a real cluster (never a bare sleep).

use std::time::{Duration, Instant};

/// Polls `f` every 100 ms until it holds; panics naming `what` after `timeout`. Returns how
/// long it took (tests print such figures).
pub async fn wait_for(what: &str, timeout: Duration, f: impl AsyncFnMut() -> bool) -> Duration {
    wait_for_showing(what, timeout, f, String::new).await
}

/// [`wait_for`], and on timeout the panic message ends with `show()`: what the test was
/// watching, so a failure on a slow machine says which part did not happen.
pub async fn wait_for_showing(
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut() -> bool,
    show: impl Fn() -> String,
) -> Duration {
    let started = Instant::now();
    let deadline = started + timeout;
    while !f().await {
        if Instant::now() >= deadline {
            panic!("{what} did not happen within {timeout:?}\n{}", show());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
