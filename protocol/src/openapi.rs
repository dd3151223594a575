//! utoipa schemas for the types whose JSON form is hand-written (feature `openapi`), so the
//! services' generated OpenAPI documents describe what actually goes over the wire.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::content::{ItemKind, NpcKind};
use crate::ids::{QuestId, Ticket};

/// A string schema, optionally restricted to `values`.
pub(crate) fn string_schema(description: &str, values: Option<Vec<&'static str>>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(values)
        .into()
}

macro_rules! named_schema {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl utoipa::ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

named_schema!(
    Ticket,
    "Ticket",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("A one-time ticket: 32 hex digits."))
        .pattern(Some("^[0-9a-f]{32}$"))
        .into()
);
named_schema!(
    ItemKind,
    "ItemKind",
    string_schema(
        "An item kind.",
        Some(ItemKind::TABLE.iter().map(|s| s.name).collect())
    )
);
named_schema!(
    NpcKind,
    "NpcKind",
    string_schema(
        "An NPC kind.",
        Some(NpcKind::TABLE.iter().map(|s| s.name).collect())
    )
);
named_schema!(
    QuestId,
    "QuestId",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "A quest's stable id: 1 to 64 of `a-z`, `0-9`, `-`, `_`."
        ))
        .min_length(Some(1))
        .max_length(Some(QuestId::MAX_LEN))
        .pattern(Some("^[a-z0-9_-]+$"))
        .into()
);
