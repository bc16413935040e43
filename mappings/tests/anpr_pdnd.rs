//! PDND e-services: the `RichiestaE002` body follows the OpenAPI; the answers of the published
//! WireMock examples (200 with a subject, 404 EN122, 400 from GovWay) are read as ANPR means them.

use chrono::NaiveDate;
use serde_json::{Value, json};
use snodo_mappings::anpr::pdnd::{self, EService, PdndKey, PdndLookup, PdndReply};
use snodo_mappings::anpr::{AnprError, SchemaV1};

fn example(name: &str) -> (u16, Vec<u8>) {
    let path = format!(
        "{}/../../shared/specs/anpr/pdnd-rest/examples-wiremock/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let stub: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let r = &stub["response"];
    (
        r["status"]
            .as_u64()
            .or_else(|| r["status"].as_str()?.parse().ok())
            .unwrap() as u16,
        serde_json::to_vec(&r["jsonBody"]).unwrap(),
    )
}

fn command() -> PdndLookup {
    PdndLookup {
        schema: SchemaV1,
        service: EService::C020,
        by: PdndKey::CodiceFiscale("RSSMRA80A01F205X".into()),
        reason: "Prot. 1234/2025".into(),
        reference_date: None,
    }
}

#[test]
fn the_request_body_follows_the_openapi() {
    let body = pdnd::request(
        &command(),
        "0b8f6c1e-2d7a-4c1b-9e3f-5a6b7c8d9e0f",
        NaiveDate::from_ymd_opt(2025, 3, 14).unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({
            "idOperazioneClient": "0b8f6c1e2d7a4c1b9e3f5a6b7c8d9e0f",
            "criteriRicerca": {"codiceFiscale": "RSSMRA80A01F205X"},
            "datiRichiesta": {"dataRiferimentoRichiesta": "2025-03-14", "motivoRichiesta": "Prot. 1234/2025", "casoUso": "C020"}
        })
    );
    let mut by_id = command();
    by_id.by = PdndKey::IdAnpr("AF41450AS".into());
    by_id.service = EService::C021;
    let body = serde_json::to_value(pdnd::request(&by_id, "m-1", NaiveDate::MIN).unwrap()).unwrap();
    assert_eq!(body["criteriRicerca"], json!({"idANPR": "AF41450AS"}));
    assert_eq!(body["datiRichiesta"]["casoUso"], "C021");
}

#[test]
fn a_missing_reason_names_the_field() {
    let mut cmd = command();
    cmd.reason = "  ".into();
    assert!(
        matches!(pdnd::request(&cmd, "m", NaiveDate::MIN), Err(AnprError::Field { field, .. }) if field == "reason")
    );
}

#[test]
fn the_published_answers_are_read() {
    let (status, body) = example("0_c020ResidenceAssessment.json");
    let PdndReply::Completed(done) =
        pdnd::read_response(EService::C020, status, "application/json", &body).unwrap()
    else {
        panic!("200 is completed")
    };
    assert_eq!(done.subjects.len(), 1);
    assert_eq!(
        done.subjects[0]
            .identificativi
            .as_ref()
            .unwrap()
            .id_anpr
            .as_deref(),
        Some("AF41450AS")
    );
    assert!(done.subjects[0].residenza.is_some());
    // The completed event is valid JSON of its own type.
    let text = serde_json::to_string(&done).unwrap();
    assert_eq!(
        serde_json::from_str::<pdnd::PdndLookupCompleted>(&text).unwrap(),
        done
    );

    let (status, body) = example("c020ResidenceAssessmentNotFound.json");
    let PdndReply::Rejected(ko) =
        pdnd::read_response(EService::C020, status, "application/json", &body).unwrap()
    else {
        panic!("404 with listaErrori is a rejection")
    };
    assert_eq!(ko.lista_errori[0].codice_errore_anomalia, "EN122");

    let (status, body) = example("c020ResidenceAssessmentInvalidRequest.json");
    let PdndReply::Problem(p) =
        pdnd::read_response(EService::C020, status, "application/json", &body).unwrap()
    else {
        panic!("GovWay's 400 is a problem")
    };
    assert_eq!(p.title.as_deref(), Some("InvalidRequestContent"));
    assert_eq!(p.status, Some(400));

    assert!(matches!(
        pdnd::read_response(EService::C020, 200, "application/json", b"<html>"),
        Err(AnprError::Invalid { .. })
    ));
}
