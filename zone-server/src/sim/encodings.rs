//! Each entity of the tick encoded once, whoever it is sent to. In a crowd every entity is in
//! dozens of views: most of them held its last tick's motion and are sent the same change,
//! and every tick some of them see it for the first time and are sent its whole state. Both
//! are encoded here at most once per tick and copied into each client's frame; only a view
//! that holds an older motion (a far entity whose movement waited) has its change encoded
//! for it alone.

use protocol::EntityId;
use protocol::client::entity::{EntityMotion, EntityState};
use protocol::client::update_writer::{EncodedUpdate, UpdateWriter, encode_entity_state};
use rustc_hash::FxHashMap;

/// A slice of [`EntityEncodings::bytes`].
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

/// Per slot of the tick's entity table.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The entity's motion in the last tick's table, if it was there.
    before: Option<EntityMotion>,
    /// Its update from `before` to now.
    change: EncodedUpdate,
    /// Its full state and the motion in it, once a view needed it this tick.
    state: Option<(Span, EntityMotion)>,
}

/// The tick's shared encodings.
#[derive(Debug, Default)]
pub(super) struct EntityEncodings {
    /// Every entity's motion as the table last had it.
    last: FxHashMap<EntityId, EntityMotion>,
    slots: Vec<Slot>,
    /// The full states encoded this tick (`Slot::state` points into it).
    bytes: Vec<u8>,
    /// The version of the table `slots` describe.
    version: Option<u64>,
}

impl EntityEncodings {
    /// Makes ready for the entity table `frame` (its `version` counts the table's
    /// rebuilds; nothing is done if it was already made ready for it): each entity's change
    /// since the table it was last made ready for is encoded now (a few bytes each; nearly
    /// all are sent to someone), full states when first asked for.
    pub(super) fn begin(&mut self, frame: &[(EntityId, EntityMotion)], version: u64) {
        if self.version == Some(version) {
            return;
        }
        self.version = Some(version);
        self.bytes.clear();
        self.slots.clear();
        for &(id, now) in frame {
            let before = self.last.get(&id).copied();
            let change = before.map_or(EncodedUpdate::NONE, |old| {
                EncodedUpdate::between(id, &old, &now)
            });
            self.slots.push(Slot {
                before,
                change,
                state: None,
            });
        }
        self.last.clear();
        self.last.extend(frame.iter().copied());
    }

    /// Writes the change of the entity `id` in `slot` from `old` (what the client holds)
    /// to `now`: the shared encoding when the client holds the last tick's motion.
    #[inline]
    pub(super) fn write_update(
        &self,
        slot: u32,
        id: EntityId,
        old: &EntityMotion,
        now: &EntityMotion,
        writer: &mut UpdateWriter,
    ) {
        match self.slots.get(slot as usize) {
            Some(s) if s.before.as_ref() == Some(old) => writer.update_encoded(&s.change),
            _ => write_own_update(id, old, now, writer),
        }
    }

    /// Writes the entity in `slot` entering a view, its state from `state_of` the first
    /// time this tick; the motion the client then holds, or `None` if there is no such
    /// entity (or it cannot be encoded: it stays out of the view and is tried again).
    pub(super) fn write_added(
        &mut self,
        slot: u32,
        state_of: impl FnOnce() -> Option<EntityState>,
        writer: &mut UpdateWriter,
    ) -> Option<EntityMotion> {
        let entry = self.slots.get_mut(slot as usize)?;
        let (span, motion) = match entry.state {
            Some(known) => known,
            None => {
                let state = state_of()?;
                let start = self.bytes.len();
                if let Err(e) = encode_entity_state(&state, &mut self.bytes) {
                    self.bytes.truncate(start);
                    tracing::warn!(entity = %state.id, error = %e, "an entity's state does not encode");
                    return None;
                }
                let span = Span {
                    start: start as u32,
                    end: self.bytes.len() as u32,
                };
                entry.state = Some((span, state.motion()));
                (span, state.motion())
            }
        };
        writer.add_encoded(&self.bytes[span.start as usize..span.end as usize]);
        Some(motion)
    }
}

/// The change of one entity for one view alone (kept out of line: the shared path above is
/// the one every view takes for nearly every entity).
#[inline(never)]
fn write_own_update(
    id: EntityId,
    old: &EntityMotion,
    now: &EntityMotion,
    writer: &mut UpdateWriter,
) {
    writer.update(id, old, now);
}
