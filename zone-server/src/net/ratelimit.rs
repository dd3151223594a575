//! Per-connection limits: a sliding one-second window per packet kind, and an abuse
//! counter that closes a connection that keeps sending bad or excess packets.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use protocol::client::ClientPacket;

const WINDOW: Duration = Duration::from_secs(1);

/// Packets per second allowed for each kind (see docs/PROTOCOL.md, "Limits and abuse").
fn limit(packet: &ClientPacket) -> (usize, usize) {
    match packet {
        ClientPacket::Input(_) => (0, 30),
        ClientPacket::Attack(_) => (1, 10),
        ClientPacket::Chat(_) => (2, 5),
        ClientPacket::Pickup(_) => (3, 5),
        _ => (4, 10),
    }
}

/// Sliding-window limits of one connection.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: [VecDeque<Instant>; 5],
}

impl RateLimiter {
    /// Whether `packet`, arriving at `now`, is within its kind's limit (and counts it).
    pub fn allow(&mut self, packet: &ClientPacket, now: Instant) -> bool {
        let (kind, max) = limit(packet);
        let window = &mut self.windows[kind];
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= max {
            return false;
        }
        window.push_back(now);
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
    fn limits_slide_with_time() {
        let mut limiter = RateLimiter::default();
        let chat = ClientPacket::Chat(Chat {
            channel: ChatChannel::Local,
            text: "hi".into(),
        });
        let t0 = Instant::now();
        assert_eq!((0..8).filter(|_| limiter.allow(&chat, t0)).count(), 5);
        // Other kinds have their own window.
        assert!(limiter.allow(&ClientPacket::Ping(Ping { nonce: 1 }), t0));
        assert!(!limiter.allow(&chat, t0 + Duration::from_millis(999)));
        assert!(limiter.allow(&chat, t0 + Duration::from_millis(1000)));
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
