//! Time dilation: when a tick takes longer than the real time between two ticks (a crowd
//! that grew by joins and handoffs at once), the zone slows its own clock rather than fall
//! behind: each tick still moves the world by one tick of game time, but ticks come less
//! often, so the game runs at a fraction of real speed — floored (50 % by default), and
//! restored step by step as the tick gets cheaper again. EVE Online does the same.
//!
//! Pure bookkeeping, driven by the zone actor: [`Dilation::beat`] on every beat of the
//! real-time ticker says whether the simulation ticks on it, [`Dilation::tick_took`]
//! feeds back what a tick cost.

use std::time::Duration;

use protocol::client::packets::TimeRate;

/// The share of a beat a tick may take before the clock slows: the rest is for the
/// actor's other work (packets, handoffs, saves) between ticks.
const TARGET_LOAD: f32 = 0.9;
/// Weight of the newest tick in the smoothed tick time.
const SMOOTHING: f32 = 0.2;
/// The rate moves in steps of this many per mille (clients are told of each step).
const STEP_PERMILLE: u16 = 50;
/// Ticks between two steps up (slowing down is at once; speeding up waits a second at 20
/// Hz, so one cheap tick does not undo it).
const TICKS_PER_STEP_UP: u32 = 20;

/// A zone's clock rate and the credit of beats towards the next tick.
#[derive(Debug, Clone)]
pub struct Dilation {
    floor: u16,
    permille: u16,
    /// Beats' worth of game time owed to the simulation, in per mille of a tick.
    credit: u32,
    /// The smoothed share of a beat a tick takes.
    load: f32,
    ticks_since_step: u32,
}

impl Dilation {
    /// A clock at normal speed that never runs slower than `floor_percent` % of it.
    pub fn new(floor_percent: u8) -> Self {
        let floor = (u16::from(floor_percent) * 10).clamp(STEP_PERMILLE, TimeRate::NORMAL.permille);
        Self {
            floor,
            permille: TimeRate::NORMAL.permille,
            credit: 0,
            load: 0.0,
            ticks_since_step: 0,
        }
    }

    /// The clock's rate, per mille of real time.
    pub fn permille(&self) -> u16 {
        self.permille
    }

    /// A beat of the real-time ticker: whether the simulation ticks on it. At rate r it
    /// ticks on r of every 1000 beats, evenly spread.
    pub fn beat(&mut self) -> bool {
        self.credit += u32::from(self.permille);
        if self.credit >= u32::from(TimeRate::NORMAL.permille) {
            self.credit -= u32::from(TimeRate::NORMAL.permille);
            true
        } else {
            false
        }
    }

    /// A tick took `took` of the `beat` between two ticks at normal speed: the rate slows
    /// at once to what the smoothed tick time allows, or speeds up a step once the tick
    /// has been cheap enough for a while. Returns the new rate when it changed.
    pub fn tick_took(&mut self, took: Duration, beat: Duration) -> Option<u16> {
        let share = took.as_secs_f32() / beat.as_secs_f32().max(f32::EPSILON);
        self.load += SMOOTHING * (share - self.load);
        self.ticks_since_step += 1;
        let wanted = self.allowed();
        let next = if wanted < self.permille {
            wanted
        } else if wanted > self.permille && self.ticks_since_step >= TICKS_PER_STEP_UP {
            (self.permille + STEP_PERMILLE).min(wanted)
        } else {
            self.permille
        };
        if next == self.permille {
            return None;
        }
        self.permille = next;
        self.ticks_since_step = 0;
        Some(next)
    }

    /// The fastest rate at which the smoothed tick takes at most [`TARGET_LOAD`] of the
    /// real time between ticks, in whole steps, within the floor and normal speed.
    fn allowed(&self) -> u16 {
        let fits = if self.load <= TARGET_LOAD {
            1.0
        } else {
            TARGET_LOAD / self.load
        };
        let steps = (fits * 1000.0 / f32::from(STEP_PERMILLE)).floor() as u16;
        (steps * STEP_PERMILLE).clamp(self.floor, TimeRate::NORMAL.permille)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_tick_within_its_budget_keeps_normal_speed() {
        let mut d = Dilation::new(50);
        for _ in 0..200 {
            assert!(d.beat());
            assert_eq!(d.tick_took(ms(40), BEAT), None);
        }
        assert_eq!(d.permille(), 1000);
    }

    #[test]
    fn overrunning_ticks_slow_the_clock_to_what_fits_and_no_lower_than_the_floor() {
        let mut d = Dilation::new(50);
        for _ in 0..100 {
            d.tick_took(ms(60), BEAT);
        }
        // 60 ms a tick: 45 ms is 90 % of a beat, so ticks come at 45/60 = 75 % of the pace.
        assert_eq!(d.permille(), 750);
        let ticks = (0..1000).filter(|_| d.beat()).count();
        assert_eq!(ticks, 750);
        for _ in 0..100 {
            d.tick_took(ms(500), BEAT);
        }
        assert_eq!(d.permille(), 500, "floored");
    }

    #[test]
    fn the_clock_speeds_up_step_by_step_once_ticks_are_cheap_again() {
        let mut d = Dilation::new(50);
        for _ in 0..100 {
            d.tick_took(ms(90), BEAT);
        }
        assert_eq!(d.permille(), 500);
        let mut rates = vec![];
        for _ in 0..400 {
            if let Some(rate) = d.tick_took(ms(10), BEAT) {
                rates.push(rate);
            }
        }
        assert_eq!(rates, [550, 600, 650, 700, 750, 800, 850, 900, 950, 1000]);
    }
}
