//! What a zone believes of a handoff or a whole area sent to it (DESIGN.md, invariant 7): a handed-over player is
//! admitted only from the current owner of a neighbouring area, by the manager's word and
//! epoch, sent under that owner's own NATS identity, and carrying the character at the
//! version character-api holds. The sender is authenticated by the NATS server (its identity
//! is the last token of the subject, which only it may publish); everything it *claims* is
//! checked here against the authority for it.
//!
//! The manager's word on who owns an area is kept in an [`OwnerBook`], refreshed by the
//! owner map the manager publishes every heartbeat interval: a prepare that matches it costs
//! no round trip (and needs no manager at all), and one that does not is checked with the
//! manager again before it is refused (ownership changes, and epochs only grow).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use protocol::cluster::{
    self, AreaOwner, AreaOwnerQuery, AreaStateTransfer, BorderSender, HandoffPrepare, Handover,
    Identity, ManagerVerb, OwnerMap, Reply,
};
use protocol::http::character::Character;
use protocol::{AreaId, Epoch, ZoneId};

use crate::shared::Shared;

/// How long the manager may take to say who owns an area.
const OWNER_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// The manager's word on who owns which area, as last heard.
#[derive(Debug, Default)]
pub struct OwnerBook {
    owners: Mutex<HashMap<AreaId, AreaOwner>>,
}

impl OwnerBook {
    /// The owner of `area` as last heard.
    pub fn get(&self, area: AreaId) -> Option<AreaOwner> {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&area)
            .cloned()
    }

    /// Takes in the manager's whole map: areas it lists are set (never to an older
    /// epoch), areas it does not list have no owner any more.
    pub fn replace(&self, map: OwnerMap) {
        let listed: HashSet<AreaId> = map.owners.iter().map(|o| o.area).collect();
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|area, _| listed.contains(area));
        for owner in map.owners {
            self.set(owner);
        }
    }

    /// The owners of `areas` as last heard (one lock for all).
    pub fn get_all(&self, areas: impl Iterator<Item = AreaId>) -> Vec<AreaOwner> {
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        areas.filter_map(|a| owners.get(&a).cloned()).collect()
    }

    fn set(&self, owner: AreaOwner) {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        let newer = owners
            .get(&owner.area)
            .is_none_or(|o| o.epoch <= owner.epoch);
        if newer {
            owners.insert(owner.area, owner);
        }
    }
}

/// Why a prepare is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Distrust {
    /// The area it comes from does not touch this one.
    #[error("area {from} is not a neighbour of {to}")]
    NotANeighbour {
        /// The area left.
        from: AreaId,
        /// The area entered.
        to: AreaId,
    },
    /// The manager says someone else owns the area it comes from (or nobody does).
    #[error("the sender is not the owner of {0} by the manager's word")]
    NotTheOwner(AreaId),
    /// The manager could not be asked.
    #[error("cannot ask the manager who owns {0}: {1}")]
    NoAuthority(AreaId, String),
    /// The carried character is not the one character-api holds at that version.
    #[error("the carried character is not the saved one: {0}")]
    NotTheSavedCharacter(String),
    /// A whole area's world from a zone the manager did not name as its source.
    #[error("the sender is not the zone the manager named to hand {0} over")]
    NotTheHandoverSource(AreaId),
}

impl Distrust {
    /// The metric label.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Self::NotANeighbour { .. } => "not_a_neighbour",
            Self::NotTheOwner(_) => "not_the_owner",
            Self::NoAuthority(..) => "no_authority",
            Self::NotTheSavedCharacter(_) => "not_the_saved_character",
            Self::NotTheHandoverSource(_) => "not_the_handover_source",
        }
    }
}

/// Why a ghost frame, border act or border chat line is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum BorderDistrust {
    /// It is not addressed to the area this zone holds.
    #[error("this zone does not hold the area addressed")]
    NotHere,
    /// The sender's area does not touch this one.
    #[error("the sender's area is not a neighbour")]
    NotANeighbour,
    /// The sender owns its area under an older epoch than the manager's current one.
    #[error("the sender's epoch is no longer current")]
    StaleEpoch,
    /// By the manager's word (as last heard), someone else owns the sender's area.
    #[error("the sender is not the owner of its area by the manager's word")]
    NotTheOwner,
}

impl BorderDistrust {
    /// The metric label.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Self::NotHere => "not_here",
            Self::NotANeighbour => "not_a_neighbour",
            Self::StaleEpoch => "stale_epoch",
            Self::NotTheOwner => "not_the_owner",
        }
    }
}

/// Checks a border message from `sender` (the NATS server's word) that claims to come
/// from `from` and is addressed to `to_area`, for this zone holding `held`: the sender owns
/// a neighbouring area under the current epoch by the owner map. No round trip: ghosts come
/// every tick, and a new owner is in the map within a heartbeat interval.
pub(super) fn check_border_sender(
    owners: &OwnerBook,
    sender: &Identity,
    from: &BorderSender,
    to_area: AreaId,
    held: AreaId,
) -> Result<(), BorderDistrust> {
    if to_area != held {
        return Err(BorderDistrust::NotHere);
    }
    if !neighbours(from.area, held) {
        return Err(BorderDistrust::NotANeighbour);
    }
    match owners.get(from.area) {
        Some(o) if o.identity == sender.as_str() && o.zone == from.zone => {
            if o.epoch == from.epoch {
                Ok(())
            } else {
                Err(BorderDistrust::StaleEpoch)
            }
        }
        _ => Err(BorderDistrust::NotTheOwner),
    }
}

/// Whether `a` and `b` are different areas sharing an edge or a corner.
fn neighbours(a: AreaId, b: AreaId) -> bool {
    a != b && a.x.abs_diff(b.x) <= 1 && a.z.abs_diff(b.z) <= 1
}

fn sent_by_owner(owner: &AreaOwner, sender: &Identity, prepare: &HandoffPrepare) -> bool {
    owner.zone == prepare.from_zone
        && owner.epoch == prepare.from_epoch
        && owner.identity == sender.as_str()
}

/// Asks the manager who owns `area`, and remembers the answer.
async fn ask_owner(shared: &Shared, area: AreaId) -> Result<Option<AreaOwner>, Distrust> {
    let subject = shared.subjects.manager(ManagerVerb::AreaOwner);
    let body = cluster::encode(&AreaOwnerQuery { area });
    let request = shared.nats.request(subject, body.into());
    let reply = match tokio::time::timeout(OWNER_QUERY_TIMEOUT, request).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => return Err(Distrust::NoAuthority(area, e.to_string())),
        Err(_) => return Err(Distrust::NoAuthority(area, "no answer in time".into())),
    };
    match cluster::decode::<Reply<AreaOwner>>(&reply.payload) {
        Ok(Ok(owner)) => {
            shared.owners.set(owner.clone());
            Ok(Some(owner))
        }
        Ok(Err(e)) if e.kind == cluster::ErrorKind::NotFound => Ok(None),
        Ok(Err(e)) => Err(Distrust::NoAuthority(area, e.to_string())),
        Err(e) => Err(Distrust::NoAuthority(area, e.to_string())),
    }
}

/// Checks a prepare received from `sender` for this zone's area `to`: the sender owns a
/// neighbouring area by the manager's word, and the carried character is the saved one.
pub(super) async fn check_prepare(
    shared: &Shared,
    sender: &Identity,
    prepare: &HandoffPrepare,
) -> Result<(), Distrust> {
    let (from, to) = (prepare.from_area, prepare.to_area);
    if !neighbours(from, to) {
        return Err(Distrust::NotANeighbour { from, to });
    }
    let cached = shared
        .owners
        .get(from)
        .is_some_and(|o| sent_by_owner(&o, sender, prepare));
    if !cached {
        let owner = ask_owner(shared, from).await?;
        if !owner.is_some_and(|o| sent_by_owner(&o, sender, prepare)) {
            return Err(Distrust::NotTheOwner(from));
        }
    }
    check_saved(shared, &prepare.player.character).await
}

/// Checks that an acceptance of a prepare this zone sent names the owner of `area` by the
/// manager's word, with its address: anyone allowed on areas' subjects can answer a prepare,
/// and a player must never be sent to a zone that does not own the area.
pub(super) async fn check_accepted(
    shared: &Shared,
    area: AreaId,
    zone: ZoneId,
    epoch: Epoch,
    ws_url: &str,
) -> Result<(), Distrust> {
    let is_owner = |o: &AreaOwner| o.zone == zone && o.epoch == epoch && o.ws_url == ws_url;
    if shared.owners.get(area).is_some_and(|o| is_owner(&o)) {
        return Ok(());
    }
    match ask_owner(shared, area).await? {
        Some(o) if is_owner(&o) => Ok(()),
        _ => Err(Distrust::NotTheOwner(area)),
    }
}

/// Checks that a carried character is the one character-api holds, at the same version:
/// carried state is only ever the continuation of what was saved.
async fn check_saved(shared: &Shared, carried: &Character) -> Result<(), Distrust> {
    let saved = shared
        .apis
        .character(carried.id)
        .await
        .map_err(|e| Distrust::NotTheSavedCharacter(e.to_string()))?;
    if saved.version != carried.version || saved.account_id != carried.account_id {
        return Err(Distrust::NotTheSavedCharacter(format!(
            "character {} is saved at version {}, the message carries version {}",
            carried.id, saved.version, carried.version
        )));
    }
    Ok(())
}

/// Checks a whole area's state sent by `sender`: every carried player is the saved one,
/// and NPCs and ground items come only from the zone the manager named as the area's
/// handover source when it allocated the area here (a message never creates an item).
pub(super) async fn check_area_state(
    shared: &Shared,
    sender: &Identity,
    handover_from: Option<&Handover>,
    transfer: &AreaStateTransfer,
) -> Result<(), Distrust> {
    let carries_world = !transfer.npcs.is_empty() || !transfer.ground_items.is_empty();
    let named = handover_from
        .is_some_and(|h| h.zone == transfer.from_zone && h.identity == sender.as_str());
    if carries_world && !named {
        return Err(Distrust::NotTheHandoverSource(transfer.area));
    }
    let checks = transfer
        .players
        .iter()
        .map(|p| check_saved(shared, &p.character));
    futures_util::future::try_join_all(checks).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_share_an_edge_or_a_corner() {
        let a = AreaId::new(1, 1);
        for (x, z) in [
            (0, 0),
            (1, 0),
            (2, 0),
            (0, 1),
            (2, 1),
            (0, 2),
            (1, 2),
            (2, 2),
        ] {
            assert!(neighbours(a, AreaId::new(x, z)), "{x}-{z}");
        }
        assert!(!neighbours(a, a));
        assert!(!neighbours(a, AreaId::new(3, 1)));
        assert!(!neighbours(AreaId::new(0, 0), AreaId::new(0, 2)));
    }
}
