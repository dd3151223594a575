//! What many schedules showed together: how many ran, every violation (with the schedule
//! that found it), and each figure's count, median and maximum, as the soak prints them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ScheduleReport, Step};

/// Schedules run so far and what they found.
#[derive(Debug, Default)]
pub struct Summary {
    /// Schedules run.
    pub schedules: usize,
    /// Every violation, prefixed with its schedule's number and steps.
    pub violations: Vec<String>,
    /// Every loss of inputs the zones explained by refusing a stalled zone's backlog.
    pub refused_backlog: Vec<String>,
    figures: BTreeMap<String, Vec<Duration>>,
    plays_again: BTreeMap<&'static str, Vec<Duration>>,
}

impl Summary {
    /// Adds schedule `n` (its steps, its report).
    pub fn add(&mut self, n: usize, steps: &[Step], report: &ScheduleReport) {
        self.schedules += 1;
        let plan = steps
            .iter()
            .map(Step::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        self.violations.extend(
            report
                .violations
                .iter()
                .map(|v| format!("schedule {n} ({plan}): {v}")),
        );
        self.refused_backlog.extend(
            report
                .refused_backlog
                .iter()
                .map(|v| format!("schedule {n} ({plan}): {v}")),
        );
        for figure in &report.figures {
            self.figures
                .entry(figure.what.clone())
                .or_default()
                .push(figure.took);
        }
        for (kind, took) in &report.plays_again {
            self.plays_again
                .entry(kind)
                .or_default()
                .extend(took.iter().copied());
        }
    }

    /// One line per kind of fault: how long its players took to play again (see
    /// [`ScheduleReport::plays_again`]), p50, p99 and maximum.
    pub fn plays_again_lines(&self) -> Vec<String> {
        plays_again_lines(&self.plays_again)
    }

    /// One line per figure: how often it was measured, its median and its maximum.
    pub fn figure_lines(&self) -> Vec<String> {
        self.figures
            .iter()
            .map(|(what, took)| {
                let mut sorted = took.clone();
                sorted.sort();
                let median = sorted[sorted.len() / 2];
                let max = sorted[sorted.len() - 1];
                format!(
                    "{what}: n={} median {:.2} s, max {:.2} s",
                    sorted.len(),
                    median.as_secs_f64(),
                    max.as_secs_f64()
                )
            })
            .collect()
    }
}

/// `plays again after <kind>: n, p50, p99, max` for each kind of fault with players on it.
pub fn plays_again_lines(by_kind: &BTreeMap<&'static str, Vec<Duration>>) -> Vec<String> {
    by_kind
        .iter()
        .filter(|(_, took)| !took.is_empty())
        .map(|(kind, took)| {
            let mut sorted = took.clone();
            sorted.sort();
            // Nearest rank.
            let rank = |q: f64| {
                sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
            };
            format!(
                "plays again after a {kind}: n={} p50 {:.2} s, p99 {:.2} s, max {:.2} s",
                sorted.len(),
                rank(0.5).as_secs_f64(),
                rank(0.99).as_secs_f64(),
                sorted[sorted.len() - 1].as_secs_f64()
            )
        })
        .collect()
}
