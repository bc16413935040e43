//! What the ANPR and booking JSON contracts share, so that both read and describe it alike: the
//! `schema` version field every command and event body carries, and the JSON Schema of a date.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `schema: 1`, the version of every `anpr.*` and `cie_booking.*` body; any other number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchemaV1;

impl Serialize for SchemaV1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for SchemaV1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            1 => Ok(SchemaV1),
            other => Err(serde::de::Error::custom(format!(
                "schema {other} is not supported (this version reads schema 1)"
            ))),
        }
    }
}

impl JsonSchema for SchemaV1 {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion1".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "const": 1 })
    }
}

/// A calendar day, `YYYY-MM-DD` (chrono's `NaiveDate` describes itself without the format).
pub(crate) fn date_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "date" })
}
