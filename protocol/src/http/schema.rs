//! utoipa schemas (feature `openapi`) for the HTTP fields whose limits the Rust type alone
//! does not tell: utoipa writes every `u8`, `u16` and `u32` as an `int32` with no upper
//! bound, which both hides what the servers refuse (a name's length and letters, an
//! objective index past 255) and claims a range the servers do not keep (a `u32` takes
//! values past `int32`). The fields name these with `schema_with`, so each document states
//! the range the server actually accepts.

use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};

use super::character::{NAME_MAX_CHARS, NAME_MIN_CHARS};
use super::quest::MAX_PROGRESS_AMOUNT;

/// An integer in `min..=max`, described.
fn integer(description: &str, min: u64, max: u64) -> Object {
    // int64 is the narrowest standard format that holds every u32; u64 values past it are
    // stated by the bounds.
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .build()
}

/// A character's health: a `u32`.
pub(crate) fn health() -> Object {
    integer("Current health, at most `max_health`.", 0, u32::MAX.into())
}

/// A character's maximum health: a `u32`, at least 1.
pub(crate) fn max_health() -> Object {
    integer("Maximum health.", 1, u32::MAX.into())
}

/// A character's level: a `u32`, at least 1.
pub(crate) fn level() -> Object {
    integer("Level.", 1, u32::MAX.into())
}

/// Coins: a `u64`.
pub(crate) fn coins() -> Object {
    integer("Coins.", 0, u64::MAX)
}

/// Experience: a `u64`.
pub(crate) fn xp() -> Object {
    integer("Experience.", 0, u64::MAX)
}

/// A character's version (its `ETag`): a `u64`, from 1.
pub(crate) fn version() -> Object {
    integer(
        "Grows by one with every accepted write; the `ETag`.",
        1,
        u64::MAX,
    )
}

/// A wall-clock time: a `u64` of milliseconds since the Unix epoch.
pub(crate) fn unix_millis() -> Object {
    integer("Milliseconds since the Unix epoch.", 0, u64::MAX)
}

/// A duration in milliseconds: a `u64`.
pub(crate) fn millis() -> Object {
    integer("Milliseconds.", 0, u64::MAX)
}

/// A count of players or zones, or a duration in microseconds: a `u32`.
pub(crate) fn count() -> Object {
    integer(
        "A count (of players, zones or microseconds).",
        0,
        u32::MAX.into(),
    )
}

/// An objective's target count: a `u32`, at least 1 (the catalog refuses 0).
pub(crate) fn objective_count() -> Object {
    integer("How many are needed.", 1, u32::MAX.into())
}

/// An objective's index: a `u8`.
pub(crate) fn objective_index() -> Object {
    integer(
        "The objective's index in the quest, from 0 (below the quest's objective count).",
        0,
        u8::MAX.into(),
    )
}

/// A progress event's amount.
pub(crate) fn progress_amount() -> Object {
    integer("How much it advanced.", 1, u64::from(MAX_PROGRESS_AMOUNT))
}

/// The status code a problem repeats.
pub(crate) fn http_status() -> Object {
    integer("The HTTP status code.", 100, 599)
}

/// A heading in radians: any finite `f32` (JSON has no NaN, but a number past the `f32`
/// range reads as infinity and is refused).
pub(crate) fn yaw() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Float)))
        .minimum(Some(f64::from(f32::MIN)))
        .maximum(Some(f64::from(f32::MAX)))
        .description(Some("Heading, radians: a finite 32-bit float."))
        .build()
}

/// The pattern of a character name: [`super::character::validate_name`] in ECMA-262 with
/// Unicode property escapes (the dialect JSON Schema 2020-12 gives patterns). Rust's
/// `char::is_alphabetic` is the `Alphabetic` property and `is_alphanumeric` adds the `N`
/// (number) categories, and both count characters as code points, as JSON Schema does: so
/// this is the rule exactly.
pub(crate) fn name_pattern() -> String {
    format!(
        r"^\p{{Alpha}}[\p{{Alpha}}\p{{N}}_-]{{{},{}}}$",
        NAME_MIN_CHARS - 1,
        NAME_MAX_CHARS - 1
    )
}

/// A character name.
pub(crate) fn character_name() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(NAME_MIN_CHARS))
        .max_length(Some(NAME_MAX_CHARS))
        .pattern(Some(name_pattern()))
        .description(Some(format!(
            "Unique display name (unique ignoring case): {NAME_MIN_CHARS} to {NAME_MAX_CHARS} \
             characters, letters, digits, `_` or `-`, starting with a letter."
        )))
        .build()
}
