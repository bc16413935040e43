//! The JSON contract: strict deserialization, the field rules with errors naming the field, the ACA
//! body, and the committed JSON Schema files being exactly what the types generate
//! (`SNODO_UPDATE_SCHEMAS=1 cargo test -p snodo-mappings --test pagopa_contract` rewrites them).

mod pagopa_common;

use std::path::Path;

use pagopa_common::*;
use serde_json::json;
use snodo_mappings::pagopa::contract::{PaymentPosition, PublishPosition, json_schemas};

#[test]
fn committed_schemas_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/pagopa");
    let update = std::env::var_os("SNODO_UPDATE_SCHEMAS").is_some();
    for (name, schema) in json_schemas() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{name} is stale: run with SNODO_UPDATE_SCHEMAS=1"
        );
    }
}

#[test]
fn positions_are_tagged_by_status_and_strict() {
    let payable = PaymentPosition::Payable(payable());
    let json = serde_json::to_value(&payable).unwrap();
    assert_eq!(json["status"], "payable");
    assert_eq!(
        json["transfers"][0]["credit"]["account"]["iban"],
        "IT60X0542811101000000123456"
    );
    assert_eq!(
        serde_json::from_value::<PaymentPosition>(json.clone()).unwrap(),
        payable
    );
    assert_eq!(
        serde_json::from_value::<PaymentPosition>(json!({"status": "paid"})).unwrap(),
        PaymentPosition::Paid
    );
    let mut extra = json.clone();
    extra["amount"] = json!("100.50");
    let err = serde_json::from_value::<PaymentPosition>(extra)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `amount`"), "{err}");
    let mut stamp = json;
    stamp["transfers"][1]["credit"] = json!({"revenue_stamp": {"document_hash": "wHpFSLCGZjIvNSXxqtGbxg7275t446DRTk5ZrsdUQ6E=", "province": "MI", "stamp": 1}});
    assert!(serde_json::from_value::<PaymentPosition>(stamp).is_err());
    assert!(serde_json::from_value::<PaymentPosition>(json!({"status": "open"})).is_err());
}

#[test]
fn field_rules_name_the_field() {
    let mut p = payable();
    p.debtor.unique_identifier = "X".into();
    let err = PaymentPosition::Payable(p).validate().unwrap_err();
    assert_eq!(err.field, "debtor.unique_identifier");
    assert!(!err.to_string().contains('X'));
    let mut p = payable();
    p.transfers[0].credit = account(&"I".repeat(36), None);
    assert_eq!(
        p.validate().unwrap_err().field,
        "transfers[0].credit.account.iban"
    );
    let mut p = payable();
    p.retention_date = Some("2025-12-31".into());
    assert_eq!(p.validate().unwrap_err().field, "retention_date");
    assert!(PaymentPosition::Unknown.validate().is_ok());
}

#[test]
fn the_publish_command_becomes_the_aca_body() {
    let command: PublishPosition = serde_json::from_value(json!({
        "fiscal_code": "01199250158",
        "debtor_type": "F",
        "debtor_fiscal_code": "RSSMRA80A01F205X",
        "debtor_full_name": "Mario Rossi",
        "iuv": "01000000000000144",
        "notice_number": "301000000000000144",
        "amount_cents": 10050,
        "description": "TARI 2025",
        "expiration": "2025-12-31T23:59:59+01:00",
        "iban": "IT60X0542811101000000123456"
    }))
    .unwrap();
    command.validate().unwrap();
    assert!(command.pay_stand_in && !command.switch_to_expired);
    let body = serde_json::to_value(command.to_aca()).unwrap();
    assert_eq!(
        body,
        json!({
            "paFiscalCode": "01199250158", "entityType": "F", "entityFiscalCode": "RSSMRA80A01F205X",
            "entityFullName": "Mario Rossi", "iuv": "01000000000000144", "nav": "301000000000000144",
            "amount": 10050, "description": "TARI 2025", "expirationDate": "2025-12-31T23:59:59+01:00",
            "iban": "IT60X0542811101000000123456", "switchToExpired": false, "payStandIn": true
        })
    );
    assert!(!format!("{command:?}").contains("RSSMRA"));
    let refuse = |edit: &dyn Fn(&mut PublishPosition), field: &str| {
        let mut c = command.clone();
        edit(&mut c);
        assert_eq!(c.validate().unwrap_err().field, field);
    };
    refuse(&|c| c.fiscal_code = "1199250158".into(), "fiscal_code");
    refuse(&|c| c.expiration = "2025-12-31T23:59:59".into(), "expiration");
    refuse(&|c| c.iban = Some("IT60".into()), "iban");
    refuse(&|c| c.iban = None, "iban");
    refuse(&|c| c.amount_cents = 100_000_000_000, "amount_cents");
    // amount 0 cancels, with or without an account.
    let mut cancel = command.clone();
    cancel.amount_cents = 0;
    cancel.iban = None;
    cancel.validate().unwrap();
}
