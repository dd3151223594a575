//! One session per character in a zone, continuing the character's freshest state.
//!
//! A character can reach a zone by several ways at once. A client that heard nothing from
//! its zone for 2 s rejoins through the manager (PROTOCOL.md §12) while that zone, stood
//! down, carries its state here as a migration; a client reconnects while its last
//! session's save or quest call is still in flight. Whichever ticket it spends, the session
//! it gets starts from the freshest of the states this zone holds of it, and the others are
//! dropped unsaved: two states of one character saved from here would refuse each other as
//! stale (412), and the one written from older data could bring back an item spent since.

use protocol::cluster::PlayerTransfer;
use protocol::http::character::Character;
use protocol::http::quest::QuestProgress;

use super::ZoneActorState;
use super::arrivals::{Origin, PendingArrival};

/// Where a state of the connecting character was found; at equal versions a later kind
/// holds more of what happened to the character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Found {
    /// Loaded from character-api for a join (or carried by a handoff its sender has not
    /// committed): the saved state, as far as this zone may count on.
    Loaded,
    /// Carried by a migration or a committed handoff: as saved, and what happened since,
    /// and this zone's to save.
    Carried,
    /// This zone's own: a session still connected, a state held for quest calls in flight,
    /// or one being saved.
    Here,
}

/// One state of the connecting character.
#[derive(Debug)]
struct Candidate {
    character: Character,
    /// Quest standings that came with it (a join's are loaded with the ticket's arrival).
    quests: Option<Vec<QuestProgress>>,
    /// The version character-api holds once the writes of this state in flight have
    /// landed: a state being written is one version on from the version it names.
    settles_at: u64,
    found: Found,
}

impl Found {
    /// A handoff not committed yet is still its sender's state: it ranks as the saved one.
    fn by(origin: Origin) -> Self {
        if origin.owned() {
            Self::Carried
        } else {
            Self::Loaded
        }
    }
}

impl Candidate {
    /// A pending arrival's state.
    fn arriving(pending: PendingArrival) -> Self {
        Self {
            settles_at: pending.arrival.character.version,
            character: pending.arrival.character,
            quests: Some(pending.arrival.quests),
            found: Found::by(pending.origin),
        }
    }
}

/// The freshest of `candidates`: the highest settled version, then the kind that holds
/// more; on a full tie the first (the ticket spent) stays.
fn freshest(candidates: impl IntoIterator<Item = Candidate>) -> Option<Candidate> {
    candidates.into_iter().reduce(|best, c| {
        if (c.settles_at, c.found) > (best.settles_at, best.found) {
            c
        } else {
            best
        }
    })
}

impl ZoneActorState {
    /// `arrival` (the ticket just spent) becomes the character's one session here: every
    /// other pending arrival of theirs is taken out, a state held for their quest calls
    /// taken back, and `arrival` continues the freshest state of them all, including
    /// `replaced` (their session still connected here, already taken out).
    pub(super) fn resume_freshest(
        &mut self,
        arrival: &mut PlayerTransfer,
        origin: Origin,
        replaced: Option<PlayerTransfer>,
    ) {
        let id = arrival.character.id;
        let writing = self.saves.latest(id);
        let in_flight = writing.as_ref().map(|w| w.version);
        let here = |character: Character, quests| Candidate {
            settles_at: character.version + u64::from(in_flight == Some(character.version)),
            character,
            quests,
            found: Found::Here,
        };
        let mut candidates = vec![Candidate {
            settles_at: arrival.character.version,
            character: arrival.character.clone(),
            quests: None,
            found: Found::by(origin),
        }];
        candidates.extend(
            self.arrivals
                .take_character(id)
                .into_iter()
                .map(Candidate::arriving),
        );
        if let Some(old) = replaced {
            candidates.push(here(old.character, Some(old.quests)));
        } else if let Some((character, quests)) = self.quests.take_leaving(id) {
            candidates.push(here(*character, Some(quests)));
        } else if let Some(character) = writing {
            candidates.push(here(character, None));
        }
        let others = candidates.len() - 1;
        if let Some(best) = freshest(candidates) {
            if others > 0 {
                tracing::info!(character = %id, from = ?best.found, version = best.character.version, states = others + 1, "one session for a character with several states here");
                metrics::counter!("zone_sessions_merged_total").increment(1);
            }
            arrival.character = best.character;
            if let Some(quests) = best.quests {
                arrival.quests = quests;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::http::character::{Inventory, Stats};
    use protocol::{AccountId, AreaId, CharacterId, Position};

    fn candidate(version: u64, settles_at: u64, found: Found, name: &str) -> Candidate {
        let character = Character {
            id: CharacterId::new_random(),
            account_id: AccountId::new_random(),
            name: name.into(),
            version,
            area: AreaId::new(0, 0),
            position: Position::new(0.0, 0.0, 0.0),
            yaw: 0.0,
            stats: Stats {
                health: 100,
                max_health: 100,
                level: 1,
                xp: Default::default(),
            },
            inventory: Inventory::empty(),
            created_at: 0,
            updated_at: 0,
        };
        Candidate {
            character,
            quests: None,
            settles_at,
            found,
        }
    }

    fn pick(candidates: Vec<Candidate>) -> String {
        freshest(candidates).expect("one").character.name
    }

    #[test]
    fn carried_state_beats_the_same_version_loaded() {
        assert_eq!(
            pick(vec![
                candidate(4, 4, Found::Loaded, "join"),
                candidate(4, 4, Found::Carried, "migration"),
            ]),
            "migration"
        );
    }

    #[test]
    fn a_newer_save_beats_older_carried_state() {
        assert_eq!(
            pick(vec![
                candidate(5, 5, Found::Loaded, "join"),
                candidate(4, 4, Found::Carried, "migration"),
            ]),
            "join"
        );
    }

    #[test]
    fn the_state_being_saved_here_beats_what_its_write_will_leave_stored() {
        assert_eq!(
            pick(vec![
                candidate(5, 5, Found::Loaded, "join"),
                candidate(4, 5, Found::Here, "saving"),
            ]),
            "saving"
        );
        assert_eq!(
            pick(vec![
                candidate(6, 6, Found::Loaded, "join"),
                candidate(4, 5, Found::Here, "saving"),
            ]),
            "join"
        );
    }

    #[test]
    fn on_a_full_tie_the_ticket_spent_stays() {
        assert_eq!(
            pick(vec![
                candidate(3, 3, Found::Carried, "spent"),
                candidate(3, 3, Found::Carried, "other"),
            ]),
            "spent"
        );
    }
}
