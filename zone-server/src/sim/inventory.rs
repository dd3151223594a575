//! Inventory rules: stacking, taking, using and equipping. Items are only ever moved, never
//! created or destroyed here, so conservation holds by construction (and is tested).

use protocol::content::{ItemStack, ItemUse};
use protocol::http::character::{Character, Inventory};

/// Why an inventory action was refused (sent to the player as `REJECTED`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// No such slot, or it is empty.
    #[error("slot {0} is empty")]
    EmptySlot(u8),
    /// The item cannot be used that way.
    #[error("{0} cannot be used like that")]
    WrongUse(String),
    /// Not enough room.
    #[error("inventory is full")]
    Full,
}

/// Adds as much of `stack` as fits (topping up stacks of its kind, then empty slots) and
/// returns what did not fit (count 0 when everything fit).
pub fn add_stack(inv: &mut Inventory, stack: ItemStack) -> ItemStack {
    let max = stack.item.spec().map_or(1, |s| s.max_stack);
    let mut left = stack.count;
    for slot in inv.slots.iter_mut().flatten() {
        if left == 0 {
            break;
        }
        if slot.item == stack.item && slot.count < max {
            let moved = left.min(max - slot.count);
            slot.count += moved;
            left -= moved;
        }
    }
    for slot in inv.slots.iter_mut() {
        if left == 0 {
            break;
        }
        if slot.is_none() {
            let moved = left.min(max);
            *slot = Some(ItemStack {
                item: stack.item,
                count: moved,
            });
            left -= moved;
        }
    }
    ItemStack {
        item: stack.item,
        count: left,
    }
}

/// Takes up to `count` items from `slot`.
pub fn take(inv: &mut Inventory, slot: u8, count: u16) -> Result<ItemStack, InventoryError> {
    let cell = inv
        .slots
        .get_mut(usize::from(slot))
        .ok_or(InventoryError::EmptySlot(slot))?;
    let stack = cell.as_mut().ok_or(InventoryError::EmptySlot(slot))?;
    let taken = count.min(stack.count).max(1);
    stack.count -= taken;
    let item = stack.item;
    if stack.count == 0 {
        *cell = None;
    }
    Ok(ItemStack { item, count: taken })
}

/// Uses (consumes one of) the item in `slot`, applying its effect to the character.
pub fn use_item(character: &mut Character, slot: u8) -> Result<(), InventoryError> {
    let stack = character
        .inventory
        .slots
        .get(usize::from(slot))
        .copied()
        .flatten()
        .ok_or(InventoryError::EmptySlot(slot))?;
    match stack.item.spec().map(|s| s.use_effect) {
        Some(ItemUse::Heal(amount)) => {
            take(&mut character.inventory, slot, 1)?;
            let stats = &mut character.stats;
            stats.health = (stats.health + u32::from(amount)).min(stats.max_health);
            Ok(())
        }
        _ => Err(InventoryError::WrongUse(stack.item.to_string())),
    }
}

/// Equips the weapon in `slot`; the weapon held before goes into that slot.
pub fn equip(inv: &mut Inventory, slot: u8) -> Result<(), InventoryError> {
    let cell = inv
        .slots
        .get_mut(usize::from(slot))
        .ok_or(InventoryError::EmptySlot(slot))?;
    let stack = cell.ok_or(InventoryError::EmptySlot(slot))?;
    if !matches!(
        stack.item.spec().map(|s| s.use_effect),
        Some(ItemUse::Weapon(_))
    ) {
        return Err(InventoryError::WrongUse(stack.item.to_string()));
    }
    *cell = inv.weapon.take();
    inv.weapon = Some(stack);
    Ok(())
}

/// Extra damage from the equipped weapon.
pub fn weapon_bonus(inv: &Inventory) -> u16 {
    match inv.weapon.and_then(|w| w.item.spec()).map(|s| s.use_effect) {
        Some(ItemUse::Weapon(bonus)) => bonus,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use protocol::content::ItemKind;

    use super::*;

    fn total(inv: &Inventory) -> u64 {
        protocol::content::ItemKind::TABLE
            .iter()
            .map(|s| inv.count_of(s.kind))
            .sum()
    }

    #[test]
    fn stacking_tops_up_then_fills_and_reports_overflow() {
        let mut inv = Inventory {
            slots: vec![None; 3],
            coins: 0,
            weapon: None,
        };
        let pelts = |count| ItemStack {
            item: ItemKind::WOLF_PELT,
            count,
        };
        assert_eq!(add_stack(&mut inv, pelts(30)).count, 0);
        assert_eq!(add_stack(&mut inv, pelts(30)).count, 0);
        assert_eq!(inv.slots[0], Some(pelts(50)));
        assert_eq!(inv.slots[1], Some(pelts(10)));
        assert_eq!(
            add_stack(&mut inv, pelts(100)).count,
            10,
            "three slots of 50 hold 150"
        );
        assert_eq!(total(&inv), 150);
    }

    #[test]
    fn take_equip_and_use_move_items_without_making_any() {
        let mut inv = Inventory::empty();
        add_stack(
            &mut inv,
            ItemStack {
                item: ItemKind::BRONZE_SWORD,
                count: 1,
            },
        );
        add_stack(
            &mut inv,
            ItemStack {
                item: ItemKind::IRON_ORE,
                count: 5,
            },
        );
        let before = total(&inv);
        assert_eq!(
            equip(&mut inv, 1),
            Err(InventoryError::WrongUse("iron_ore".into()))
        );
        equip(&mut inv, 0).unwrap();
        assert_eq!(weapon_bonus(&inv), 6);
        assert_eq!(total(&inv), before);
        let taken = take(&mut inv, 1, 2).unwrap();
        assert_eq!(taken.count, 2);
        assert_eq!(total(&inv) + 2, before);
        assert_eq!(take(&mut inv, 9, 1), Err(InventoryError::EmptySlot(9)));
        assert_eq!(take(&mut inv, 200, 1), Err(InventoryError::EmptySlot(200)));
    }
}
