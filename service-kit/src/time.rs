//! Wall-clock time in the units the wire uses. A clock set before 1970 reads as 0 and one
//! past the year 584 942 417 as `u64::MAX`: neither panics.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now (the wire's `UnixMillis`).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Microseconds since the Unix epoch, now: for latencies measured across processes.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_and_micros_agree() {
        let (ms, us) = (now_millis(), now_micros());
        assert!(ms > 1_600_000_000_000, "{ms}");
        assert!(us / 1000 >= ms && us / 1000 - ms < 1000, "{ms} {us}");
    }
}
