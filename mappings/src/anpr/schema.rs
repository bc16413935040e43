//! The JSON Schema of every `anpr.*` command and event, generated from the contract types and
//! published as `mappings/schemas/anpr/<type>.json` (a test fails when a file is stale).

use schemars::{JsonSchema, schema_for};
use serde_json::Value;

use super::registry_change::RegistryUpdated;
use super::{birth, birth_candidates, bulk, certificate, death, lookup, notification, pdnd, residence};

fn of<T: JsonSchema>() -> Value {
    serde_json::to_value(schema_for!(T)).expect("a generated schema is JSON")
}

/// (message type, schema) for every `anpr.*` body.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (lookup::COMMAND, of::<lookup::LookupResident>()),
        ("anpr.resident.lookup.completed", of::<lookup::LookupCompleted>()),
        (certificate::COMMAND, of::<certificate::IssueCertificate>()),
        (
            "anpr.certificate.issue.completed",
            of::<certificate::CertificateIssued>(),
        ),
        (bulk::COMMAND, of::<bulk::StartBulkLookup>()),
        ("anpr.bulk_lookup.submitted", of::<bulk::ChunkSubmitted>()),
        ("anpr.bulk_lookup.result", of::<bulk::ChunkResult>()),
        ("anpr.bulk_lookup.completed", of::<bulk::BulkLookupCompleted>()),
        (notification::EVENT, of::<notification::NotificationReceived>()),
        (pdnd::COMMAND, of::<pdnd::PdndLookup>()),
        ("anpr.pdnd.lookup.completed", of::<pdnd::PdndLookupCompleted>()),
        (residence::COMMAND, of::<residence::ChangeResidence>()),
        (residence::COMPLETED, of::<RegistryUpdated>()),
        (birth::COMMAND, of::<birth::RegisterBirth>()),
        (birth::COMPLETED, of::<birth_candidates::BirthRegistration>()),
        (death::COMMAND, of::<death::RegisterDeath>()),
        (death::COMPLETED, of::<RegistryUpdated>()),
    ]
}
