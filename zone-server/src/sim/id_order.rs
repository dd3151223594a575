//! The tick's entities in id order, for the views: each client's view merges the entities
//! it can see with what it holds in id order, and its area-of-interest query finds them in
//! distance order. Ranking every entity of the tick by id once lets each client's visible
//! set be put in id order by marking bits and reading them back — a pass over one bit per
//! entity of the tick — instead of a sort by key per client.

use protocol::EntityId;

/// Each slot of the tick's entity table ranked by its entity's id.
#[derive(Debug, Default)]
pub(super) struct IdOrder {
    /// Slot → rank.
    rank: Vec<u32>,
    /// Rank → slot.
    by_id: Vec<u32>,
    /// One bit per rank: the visible set being ordered (all clear between calls).
    marks: Vec<u64>,
}

impl IdOrder {
    /// Ranks the tick's table of `len` slots, `id_of(slot)` being the entity in a slot.
    pub(super) fn rank(&mut self, len: usize, id_of: impl Fn(usize) -> EntityId) {
        self.by_id.clear();
        self.by_id.extend(0..len as u32);
        self.by_id
            .sort_unstable_by_key(|&slot| id_of(slot as usize));
        self.rank.clear();
        self.rank.resize(len, 0);
        for (rank, &slot) in self.by_id.iter().enumerate() {
            self.rank[slot as usize] = rank as u32;
        }
        self.marks.clear();
        self.marks.resize(len.div_ceil(64), 0);
    }

    /// `slots` (of the ranked table) in id order, into `out`.
    pub(super) fn sort(&mut self, slots: impl Iterator<Item = u32>, out: &mut Vec<u32>) {
        out.clear();
        let (mut first, mut last) = (usize::MAX, 0);
        for slot in slots {
            let Some(&rank) = self.rank.get(slot as usize) else {
                continue;
            };
            let (word, bit) = (rank as usize / 64, rank % 64);
            self.marks[word] |= 1 << bit;
            first = first.min(word);
            last = last.max(word);
        }
        for word in first..=last.min(self.marks.len().saturating_sub(1)) {
            let mut bits = std::mem::take(&mut self.marks[word]);
            while bits != 0 {
                let rank = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                out.push(self.by_id[rank]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_back_in_id_order_once_each() {
        let ids: Vec<EntityId> = [50u64, 7, 900, 3, 64, 65, 1 << 52, 12]
            .iter()
            .map(|&n| EntityId(n))
            .collect();
        let mut order = IdOrder::default();
        order.rank(ids.len(), |slot| ids[slot]);
        let mut out = Vec::new();
        order.sort([2, 0, 6, 3, 0, 99].into_iter(), &mut out);
        let sorted: Vec<u64> = out.iter().map(|&s| ids[s as usize].0).collect();
        assert_eq!(
            sorted,
            [3, 50, 900, 1 << 52],
            "sorted, deduplicated, unknown slots left out"
        );
        order.sort([7, 5, 4, 1].into_iter(), &mut out);
        let sorted: Vec<u64> = out.iter().map(|&s| ids[s as usize].0).collect();
        assert_eq!(
            sorted,
            [7, 12, 64, 65],
            "the marks of the last call are gone"
        );
        order.sort(std::iter::empty(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn more_than_a_word_of_entities() {
        let ids: Vec<EntityId> = (0..300u64).rev().map(EntityId).collect();
        let mut order = IdOrder::default();
        order.rank(ids.len(), |slot| ids[slot]);
        let mut out = Vec::new();
        order.sort((0..300).step_by(7), &mut out);
        let sorted: Vec<u64> = out.iter().map(|&s| ids[s as usize].0).collect();
        let mut expected: Vec<u64> = (0..300).step_by(7).map(|s| 299 - s as u64).collect();
        expected.sort_unstable();
        assert_eq!(sorted, expected);
    }
}
