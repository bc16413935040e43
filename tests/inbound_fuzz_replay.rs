//! Replays the inbound fuzz corpora on stable Rust: every seed (`security/fuzz/seeds/<target>/`)
//! and every input a campaign ever crashed on (`security/fuzz/regressions/<target>/`) of the three
//! inbound targets — `soap_envelope` (the SOAP layer of the pagoPA and ANPR endpoints), the
//! `pagopa_request` (the EC endpoint's read, KO and receipt path) and `saml_response` (the ACS's
//! verification) — through the very bodies libFuzzer runs (`security/fuzz/inbound/bodies.rs`,
//! included here). A crash found once stays a test. Well under a second.
//!
//! `SNODO_WRITE_INBOUND_SEEDS=1 cargo test --test inbound_fuzz_replay` rewrites the generated seeds
//! (valid requests written by Snodo's own node-side writers, and their hostile variants).

mod inbound_fuzz_common;

#[path = "../security/fuzz/inbound/bodies.rs"]
mod bodies;

use std::path::PathBuf;

use inbound_fuzz_common::*;
use snodo_security::testing::corpus::replay_corpus;

fn fuzz_dir() -> PathBuf {
    repository().join("security/fuzz")
}

fn replay(target: &str, min_seeds: usize, body: impl Fn(&[u8])) {
    replay_corpus(&fuzz_dir(), target, min_seeds, body);
}

#[test]
fn soap_envelope_target_survives_every_seed_and_regression() {
    write_seeds_when_asked();
    replay("soap_envelope", 8, bodies::soap_envelope_target);
}

#[test]
fn pagopa_request_target_survives_every_seed_and_regression() {
    write_seeds_when_asked();
    replay("pagopa_request", 8, bodies::pagopa_request_target);
}

#[test]
fn saml_response_target_survives_every_seed_and_regression() {
    let target = bodies::SamlTarget::new(
        &std::fs::read(shared().join("specs/spid/fixtures/fixture-idp-cert.pem"))
            .expect("fixture certificate"),
    );
    replay("saml_response", 5, |data| target.run(data));
}

/// The seeds reach the paths the targets exist for: a valid receipt reads and passes the station
/// and semantic checks, and the fixture Response verifies with the target's expectations (were
/// they wrong, every mutation would stop at the first check and the campaign fuzz nothing deeper).
#[test]
fn the_seeds_reach_the_success_paths() {
    use snodo_mappings::pagopa::{PaRequest, Station, read_request};
    use snodo_mappings::soap::read_envelope;
    use snodo_security::xml::Limits;

    let seed = std::fs::read(fuzz_dir().join("seeds/pagopa_request/send-rt-v2.xml")).expect("seed");
    let envelope = read_envelope(&seed, &Limits::default()).expect("an envelope");
    let Ok(PaRequest::SendRt(receipt)) = read_request(&envelope) else {
        panic!("the seed is not a readable receipt")
    };
    receipt.check_semantics().expect("a successful payment's receipt");
    let request = read_request(&envelope).unwrap();
    request
        .check_station(&Station {
            fiscal_codes: &[bodies::EC_FISCAL_CODE],
            broker_id: bodies::EC_FISCAL_CODE,
            station_id: bodies::STATION,
        })
        .expect("addressed to the target's station");

    use snodo_security::dsig::TrustedKeys;
    use snodo_security::saml::{
        Comparison, InMemoryReplayCache, PendingRequest, ResponseExpectations, SpidLevel, parse_instant,
        verify_response_xml,
    };
    let keys = TrustedKeys::from_pem(
        &std::fs::read(shared().join("specs/spid/fixtures/fixture-idp-cert.pem")).unwrap(),
    )
    .unwrap();
    let request = PendingRequest {
        id: "_fixture-authnrequest-0001".into(),
        issue_instant: parse_instant("2026-12-01T10:00:00Z").unwrap(),
        level: SpidLevel::L2,
        comparison: Comparison::Minimum,
    };
    let expectations = ResponseExpectations::spid(
        bodies::SAML_SP_ENTITY_ID,
        bodies::SAML_ACS_URL,
        &request,
        bodies::SAML_IDP_ENTITY_ID,
        &keys,
        parse_instant("2026-12-01T10:00:05Z").unwrap(),
    );
    let seed = std::fs::read(fuzz_dir().join("seeds/saml_response/spid-response-1.xml")).expect("seed");
    verify_response_xml(&seed, &expectations, &InMemoryReplayCache::default())
        .expect("the fixture Response verifies under the target's expectations");
}

/// Writes the generated seeds when `SNODO_WRITE_INBOUND_SEEDS` is set; otherwise does nothing.
fn write_seeds_when_asked() {
    if std::env::var_os("SNODO_WRITE_INBOUND_SEEDS").is_none() {
        return;
    }
    let write = |target: &str, name: &str, content: &str| {
        let dir = fuzz_dir().join("seeds").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), content).unwrap();
    };
    let verify = verify_request("301000000000000144");
    let send_rt = receipt("c1a2b3c4d5e6f708", false);
    let send_rt_v2 = receipt("c1a2b3c4d5e6f709", true);
    let push = anpr_push(TENANT, "N010", "1234567890");
    for (name, xml) in [
        ("verify.xml", verify.clone()),
        ("send-rt.xml", send_rt.clone()),
        ("send-rt-v2.xml", send_rt_v2.clone()),
        (
            "verify-other-station.xml",
            verify.replace(STATION, "99999999999_01"),
        ),
        (
            "send-rt-v2-other-ec.xml",
            send_rt_v2.replacen(EC_FISCAL_CODE, "00000000000", 1),
        ),
        (
            "send-rt-v2-amount-mismatch.xml",
            send_rt_v2.replacen("<paymentAmount>", "<paymentAmount>1", 1),
        ),
        (
            "verify-notice-letters.xml",
            verify.replace("301000000000000144", "30100000000000014X"),
        ),
        (
            "unknown-operation.xml",
            verify.replace("paVerifyPaymentNoticeReq", "paUnknownReq"),
        ),
    ] {
        write("pagopa_request", name, &xml);
    }
    let header_block = r#"<soapenv:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" soapenv:mustUnderstand="1"/><x:Other xmlns:x="urn:x" soapenv:mustUnderstand="1"/></soapenv:Header>"#;
    for (name, xml) in [
        ("anpr-push.xml", push.clone()),
        ("anpr-push-bad-base64.xml", push.replace("PE4wMTAvPg==", "P$4w*TAvPg=")),
        ("anpr-push-no-header.xml", push.replace("<testataNotifica>", "<x>").replace("</testataNotifica>", "</x>")),
        ("pagopa-verify.xml", verify.clone()),
        ("must-understand.xml", push.replacen("<soapenv:Body>", &format!("{header_block}<soapenv:Body>"), 1)),
        ("fault.xml", r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>no</faultstring><detail><d xmlns="urn:d">x</d></detail></s:Fault></s:Body></s:Envelope>"#.to_owned()),
        ("soap12.xml", r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><p/></e:Body></e:Envelope>"#.to_owned()),
        ("two-payloads.xml", push.replace("</soapenv:Body>", "<extra/></soapenv:Body>")),
        ("entity-expansion.xml", format!("<!DOCTYPE e [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>{}", push.replace("<codMittente>ANPR00", "<codMittente>&b;").trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#))),
        ("xxe.xml", format!("<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}", push.replace("<codMittente>ANPR00", "<codMittente>&x;").trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#))),
    ] {
        write("soap_envelope", name, &xml);
    }
    let verify_seeds = fuzz_dir().join("seeds/verify");
    for name in [
        "spid-response-1.xml",
        "spid-response-3-response-only.xml",
        "spid-response-33-no-uri.xml",
        "spid-response-5-untrusted-keyinfo.xml",
        "spid-response-xslt.xml",
    ] {
        let xml = std::fs::read_to_string(verify_seeds.join(name)).unwrap();
        write("saml_response", name, &xml);
    }
    let xsw = std::fs::read_to_string(fuzz_dir().join("seeds/parse/spid-response-xsw1.xml")).unwrap();
    write("saml_response", "spid-response-xsw1.xml", &xsw);
}
