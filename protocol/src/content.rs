//! Kinds of things in the world that every part names by number: item kinds and NPC kinds.
//! The tables are part of the format: a kind's number never changes meaning.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Serde for a numbered kind: the number in binary formats, the table name in JSON (the
/// number when it has none); decoding takes either.
macro_rules! kind_serde {
    ($ty:ident, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.spec() {
                    Some(spec) if s.is_human_readable() => s.serialize_str(spec.name),
                    _ => s.serialize_u16(self.0),
                }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a known ", $what, " name or number"))
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$ty, E> {
                        u16::try_from(v).map($ty).map_err(|_| {
                            E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)
                        })
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$ty, E> {
                        u16::try_from(v)
                            .map($ty)
                            .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        $ty::from_name(v)
                            .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

kind_serde!(ItemKind, "item");
kind_serde!(NpcKind, "NPC");

/// A kind of item (what a stack in an inventory slot or an item on the ground is).
///
/// Its number on binary wires, its name (e.g. `"wolf_pelt"`) in JSON; either is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKind(pub u16);

/// A stack of items of one kind: an inventory slot's content, a reward, a ground item.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemStack {
    /// What the items are.
    pub item: ItemKind,
    /// How many; at least 1 and at most the kind's `max_stack` in a valid stack.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub count: u16,
}

/// What using or equipping an item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemUse {
    /// Nothing: a material or a quest item.
    None,
    /// Consumed on use, restoring this much health.
    Heal(u16),
    /// Equipped in the weapon slot, adding this much damage per hit.
    Weapon(u16),
}

/// The fixed facts about an item kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemSpec {
    /// The kind.
    pub kind: ItemKind,
    /// Stable text name, used in data files (the quest catalog).
    pub name: &'static str,
    /// Largest count in one inventory slot.
    pub max_stack: u16,
    /// What using or equipping it does.
    pub use_effect: ItemUse,
}

impl ItemKind {
    /// Wolf pelt, dropped by wolves.
    pub const WOLF_PELT: Self = Self(1);
    /// Boar tusk, dropped by boars.
    pub const BOAR_TUSK: Self = Self(2);
    /// Healing herb, gathered from resource nodes; heals when used.
    pub const HEALING_HERB: Self = Self(3);
    /// Iron ore, gathered from resource nodes.
    pub const IRON_ORE: Self = Self(4);
    /// Bronze sword, a weapon.
    pub const BRONZE_SWORD: Self = Self(5);
    /// Bandit insignia, dropped by bandits.
    pub const BANDIT_INSIGNIA: Self = Self(6);

    /// Every item kind the world knows.
    pub const TABLE: &'static [ItemSpec] = &[
        ItemSpec {
            kind: Self::WOLF_PELT,
            name: "wolf_pelt",
            max_stack: 50,
            use_effect: ItemUse::None,
        },
        ItemSpec {
            kind: Self::BOAR_TUSK,
            name: "boar_tusk",
            max_stack: 50,
            use_effect: ItemUse::None,
        },
        ItemSpec {
            kind: Self::HEALING_HERB,
            name: "healing_herb",
            max_stack: 20,
            use_effect: ItemUse::Heal(25),
        },
        ItemSpec {
            kind: Self::IRON_ORE,
            name: "iron_ore",
            max_stack: 50,
            use_effect: ItemUse::None,
        },
        ItemSpec {
            kind: Self::BRONZE_SWORD,
            name: "bronze_sword",
            max_stack: 1,
            use_effect: ItemUse::Weapon(6),
        },
        ItemSpec {
            kind: Self::BANDIT_INSIGNIA,
            name: "bandit_insignia",
            max_stack: 50,
            use_effect: ItemUse::None,
        },
    ];

    /// The facts about this kind, or `None` for a number no item has.
    pub fn spec(self) -> Option<&'static ItemSpec> {
        Self::TABLE.iter().find(|s| s.kind == self)
    }

    /// The kind with this text name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::TABLE.iter().find(|s| s.name == name).map(|s| s.kind)
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.spec() {
            Some(spec) => f.write_str(spec.name),
            None => write!(f, "item#{}", self.0),
        }
    }
}

/// A kind of NPC. Its number on binary wires, its name (e.g. `"wolf"`) in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NpcKind(pub u16);

/// The fixed facts about an NPC kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NpcSpec {
    /// The kind.
    pub kind: NpcKind,
    /// Stable text name, used in data files (the quest catalog).
    pub name: &'static str,
    /// Health when spawned.
    pub max_health: u16,
    /// Damage per hit.
    pub damage: u16,
    /// The item it drops when killed.
    pub drop: ItemKind,
    /// Experience for the killer.
    pub xp: u32,
}

impl NpcKind {
    /// Wolf: fast, weak.
    pub const WOLF: Self = Self(1);
    /// Boar: slow, sturdy.
    pub const BOAR: Self = Self(2);
    /// Bandit: strong.
    pub const BANDIT: Self = Self(3);

    /// Every NPC kind the world knows.
    pub const TABLE: &'static [NpcSpec] = &[
        NpcSpec {
            kind: Self::WOLF,
            name: "wolf",
            max_health: 30,
            damage: 4,
            drop: ItemKind::WOLF_PELT,
            xp: 10,
        },
        NpcSpec {
            kind: Self::BOAR,
            name: "boar",
            max_health: 50,
            damage: 6,
            drop: ItemKind::BOAR_TUSK,
            xp: 15,
        },
        NpcSpec {
            kind: Self::BANDIT,
            name: "bandit",
            max_health: 80,
            damage: 9,
            drop: ItemKind::BANDIT_INSIGNIA,
            xp: 30,
        },
    ];

    /// The facts about this kind, or `None` for a number no NPC has.
    pub fn spec(self) -> Option<&'static NpcSpec> {
        Self::TABLE.iter().find(|s| s.kind == self)
    }

    /// The kind with this text name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::TABLE.iter().find(|s| s.name == name).map(|s| s.kind)
    }
}

impl fmt::Display for NpcKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.spec() {
            Some(spec) => f.write_str(spec.name),
            None => write!(f, "npc#{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_unique_numbers_and_names() {
        for (i, a) in ItemKind::TABLE.iter().enumerate() {
            for b in &ItemKind::TABLE[i + 1..] {
                assert!(a.kind != b.kind && a.name != b.name);
            }
            assert_eq!(ItemKind::from_name(a.name), Some(a.kind));
        }
        for (i, a) in NpcKind::TABLE.iter().enumerate() {
            for b in &NpcKind::TABLE[i + 1..] {
                assert!(a.kind != b.kind && a.name != b.name);
            }
            assert!(a.drop.spec().is_some());
        }
        assert_eq!(ItemKind(999).to_string(), "item#999");
    }

    #[test]
    fn kinds_are_names_in_json_and_numbers_in_msgpack() {
        let stack = ItemStack {
            item: ItemKind::WOLF_PELT,
            count: 3,
        };
        let json = serde_json::to_string(&stack).unwrap();
        assert_eq!(json, r#"{"item":"wolf_pelt","count":3}"#);
        assert_eq!(serde_json::from_str::<ItemStack>(&json).unwrap(), stack);
        assert_eq!(
            serde_json::from_str::<ItemStack>(r#"{"item":1,"count":3}"#).unwrap(),
            stack
        );
        assert!(serde_json::from_str::<ItemStack>(r#"{"item":"gold","count":3}"#).is_err());
        let packed = rmp_serde::to_vec(&stack).unwrap();
        assert_eq!(packed, [0x92, 0x01, 0x03]);
        assert_eq!(rmp_serde::from_slice::<ItemStack>(&packed).unwrap(), stack);
    }
}
