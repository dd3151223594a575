//! MessagePack ints and array headers in their smallest form, written straight into the
//! buffer: the same bytes `rmp` (and so `rmp_serde`) writes, without its per-byte error
//! plumbing, for the per-tick paths (a `Delta`'s entity updates, and
//! [`UpdateWriter`](super::update_writer::UpdateWriter)).

use crate::client::entity::EntityDelta;

/// Where MessagePack is written: a growing buffer, or [`Inline`].
pub(crate) trait Sink {
    /// Appends `bytes` (a handful, of a length known where it is called).
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A few bytes held in place: one entity update, at most [`Inline::CAPACITY`] bytes
/// (array header 1, id 9, mask 1, three position differences 5 each, yaw 2, animation 1,
/// health 2: 31).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inline {
    bytes: [u8; Inline::CAPACITY],
    len: u8,
}

impl Inline {
    pub(crate) const CAPACITY: usize = 32;

    pub(crate) const EMPTY: Self = Self {
        bytes: [0; Self::CAPACITY],
        len: 0,
    };

    /// The bytes written.
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether nothing was written.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the bytes written to `buf` by copying the whole block, then cutting it to
    /// length: a fixed-size copy is a couple of moves, where a copy of a length known only
    /// at run time is a call.
    #[inline(always)]
    pub(crate) fn append_to(&self, buf: &mut Vec<u8>) {
        let len = buf.len() + usize::from(self.len);
        buf.extend_from_slice(&self.bytes);
        buf.truncate(len);
    }
}

impl Sink for Inline {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        let start = usize::from(self.len);
        // Never more than the capacity: the callers write one entity update.
        if let Some(room) = self.bytes.get_mut(start..start + bytes.len()) {
            room.copy_from_slice(bytes);
            self.len += bytes.len() as u8;
        }
    }
}

#[inline(always)]
pub(crate) fn uint(buf: &mut impl Sink, v: u64) {
    match v {
        0..=0x7f => buf.put(&[v as u8]),
        0x80..=0xff => buf.put(&[0xcc, v as u8]),
        0x100..=0xffff => {
            buf.put(&[0xcd]);
            buf.put(&(v as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            buf.put(&[0xce]);
            buf.put(&(v as u32).to_be_bytes());
        }
        _ => {
            buf.put(&[0xcf]);
            buf.put(&v.to_be_bytes());
        }
    }
}

#[inline(always)]
pub(crate) fn sint(buf: &mut impl Sink, v: i64) {
    match v {
        0.. => uint(buf, v as u64),
        -32..=-1 => buf.put(&[v as i8 as u8]),
        -128..=-33 => buf.put(&[0xd0, v as i8 as u8]),
        -32768..=-129 => {
            buf.put(&[0xd1]);
            buf.put(&(v as i16).to_be_bytes());
        }
        -2_147_483_648..=-32769 => {
            buf.put(&[0xd2]);
            buf.put(&(v as i32).to_be_bytes());
        }
        _ => {
            buf.put(&[0xd3]);
            buf.put(&v.to_be_bytes());
        }
    }
}

#[inline(always)]
pub(crate) fn array_len(buf: &mut impl Sink, n: usize) {
    match n {
        0..=15 => buf.put(&[0x90 | n as u8]),
        16..=0xffff => {
            buf.put(&[0xdc]);
            buf.put(&(n as u16).to_be_bytes());
        }
        _ => {
            buf.put(&[0xdd]);
            buf.put(&(n.min(u32::MAX as usize) as u32).to_be_bytes());
        }
    }
}

/// One entity update: `[id, mask, <present fields in bit order>]`.
#[inline(always)]
pub(crate) fn entity_delta(buf: &mut impl Sink, u: &EntityDelta) {
    let mask = u.mask();
    array_len(buf, 2 + mask.count_ones() as usize);
    uint(buf, u.id.0);
    uint(buf, u64::from(mask));
    for v in [u.dx, u.dy, u.dz].into_iter().flatten() {
        sint(buf, i64::from(v));
    }
    if let Some(v) = u.dyaw {
        sint(buf, i64::from(v));
    }
    if let Some(v) = u.anim {
        uint(buf, u64::from(v.number()));
    }
    if let Some(v) = u.health {
        uint(buf, u64::from(v));
    }
}
