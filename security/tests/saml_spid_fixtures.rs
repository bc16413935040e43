//! The 111 SPID fixture Responses (`shared/specs/spid/fixtures/`, spid-and-cie-id.md §2.6) through
//! the whole SP profile, `saml::verify_response_xml`: each accepted or refused exactly as index.json
//! says, and each refusal with the error (kind and field) that names what the case broke. The table
//! below is the reason for each of spid-sp-test's cases (§2.2), written out, so a check that starts
//! refusing for another reason (or stops refusing) fails here.

mod common;

use common::spid_profile::*;
use common::*;
use snodo_security::saml::{
    Comparison, Federation, InMemoryReplayCache, ResponseError, ResponseExpectations, SpidAttribute,
    SpidErrorCode, SpidLevel, verify_response, verify_response_xml,
};

/// The expected refusal of each case index.json rejects.
fn expected_refusal(test: &str) -> &'static str {
    match test {
        "2" | "3" => "Unsigned(Response/Assertion)",
        // Another key; another key with its certificate in KeyInfo; 100: the Assertion too.
        "4" | "100" => "Signature(Response: BadSignatureValue)",
        "5" => "Signature(Response: UntrustedKeyInfo)",
        // spid-sp-test strips every namespace from its XSW payloads: no samlp:Response at all.
        t if t.starts_with("xsw") => "NotAResponse",
        "xslt" => "Signature(Response: MissingAlgorithm)",
        "8" => "Empty(Response/@ID)",
        "9" => "Missing(Response/@ID)",
        "10" => "NotAllowed(Response/@Version)",
        "11" => "Empty(Response/@IssueInstant)",
        "12" => "Missing(Response/@IssueInstant)",
        "13" => "MalformedInstant(Response/@IssueInstant)",
        "14" => "IssuedBeforeRequest(Response/@IssueInstant)",
        "15" => "IssuedInTheFuture(Response/@IssueInstant)",
        "16" => "Empty(Response/@InResponseTo)",
        "17" => "Missing(Response/@InResponseTo)",
        "18" => "Mismatch(Response/@InResponseTo)",
        "19" => "Empty(Response/@Destination)",
        "20" => "Missing(Response/@Destination)",
        "21" => "Mismatch(Response/@Destination)",
        "22" => "Empty(Response/Status)",
        "23" => "Missing(Response/Status)",
        "24" => "Empty(Response/Status/StatusCode/@Value)",
        "26" | "104" | "105" | "106" | "107" | "108" | "111" => "Status",
        "27" => "Empty(Response/Issuer)",
        "28" => "Missing(Response/Issuer)",
        "29" => "Mismatch(Response/Issuer)",
        "30" => "NotAllowed(Response/Issuer/@Format)",
        "32" => "Missing(Response/Assertion)",
        // The Assertion's Reference has no URI once its ID is gone: only `#id` is accepted.
        "33" | "34" => "Signature(Response/Assertion: MissingReferenceUri)",
        "35" => "NotAllowed(Assertion/@Version)",
        "36" => "Empty(Assertion/@IssueInstant)",
        "37" => "Missing(Assertion/@IssueInstant)",
        "38" => "MalformedInstant(Assertion/@IssueInstant)",
        "39" => "IssuedBeforeRequest(Assertion/@IssueInstant)",
        "40" => "IssuedInTheFuture(Assertion/@IssueInstant)",
        "41" => "Empty(Assertion/Subject)",
        "42" => "Missing(Assertion/Subject)",
        "43" => "Empty(Assertion/Subject/NameID)",
        "44" => "Missing(Assertion/Subject/NameID)",
        "45" => "Empty(Assertion/Subject/NameID/@Format)",
        "46" => "Missing(Assertion/Subject/NameID/@Format)",
        "47" => "NotAllowed(Assertion/Subject/NameID/@Format)",
        "48" => "Empty(Assertion/Subject/NameID/@NameQualifier)",
        "49" => "Missing(Assertion/Subject/NameID/@NameQualifier)",
        // 51 ("SubjectConfirmation empty") keeps its Method: what is missing is the data.
        "51" | "56" => "Missing(Assertion/Subject/SubjectConfirmation/SubjectConfirmationData)",
        "52" => "Missing(Assertion/Subject/SubjectConfirmation)",
        "53" => "Empty(Assertion/Subject/SubjectConfirmation/@Method)",
        "54" => "Missing(Assertion/Subject/SubjectConfirmation/@Method)",
        "55" => "NotAllowed(Assertion/Subject/SubjectConfirmation/@Method)",
        "57" => "Empty(SubjectConfirmationData/@Recipient)",
        "58" => "Missing(SubjectConfirmationData/@Recipient)",
        "59" => "Mismatch(SubjectConfirmationData/@Recipient)",
        "60" => "Empty(SubjectConfirmationData/@InResponseTo)",
        "61" => "Missing(SubjectConfirmationData/@InResponseTo)",
        "62" => "Mismatch(SubjectConfirmationData/@InResponseTo)",
        "63" => "Empty(SubjectConfirmationData/@NotOnOrAfter)",
        "64" => "Missing(SubjectConfirmationData/@NotOnOrAfter)",
        "65" => "MalformedInstant(SubjectConfirmationData/@NotOnOrAfter)",
        "66" => "Expired(SubjectConfirmationData/@NotOnOrAfter)",
        "68" => "Missing(Assertion/Issuer)",
        "69" => "Mismatch(Assertion/Issuer)",
        "70" => "Empty(Assertion/Issuer/@Format)",
        "71" => "Missing(Assertion/Issuer/@Format)",
        "72" => "NotAllowed(Assertion/Issuer/@Format)",
        "73" => "Missing(Assertion/Conditions/AudienceRestriction)",
        "74" => "Missing(Assertion/Conditions)",
        "75" => "Empty(Assertion/Conditions/@NotBefore)",
        "76" => "Missing(Assertion/Conditions/@NotBefore)",
        "77" => "MalformedInstant(Assertion/Conditions/@NotBefore)",
        "78" => "NotYetValid(Assertion/Conditions/@NotBefore)",
        "79" => "Empty(Assertion/Conditions/@NotOnOrAfter)",
        "80" => "Missing(Assertion/Conditions/@NotOnOrAfter)",
        "81" => "MalformedInstant(Assertion/Conditions/@NotOnOrAfter)",
        // Also has NotBefore in 2099: expiry is checked first.
        "82" => "Expired(Assertion/Conditions/@NotOnOrAfter)",
        // 83 and 86 are the same document: an AudienceRestriction without Audience.
        "83" | "86" => "Missing(Assertion/Conditions/AudienceRestriction/Audience)",
        "85" => "Empty(Assertion/Conditions/AudienceRestriction/Audience)",
        "87" => "Mismatch(Assertion/Conditions/AudienceRestriction/Audience)",
        "88" => "Empty(Assertion/AuthnStatement)",
        "89" => "Missing(Assertion/AuthnStatement)",
        // 93 removes the only child of AuthnContext.
        "90" | "93" => "Empty(Assertion/AuthnStatement/AuthnContext)",
        "92" => "Empty(Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef)",
        "94" => "LevelTooLow",
        "97" => "UnknownLevel",
        "98" => "Empty(Assertion/AttributeStatement)",
        "99" => "AttributeValueCount",
        other => panic!("case {other}: index.json rejects it and this table has no reason"),
    }
}

struct Case {
    test: String,
    file: String,
    expected: String,
}

fn cases() -> Vec<Case> {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(spid_fixtures_dir().join("index.json")).expect("index.json is readable"),
    )
    .expect("index.json is JSON");
    index["cases"]
        .as_array()
        .expect("index.json has cases")
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().expect("case field").to_owned();
            Case {
                test: field("test"),
                file: field("file"),
                expected: field("expected"),
            }
        })
        .collect()
}

fn fixture(file: &str) -> Vec<u8> {
    std::fs::read(spid_fixtures_dir().join("responses").join(file)).expect("fixture is readable")
}

#[test]
fn every_spid_fixture_is_accepted_or_refused_as_index_json_says_with_the_reason() {
    let keys = spid_fixture_keys();
    let cases = cases();
    assert_eq!(cases.len(), 111);
    let (mut accepted, mut refused) = (0, 0);
    for case in &cases {
        let outcome = verify_fixture(&fixture(&case.file), &keys);
        match (case.expected.as_str(), &outcome) {
            ("accept" | "either", Ok(user)) => {
                accepted += 1;
                assert_eq!(user.in_response_to, REQUEST_ID);
                assert_eq!(user.issuer, IDP_ENTITY_ID);
            }
            ("reject", Err(e)) => {
                refused += 1;
                assert_eq!(
                    error_kind(e),
                    expected_refusal(&case.test),
                    "case {} ({}): {e}",
                    case.test,
                    case.file
                );
            }
            (verdict, outcome) => panic!(
                "case {} ({}): index.json says {verdict}, got {:?}",
                case.test,
                case.file,
                outcome.as_ref().map_err(error_kind)
            ),
        }
    }
    // index.json: 6 accept + 1 either (103, which we accept: its attributes are all SPID ones).
    assert_eq!((accepted, refused), (7, 104));
}

#[test]
fn spid_case_1_yields_the_signed_values() {
    let user = verify_fixture(&fixture("response-1.xml"), &spid_fixture_keys()).expect("case 1 is valid");
    // The NameID is wrapped in newlines and spaces by spid-sp-test: trimmed.
    assert_eq!(user.name_id.value, "that-transient-opaque-value");
    assert_eq!(user.name_id.name_qualifier, IDP_ENTITY_ID);
    assert_eq!(user.level, SpidLevel::L2);
    // L2: no IdP session, no SessionIndex.
    assert_eq!(user.session_index, None);
    assert_eq!(user.attributes.len(), 5);
    assert_eq!(
        user.attributes.get(SpidAttribute::FiscalNumber),
        Some("TINIT-GDASDV00A01H501J")
    );
    assert_eq!(
        user.attributes.get(SpidAttribute::DateOfBirth),
        Some("2000-01-01")
    );
    assert_eq!(user.not_on_or_after, instant("2026-12-01T10:05:05Z"));
    assert_eq!(user.assertion_id, "_ssdqlroa-xxij-fnbm-tkfj-pdeqmukvvmfg");
    assert_eq!(user.response_id, "_ehehgfcc-hekb-oftv-djzf-rtruktrximot");
}

#[test]
fn spid_rule_accepted_variants_31_109_110_and_levels_95_96() {
    let keys = spid_fixture_keys();
    for (file, level) in [
        ("response-31.xml", SpidLevel::L2),
        ("response-95.xml", SpidLevel::L2),
        ("response-96.xml", SpidLevel::L3),
        ("response-109.xml", SpidLevel::L2),
        ("response-110.xml", SpidLevel::L2),
    ] {
        let user = verify_fixture(&fixture(file), &keys).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(user.level, level, "{file}");
    }
}

#[test]
fn spid_rule_user_anomalies_come_back_as_typed_error_codes() {
    let keys = spid_fixture_keys();
    for (file, code) in [
        ("response-104.xml", SpidErrorCode::RepeatedWrongCredentials),
        ("response-105.xml", SpidErrorCode::NoCredentialsForLevel),
        ("response-106.xml", SpidErrorCode::Timeout),
        ("response-107.xml", SpidErrorCode::ConsentDenied),
        ("response-108.xml", SpidErrorCode::IdentitySuspendedOrRevoked),
        ("response-111.xml", SpidErrorCode::Cancelled),
    ] {
        match verify_fixture(&fixture(file), &keys) {
            Err(ResponseError::Status(failure)) => {
                assert_eq!(failure.spid_error, Some(code), "{file}");
                assert_eq!(failure.code, "urn:oasis:names:tc:SAML:2.0:status:Responder");
                assert_eq!(
                    failure.subcode.as_deref(),
                    Some("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
                );
            }
            other => panic!("{file}: {:?}", other.map_err(|e| error_kind(&e))),
        }
    }
    // 26: an invalid StatusCode, no SPID error code.
    match verify_fixture(&fixture("response-26.xml"), &keys) {
        Err(ResponseError::Status(failure)) => assert_eq!(failure.spid_error, None),
        other => panic!("26: {:?}", other.map_err(|e| error_kind(&e))),
    }
}

#[test]
fn spid_rule_dynamic_acr_94_to_96_follows_the_requested_level_and_comparison() {
    let keys = spid_fixture_keys();
    let mut request = fixture_request();
    let verdict = |request: &snodo_security::saml::PendingRequest, file: &str| {
        verify_with(&fixture(file), &keys, request, fixture_now())
            .map(|u| u.level)
            .map_err(|e| error_kind(&e))
    };
    request.level = SpidLevel::L3;
    assert_eq!(
        verdict(&request, "response-95.xml"),
        Err("LevelTooLow".to_owned())
    );
    assert_eq!(verdict(&request, "response-96.xml"), Ok(SpidLevel::L3));
    request.comparison = Comparison::Maximum;
    assert_eq!(verdict(&request, "response-94.xml"), Ok(SpidLevel::L1));
    request.level = SpidLevel::L2;
    request.comparison = Comparison::Better;
    assert_eq!(
        verdict(&request, "response-95.xml"),
        Err("LevelTooLow".to_owned())
    );
    assert_eq!(verdict(&request, "response-96.xml"), Ok(SpidLevel::L3));
    request.level = SpidLevel::L1;
    request.comparison = Comparison::Minimum;
    assert_eq!(verdict(&request, "response-94.xml"), Ok(SpidLevel::L1));
}

#[test]
fn cie_rule_assertion_issuer_format_may_be_omitted_cases_70_71() {
    let keys = spid_fixture_keys();
    let request = fixture_request();
    let mut expectations = ResponseExpectations::spid(
        SP_ENTITY_ID,
        ACS_URL,
        &request,
        IDP_ENTITY_ID,
        &keys,
        fixture_now(),
    );
    expectations.federation = Federation::CieId;
    let cache = InMemoryReplayCache::default();
    verify_response_xml(&fixture("response-71.xml"), &expectations, &cache).expect("CIE: Format omitted");
    // Present but empty is still wrong.
    let err = verify_response_xml(&fixture("response-70.xml"), &expectations, &cache).expect_err("empty");
    assert_eq!(error_kind(&err), "Empty(Assertion/Issuer/@Format)");
}

#[test]
fn spid_rule_replay_the_same_response_is_accepted_once() {
    let keys = spid_fixture_keys();
    let request = fixture_request();
    let expectations = ResponseExpectations::spid(
        SP_ENTITY_ID,
        ACS_URL,
        &request,
        IDP_ENTITY_ID,
        &keys,
        fixture_now(),
    );
    let cache = InMemoryReplayCache::default();
    let xml = fixture("response-1.xml");
    verify_response_xml(&xml, &expectations, &cache).expect("first use");
    let err = verify_response_xml(&xml, &expectations, &cache).expect_err("second use");
    assert!(matches!(err, ResponseError::Replayed { .. }), "{err}");
    // A refused Response does not use up its Assertion ID: case 87 (wrong audience) shares nothing
    // with case 1, but a refusal never reaches the cache.
    assert_eq!(cache.len(), 1);
    verify_response_xml(&fixture("response-87.xml"), &expectations, &cache).expect_err("audience");
    assert_eq!(cache.len(), 1);
}

#[test]
fn the_http_post_form_value_is_base64_with_or_without_line_breaks() {
    let keys = spid_fixture_keys();
    let request = fixture_request();
    let expectations = ResponseExpectations::spid(
        SP_ENTITY_ID,
        ACS_URL,
        &request,
        IDP_ENTITY_ID,
        &keys,
        fixture_now(),
    );
    let encoded = openssl::base64::encode_block(&fixture("response-1.xml"));
    verify_response(&encoded, &expectations, &InMemoryReplayCache::default()).expect("one line");
    let wrapped: String = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join("\r\n");
    verify_response(&wrapped, &expectations, &InMemoryReplayCache::default()).expect("wrapped");
    for bad in ["", "not base64!", &encoded[1..]] {
        let err = verify_response(bad, &expectations, &InMemoryReplayCache::default()).expect_err("refused");
        assert!(matches!(err, ResponseError::NotBase64), "{bad:.20}: {err}");
    }
    let huge = "A".repeat(4 << 20);
    let err = verify_response(&huge, &expectations, &InMemoryReplayCache::default()).expect_err("too large");
    assert!(matches!(err, ResponseError::TooLarge { .. }), "{err}");
}

#[test]
fn spid_rule_expired_assertion_is_refused_after_its_window_plus_skew() {
    let keys = spid_fixture_keys();
    let xml = fixture("response-1.xml");
    // NotOnOrAfter 10:05:05, skew 90 s: still fine at 10:06:34, expired at 10:06:35.
    verify_with(&xml, &keys, &fixture_request(), instant("2026-12-01T10:06:34Z")).expect("within skew");
    let err =
        verify_with(&xml, &keys, &fixture_request(), instant("2026-12-01T10:06:35Z")).expect_err("expired");
    // The SubjectConfirmation is read before the Conditions; both end at 10:05:05.
    assert_eq!(error_kind(&err), "Expired(SubjectConfirmationData/@NotOnOrAfter)");
}

#[test]
fn errors_and_debug_output_never_carry_personal_data() {
    let keys = spid_fixture_keys();
    let personal = [
        "GDASDV00A01H501J",
        "that-transient-opaque-value",
        "SpidValidator",
        "spid.tech@agid",
    ];
    for case in cases() {
        let shown = match verify_fixture(&fixture(&case.file), &keys) {
            Ok(user) => format!("{user:?}"),
            Err(e) => format!("{e} {e:?}"),
        };
        for value in personal {
            assert!(!shown.contains(value), "case {}: {value} in {shown}", case.test);
        }
    }
}
