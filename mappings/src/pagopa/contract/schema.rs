//! JSON Schema files for the contract, generated from the types so they cannot drift: the committed
//! copies under `mappings/schemas/pagopa/` are checked against this by a test, and rewritten by it
//! with `SNODO_UPDATE_SCHEMAS=1`.

use schemars::{JsonSchema, schema_for};

use super::{DemandRequest, PaymentPosition, PositionRequest, PublishPosition, Receipt, ReportingFlow};

/// The version of the bodies these types describe (`x-snodo-schema`).
pub const SCHEMA_VERSION: u32 = 1;

fn schema<T: JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schema_for!(T)).expect("a schema is JSON")
}

/// Every contract schema with its file name, in a fixed order.
pub fn json_schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("position-get.v1.json", schema::<PositionRequest>()),
        ("payment-position.v1.json", schema::<PaymentPosition>()),
        ("notice-demand.v1.json", schema::<DemandRequest>()),
        ("receipt-received.v1.json", schema::<Receipt>()),
        ("position-publish.v1.json", schema::<PublishPosition>()),
        ("reporting-flow.v1.json", schema::<ReportingFlow>()),
    ]
}
