//! Reading the zones' own record of who was where ([`PlayerStay`], `GET /v1/stays` on
//! every zone-server) and checking the seamless-world invariants against it: no player in
//! two zones at once, every input applied exactly once, state carried over exactly, and the
//! handoff latencies the benchmark reports.

use std::collections::HashMap;

use protocol::CharacterId;
use protocol::http::zone::{ArrivedBy, PlayerStay};

/// Every stay every zone-server at `zone_urls` (base URLs) remembers.
pub async fn fetch_stays(zone_urls: &[String], token: &str) -> anyhow::Result<Vec<PlayerStay>> {
    let http = reqwest::Client::new();
    let mut all = Vec::new();
    for url in zone_urls {
        let response = http
            .get(format!("{url}/v1/stays"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}/v1/stays: {}",
            response.status()
        );
        all.extend(response.json::<Vec<PlayerStay>>().await?);
    }
    Ok(all)
}

/// What the stays show.
#[derive(Debug, Default, Clone)]
pub struct StayReport {
    /// Stays read.
    pub stays: usize,
    /// Moves between zones (handoffs and migrations) seen.
    pub moves: usize,
    /// Moves by handoff.
    pub handoffs: usize,
    /// Overlapping stays of one character (a player in two zones at once).
    pub double_owners: Vec<String>,
    /// Inputs skipped inside a stay, or lost between two (carried sequence mismatch).
    pub lost_inputs: u64,
    /// Descriptions of each loss.
    pub losses: Vec<String>,
    /// Per handoff: microseconds from the border-crossing tick to the first input applied
    /// in the new zone.
    pub handoff_latencies_us: Vec<u64>,
}

/// Checks every character's stays, in time order.
pub fn check_stays(stays: &[PlayerStay]) -> StayReport {
    let mut by_character: HashMap<CharacterId, Vec<&PlayerStay>> = HashMap::new();
    for stay in stays {
        by_character.entry(stay.character).or_default().push(stay);
    }
    let mut report = StayReport {
        stays: stays.len(),
        ..StayReport::default()
    };
    for (character, mut list) in by_character {
        list.sort_by_key(|s| s.entered_us);
        for stay in &list {
            if stay.left_us.is_some() {
                // After a join the client's numbering goes on from wherever it was: count
                // from the first input applied. Otherwise from what was carried in.
                let from = match (stay.arrived_by, stay.first_input_seq) {
                    (ArrivedBy::Join, Some(first)) => first.saturating_sub(1),
                    (ArrivedBy::Join, None) => stay.exit_seq,
                    _ => stay.entry_seq,
                };
                let span = u64::from(stay.exit_seq.saturating_sub(from));
                if stay.inputs_applied < span {
                    report.lost_inputs += span - stay.inputs_applied;
                    report.losses.push(format!(
                        "{character}: {} of inputs {}..={} applied in zone {} (arrived by {:?} \
                         at input {}, first applied {:?})",
                        stay.inputs_applied,
                        from + 1,
                        stay.exit_seq,
                        stay.zone,
                        stay.arrived_by,
                        stay.entry_seq,
                        stay.first_input_seq
                    ));
                }
            }
        }
        for pair in list.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            match before.left_us {
                Some(left) if left <= after.entered_us => {}
                _ => report.double_owners.push(format!(
                    "{character}: in zone {} ({}..{:?}) and zone {} (from {})",
                    before.zone, before.entered_us, before.left_us, after.zone, after.entered_us
                )),
            }
            if after.arrived_by == ArrivedBy::Join {
                continue;
            }
            report.moves += 1;
            if after.entry_seq != before.exit_seq {
                report.lost_inputs += u64::from(before.exit_seq.abs_diff(after.entry_seq));
                report.losses.push(format!(
                    "{character}: left zone {} at input {}, arrived in zone {} at {}",
                    before.zone, before.exit_seq, after.zone, after.entry_seq
                ));
            }
            if after.arrived_by == ArrivedBy::Handoff {
                report.handoffs += 1;
                if let (Some(start), Some(first)) =
                    (before.handoff_started_us, after.first_input_us)
                {
                    report
                        .handoff_latencies_us
                        .push(first.saturating_sub(start));
                }
            }
        }
    }
    report
}
