//! Per-connection limits: a token bucket per packet kind (each kind's rate per second, and
//! a burst of one second's worth, so packets that arrive bunched after a stall on either
//! side are not taken for a flood), and an abuse counter that closes a connection that
//! keeps sending bad or excess packets.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use protocol::client::ClientPacket;

/// Packets per second allowed for each kind (see docs/PROTOCOL.md, "Limits and abuse").
fn limit(packet: &ClientPacket) -> (usize, f64) {
    match packet {
        ClientPacket::Input(_) => (0, 30.0),
        ClientPacket::Attack(_) => (1, 10.0),
        ClientPacket::Chat(_) => (2, 5.0),
        ClientPacket::Pickup(_) => (3, 5.0),
        _ => (4, 10.0),
    }
}

/// One kind's bucket: tokens left, as of when.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    tokens: f64,
    at: Option<Instant>,
}

/// Token-bucket limits of one connection.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: [Bucket; 5],
}

impl RateLimiter {
    /// Whether `packet`, arriving at `now`, is within its kind's limit (and spends a token).
    pub fn allow(&mut self, packet: &ClientPacket, now: Instant) -> bool {
        let (kind, rate) = limit(packet);
        let bucket = &mut self.buckets[kind];
        bucket.tokens = match bucket.at {
            None => rate,
            Some(at) => {
                (bucket.tokens + now.saturating_duration_since(at).as_secs_f64() * rate).min(rate)
            }
        };
        bucket.at = Some(now);
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

/// Counts strikes (malformed, unknown, oversized, unexpected or excess packets).
#[derive(Debug)]
pub struct AbuseMeter {
    strikes: VecDeque<Instant>,
    max: usize,
    window: Duration,
}

impl Default for AbuseMeter {
    /// 50 strikes within 10 s close the connection.
    fn default() -> Self {
        Self {
            strikes: VecDeque::new(),
            max: 50,
            window: Duration::from_secs(10),
        }
    }
}

impl AbuseMeter {
    /// Records a strike at `now`; true when the connection should be closed.
    pub fn strike(&mut self, now: Instant) -> bool {
        while self
            .strikes
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.strikes.pop_front();
        }
        self.strikes.push_back(now);
        self.strikes.len() >= self.max
    }
}

#[cfg(test)]
mod tests {
    use protocol::client::packets::{Chat, ChatChannel, Ping};

    use super::*;

    #[test]
    fn limits_refill_with_time() {
        let mut limiter = RateLimiter::default();
        let chat = ClientPacket::Chat(Chat {
            channel: ChatChannel::Local,
            text: "hi".into(),
        });
        let t0 = Instant::now();
        assert_eq!((0..8).filter(|_| limiter.allow(&chat, t0)).count(), 5);
        // Other kinds have their own bucket.
        assert!(limiter.allow(&ClientPacket::Ping(Ping { nonce: 1 }), t0));
        // Chat refills at 5 a second: one more after 200 ms, not before.
        assert!(!limiter.allow(&chat, t0 + Duration::from_millis(150)));
        assert!(limiter.allow(&chat, t0 + Duration::from_millis(360)));
        assert!(!limiter.allow(&chat, t0 + Duration::from_millis(370)));
    }

    #[test]
    fn a_steady_client_whose_packets_arrive_bunched_is_not_limited() {
        let mut limiter = RateLimiter::default();
        let ping = ClientPacket::Ping(Ping { nonce: 0 });
        let t0 = Instant::now();
        // 10 a second for 3 s, but every second's worth read at once (a stalled reader).
        for second in 0..3 {
            let at = t0 + Duration::from_secs(second);
            assert_eq!((0..10).filter(|_| limiter.allow(&ping, at)).count(), 10);
        }
        // A sustained flood above the rate is cut down to the rate.
        let flood = (0..200)
            .filter(|i| {
                limiter.allow(
                    &ping,
                    t0 + Duration::from_secs(4) + Duration::from_millis(i * 5),
                )
            })
            .count();
        assert!(flood <= 10 + 10, "{flood} let through in 1 s");
    }

    #[test]
    fn persistent_abuse_trips_the_meter() {
        let mut meter = AbuseMeter::default();
        let t0 = Instant::now();
        assert!(!(0..49).any(|_| meter.strike(t0)));
        assert!(meter.strike(t0));
        let mut meter = AbuseMeter::default();
        // Strikes spread out over time never add up.
        assert!(!(0..200).any(|i| meter.strike(t0 + Duration::from_millis(i * 250))));
    }
}
