//! character-api bodies: a character (the `GET` representation, also accepted by `PUT`),
//! creation, listing, and the validation rules both the API and zones apply.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::content::{ItemKind, ItemStack, ItemUse};
use crate::geometry::Position;
use crate::ids::{AccountId, AreaId, CharacterId};
use crate::wire_enum::wire_enum;

/// Inventory slots every character has.
pub const INVENTORY_SLOTS: usize = 24;
/// Shortest character name.
pub const NAME_MIN_CHARS: usize = 3;
/// Longest character name.
pub const NAME_MAX_CHARS: usize = 20;

wire_enum! {
    /// A skill that earns experience.
    pub enum Skill {
        /// Fighting.
        Combat = 0 => "combat",
        /// Picking up and harvesting.
        Gathering = 1 => "gathering",
        /// Visiting areas.
        Exploration = 2 => "exploration",
    }
}

/// Health, level and experience.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::health))]
    /// Current health, at most `max_health`.
    pub health: u32,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::max_health))]
    /// Maximum health, at least 1.
    pub max_health: u32,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::level))]
    /// Level, at least 1.
    pub level: u32,
    /// Experience per skill.
    pub xp: BTreeMap<Skill, u64>,
}

/// What a character carries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Up to [`INVENTORY_SLOTS`] slots; `null` for an empty one. A stack's count is at least
    /// 1 and at most its kind's `max_stack` (1 for a weapon, 20 or 50 for the others).
    #[cfg_attr(feature = "openapi", schema(max_items = 24))]
    pub slots: Vec<Option<ItemStack>>,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::coins))]
    /// Coins.
    pub coins: u64,
    /// The equipped weapon (not also in a slot): a stack of one item whose kind is a weapon.
    pub weapon: Option<ItemStack>,
}

impl Inventory {
    /// An empty inventory of [`INVENTORY_SLOTS`] slots.
    pub fn empty() -> Self {
        Self {
            slots: vec![None; INVENTORY_SLOTS],
            coins: 0,
            weapon: None,
        }
    }

    /// How many items of `kind` it holds, in slots and equipped.
    pub fn count_of(&self, kind: ItemKind) -> u64 {
        self.slots
            .iter()
            .flatten()
            .chain(self.weapon.iter())
            .filter(|s| s.item == kind)
            .map(|s| u64::from(s.count))
            .sum()
    }
}

/// A character as character-api stores and returns it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Character {
    /// The character.
    pub id: CharacterId,
    /// The account that owns it.
    pub account_id: AccountId,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::character_name))]
    /// Unique display name.
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::version))]
    /// Grows by one with every accepted write; the `ETag`.
    pub version: u64,
    /// The area it was last saved in.
    pub area: AreaId,
    /// Where it stands.
    pub position: Position,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::yaw))]
    /// Heading, radians.
    pub yaw: f32,
    /// Health and progression.
    pub stats: Stats,
    /// What it carries.
    pub inventory: Inventory,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::unix_millis))]
    /// When it was created.
    pub created_at: UnixMillis,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::unix_millis))]
    /// When it was last written.
    pub updated_at: UnixMillis,
}

/// `POST /v1/characters`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCharacter {
    /// The owning account.
    pub account_id: AccountId,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::character_name))]
    /// The wanted name (see [`validate_name`]).
    pub name: String,
}

/// `PUT /v1/characters/{id}`: the `GET` representation, whose read-only fields (`id`,
/// `account_id`, `version`, `created_at`, `updated_at`) may be present and are ignored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacterUpdate {
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<CharacterId>,
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    /// Ignored: the version is named by `If-Match`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<UnixMillis>,
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<UnixMillis>,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::character_name))]
    /// The name (renaming checks uniqueness again).
    pub name: String,
    /// The area.
    pub area: AreaId,
    /// The position.
    pub position: Position,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::yaw))]
    /// The heading.
    pub yaw: f32,
    /// Health and progression.
    pub stats: Stats,
    /// What it carries.
    pub inventory: Inventory,
}

impl From<Character> for CharacterUpdate {
    fn from(c: Character) -> Self {
        Self {
            id: None,
            account_id: None,
            version: None,
            created_at: None,
            updated_at: None,
            name: c.name,
            area: c.area,
            position: c.position,
            yaw: c.yaw,
            stats: c.stats,
            inventory: c.inventory,
        }
    }
}

impl CharacterUpdate {
    /// Every rule the update breaks, for a `400` detail; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = validate_name(&self.name) {
            out.push(e);
        }
        if !self.position.is_finite() {
            out.push("position must be finite numbers".to_owned());
        }
        if !self.yaw.is_finite() {
            out.push("yaw must be a finite number".to_owned());
        }
        let s = &self.stats;
        if s.max_health == 0 {
            out.push("stats.max_health must be at least 1".to_owned());
        }
        if s.health > s.max_health {
            out.push("stats.health must not exceed stats.max_health".to_owned());
        }
        if s.level == 0 {
            out.push("stats.level must be at least 1".to_owned());
        }
        let inv = &self.inventory;
        if inv.slots.len() > INVENTORY_SLOTS {
            out.push(format!(
                "inventory has {} slots, the limit is {INVENTORY_SLOTS}",
                inv.slots.len()
            ));
        }
        for (i, stack) in inv.slots.iter().enumerate() {
            if let Some(stack) = stack {
                check_stack(&format!("inventory.slots[{i}]"), stack, &mut out);
            }
        }
        if let Some(weapon) = &inv.weapon {
            check_stack("inventory.weapon", weapon, &mut out);
            if !matches!(
                weapon.item.spec().map(|s| s.use_effect),
                Some(ItemUse::Weapon(_))
            ) {
                out.push(format!("inventory.weapon: {} is not a weapon", weapon.item));
            }
        }
        out
    }
}

fn check_stack(place: &str, stack: &ItemStack, out: &mut Vec<String>) {
    match stack.item.spec() {
        None => out.push(format!("{place}: unknown item {}", stack.item.0)),
        Some(spec) if stack.count == 0 || stack.count > spec.max_stack => out.push(format!(
            "{place}: count {} outside 1..={} for {}",
            stack.count, spec.max_stack, spec.name
        )),
        Some(_) => {}
    }
}

/// A name is 3 to 20 characters: letters, digits, `_` or `-`, starting with a letter.
pub fn validate_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if !(NAME_MIN_CHARS..=NAME_MAX_CHARS).contains(&chars) {
        return Err(format!(
            "name must be {NAME_MIN_CHARS} to {NAME_MAX_CHARS} characters, got {chars}"
        ));
    }
    if !name.chars().next().is_some_and(char::is_alphabetic) {
        return Err("name must start with a letter".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "name may hold letters, digits, '_' and '-', not {bad:?}"
        ));
    }
    Ok(())
}

/// `GET /v1/accounts/{account_id}/characters`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CharacterList {
    /// The account's characters, oldest first.
    pub characters: Vec<Character>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> CharacterUpdate {
        CharacterUpdate {
            id: None,
            account_id: None,
            version: None,
            created_at: None,
            updated_at: None,
            name: "Aria".into(),
            area: AreaId::new(0, 0),
            position: Position::new(1.0, 0.0, 2.0),
            yaw: 0.0,
            stats: Stats {
                health: 10,
                max_health: 10,
                level: 1,
                xp: BTreeMap::new(),
            },
            inventory: Inventory::empty(),
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("Aria_2").is_ok());
        assert!(validate_name("Zoë").is_ok());
        for bad in ["ab", "2pac", "a b c", "x".repeat(21).as_str(), "bob;drop"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn update_validation_names_each_problem() {
        assert!(update().problems().is_empty());
        let mut u = update();
        u.position.x = f32::NAN;
        u.stats.health = 11;
        u.inventory.slots[0] = Some(ItemStack {
            item: ItemKind::WOLF_PELT,
            count: 0,
        });
        u.inventory.slots.push(None);
        u.inventory.weapon = Some(ItemStack {
            item: ItemKind::IRON_ORE,
            count: 1,
        });
        assert_eq!(u.problems().len(), 5, "{:?}", u.problems());
    }

    #[test]
    fn skills_are_words_in_json() {
        let mut xp = BTreeMap::new();
        xp.insert(Skill::Combat, 5);
        let json = serde_json::to_string(&xp).unwrap();
        assert_eq!(json, r#"{"combat":5}"#);
        assert_eq!(
            serde_json::from_str::<BTreeMap<Skill, u64>>(&json).unwrap(),
            xp
        );
    }
}
