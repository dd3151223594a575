//! Polling with a deadline, for tests that wait on real processes (never a bare sleep).

use std::time::{Duration, Instant};

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `f` until it holds; panics naming `what` after `timeout`. Returns how long it
/// took (tests print such figures).
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
    poll(what, timeout, async || f().await.then_some(()), show).await;
    started.elapsed()
}

/// Polls `f` until it gives a value, and returns it; panics naming `what` after `timeout`.
pub async fn wait_for_value<T>(
    what: &str,
    timeout: Duration,
    f: impl AsyncFnMut() -> Option<T>,
) -> T {
    poll(what, timeout, f, String::new).await
}

async fn poll<T>(
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
    show: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("{what} did not happen within {timeout:?}\n{}", show());
        }
        tokio::time::sleep(POLL).await;
    }
}
