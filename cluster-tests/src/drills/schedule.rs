//! Random schedules for the soak: a few faults in a row (NATS node kills, partitions of any
//! host, zone-server pauses and kills), each held for a random time, from a seed that is
//! printed so a schedule that found something can be run again.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Fault, Step};
use crate::hosts::HOSTS;

/// Faults per schedule: at least one, at most this many.
const MOST_STEPS: usize = 3;

/// Makes schedules from one seed.
#[derive(Debug)]
pub struct Schedules {
    rng: StdRng,
    zone_servers: usize,
}

impl Schedules {
    /// Schedules for a cluster of `zone_servers` zone-server processes, from `seed`.
    pub fn new(seed: u64, zone_servers: usize) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            zone_servers,
        }
    }

    /// The next schedule.
    pub fn next_schedule(&mut self) -> Vec<Step> {
        let steps = self.rng.random_range(1..=MOST_STEPS);
        (0..steps).map(|_| self.step()).collect()
    }

    fn step(&mut self) -> Step {
        let host = HOSTS[self.rng.random_range(0..HOSTS.len())];
        let zone = self.rng.random_range(0..self.zone_servers);
        let fault = match self.rng.random_range(0..4) {
            0 => Fault::KillNats(host),
            1 => Fault::Partition(host),
            2 => Fault::PauseZone(zone),
            _ => Fault::KillZone(zone),
        };
        // Past the manager's 3 s failure timeout or not, up to a long 12 s.
        let hold = Duration::from_millis(self.rng.random_range(1_000..=12_000));
        Step { fault, hold }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_gives_one_sequence_of_schedules() {
        let a: Vec<String> = {
            let mut s = Schedules::new(7, 3);
            (0..5)
                .flat_map(|_| s.next_schedule())
                .map(|s| s.to_string())
                .collect()
        };
        let b: Vec<String> = {
            let mut s = Schedules::new(7, 3);
            (0..5)
                .flat_map(|_| s.next_schedule())
                .map(|s| s.to_string())
                .collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|s| !s.is_empty()));
    }
}
