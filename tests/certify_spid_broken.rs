//! `snodo certify spid-sp` must catch exactly the defects planted in an SP. The SP here is small and
//! test-only but real: signed metadata, signed HTTP-Redirect AuthnRequests, an HTTPS ACS verifying
//! Responses with the security crate's `verify_response_xml` (every SPID check, replay cache). Each
//! defect is planted as an SP would get it wrong, in front of that verifier:
//!
//! - `UnsignedAssertion`: an Assertion without a signature is taken as is (the SP signs it itself
//!   with a key it trusts before verifying, i.e. skips the check);
//! - `IgnoresInResponseTo`: the Response may answer any request: the pending login is found by its
//!   RelayState and its ID taken from the Response;
//! - `WeakAlgorithms`: signatures are checked with SHA-1 allowed (then re-signed for the verifier);
//! - `NoReplayProtection`: pending logins are never consumed and Assertion IDs never remembered.
//!
//! Then the AuthnRequest, one SPID rule broken at a time in what the SP sends (a signature by a key
//! its metadata does not hold, a short ID, Version 2.1, an IssueInstant ten minutes old, another
//! Destination, an Issuer without Format and NameQualifier, no ForceAuthn for SpidL2, an ACS index
//! and an attribute set the metadata lacks, a persistent NameIDPolicy, no Comparison, IsPassive, a
//! URL in RelayState, NameIDPolicy out of the schema's order).
//!
//! With no defect the SP passes every case (the control); with one, the report names exactly the
//! cases that defect lets through, or exactly the AuthnRequest rule it breaks.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use snodo_connectors::identity::read_metadata;
use snodo_security::devpki::shared_for_tests;
use snodo_security::dsig::{
    DigestMethod, SignatureMethod, SignaturePlacement, SignaturePolicy, SigningKey, TrustedKeys,
    sign_enveloped, signature_children, verify_enveloped_signature,
};
use snodo_security::saml::redirect::{MessageParameter, encode, url_decode};
use snodo_security::saml::sp_metadata::SpMetadata;
use snodo_security::saml::{
    ASSERTION_NAMESPACE, AssertionConsumerService, AuthnRequest, ENTITY_FORMAT, Federation,
    InMemoryReplayCache, PendingRequest, ReplayCache, ReplayCacheError, ResponseExpectations, Seen,
    SpidAttribute, SpidLevel, TRANSIENT_FORMAT, new_message_id, verify_response_xml,
};
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    None,
    UnsignedAssertion,
    IgnoresInResponseTo,
    WeakAlgorithms,
    NoReplayProtection,
    // The AuthnRequest, one rule broken each.
    RequestSignedByAnotherKey,
    ShortId,
    Version21,
    StaleIssueInstant,
    OtherDestination,
    IssuerWithoutFormatAndNameQualifier,
    NoForceAuthn,
    UnknownAcsIndex,
    UnknownAttributeSet,
    PersistentNameIdPolicy,
    NoComparison,
    IsPassive,
    UrlInRelayState,
    NameIdPolicyOutOfOrder,
}

/// Every AuthnRequest case of the suite: the runs with a request defect select these alone.
const AUTHN_REQUEST_CASES: [&str; 15] = [
    "authn-request-signature",
    "authn-request-id",
    "authn-request-version",
    "authn-request-issue-instant",
    "authn-request-destination",
    "authn-request-issuer",
    "authn-request-force-authn",
    "authn-request-acs",
    "authn-request-attribute-consuming-service",
    "authn-request-name-id-policy",
    "authn-request-authn-context",
    "authn-request-optional-parts",
    "authn-request-relay-state",
    "authn-request-schema",
    "authn-request-fresh",
];

struct Sp {
    defect: Defect,
    entity_id: String,
    acs_url: String,
    key: SigningKey,
    metadata: String,
    idp_entity_id: String,
    idp_sso: String,
    idp_keys: TrustedKeys,
    /// The SP's own key, used only by the defects that "fix up" a Response before verifying it.
    shim: SigningKey,
    /// `idp_keys` plus the shim's certificate.
    shim_trusted: TrustedKeys,
    pending: Mutex<HashMap<String, PendingRequest>>,
    replay: InMemoryReplayCache,
    /// Numbers the short IDs of `ShortId` (unique, so that only the ID's length is wrong).
    logins: AtomicU32,
}

/// A replay cache that remembers nothing.
struct Forgetful;

impl ReplayCache for Forgetful {
    fn check_and_remember(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<Seen, ReplayCacheError> {
        Ok(Seen::First)
    }
}

async fn serve_metadata(State(sp): State<Arc<Sp>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        sp.metadata.clone(),
    )
        .into_response()
}

/// `xml` with `from` replaced by `to`; `from` must be there, so that a defect is never a no-op.
fn edit(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "{from:?} is not in {xml}");
    xml.replacen(from, to, 1)
}

async fn login(State(sp): State<Arc<Sp>>) -> Response {
    let now = Utc::now();
    let mut request = AuthnRequest::new(
        &sp.entity_id,
        &sp.idp_sso,
        AssertionConsumerService::Index(0),
        0,
        SpidLevel::L2,
        now,
    );
    match sp.defect {
        Defect::ShortId => request.id = format!("_{}", sp.logins.fetch_add(1, Ordering::Relaxed) + 1),
        Defect::StaleIssueInstant => request.issue_instant = now - chrono::TimeDelta::minutes(10),
        Defect::OtherDestination => request.destination = "https://idp.elsewhere.invalid/sso".into(),
        Defect::UnknownAcsIndex => request.assertion_consumer_service = AssertionConsumerService::Index(7),
        Defect::UnknownAttributeSet => request.attribute_consuming_service_index = 5,
        _ => {}
    }
    let mut xml = request.to_xml().unwrap();
    let name_id_policy = format!(r#"<samlp:NameIDPolicy Format="{TRANSIENT_FORMAT}"/>"#);
    xml = match sp.defect {
        Defect::Version21 => edit(&xml, r#"Version="2.0""#, r#"Version="2.1""#),
        Defect::IssuerWithoutFormatAndNameQualifier => edit(
            &xml,
            &format!(
                r#"<saml:Issuer NameQualifier="{0}" Format="{ENTITY_FORMAT}">"#,
                sp.entity_id
            ),
            "<saml:Issuer>",
        ),
        Defect::NoForceAuthn => edit(&xml, r#" ForceAuthn="true""#, ""),
        Defect::PersistentNameIdPolicy => edit(
            &xml,
            TRANSIENT_FORMAT,
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        ),
        Defect::NoComparison => edit(&xml, r#" Comparison="minimum""#, ""),
        Defect::IsPassive => edit(&xml, r#" Version="2.0""#, r#" Version="2.0" IsPassive="false""#),
        Defect::NameIdPolicyOutOfOrder => edit(
            &edit(&xml, &name_id_policy, ""),
            "</samlp:AuthnRequest>",
            &format!("{name_id_policy}</samlp:AuthnRequest>"),
        ),
        _ => xml,
    };
    let relay_state = if sp.defect == Defect::UrlInRelayState {
        format!(
            "https://portal.example.invalid/after-login?session={}",
            new_message_id()
        )
    } else {
        new_message_id()
    };
    sp.pending.lock().insert(relay_state.clone(), request.pending());
    let key = if sp.defect == Defect::RequestSignedByAnotherKey {
        &sp.shim
    } else {
        &sp.key
    };
    let query = encode(
        MessageParameter::Request,
        &xml,
        Some(&relay_state),
        Some((SignatureMethod::RsaSha256, key)),
    )
    .unwrap();
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("{}?{query}", sp.idp_sso))],
    )
        .into_response()
}

fn refuse(reason: impl std::fmt::Display) -> Response {
    (StatusCode::FORBIDDEN, format!("refused: {reason}")).into_response()
}

async fn acs(State(sp): State<Arc<Sp>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let field = |name: &str| {
        text.split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .and_then(|v| url_decode(v, "form field").ok())
    };
    let (Some(saml_response), Some(relay_state)) = (field("SAMLResponse"), field("RelayState")) else {
        return refuse("SAMLResponse and RelayState are required");
    };
    let pending = if sp.defect == Defect::NoReplayProtection {
        sp.pending.lock().get(&relay_state).cloned()
    } else {
        sp.pending.lock().remove(&relay_state)
    };
    let Some(mut pending) = pending else {
        return refuse("no login is pending with this RelayState");
    };
    let Some(xml) = openssl::base64::decode_block(&saml_response.split_whitespace().collect::<String>())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return refuse("not base64 UTF-8");
    };
    let mut trusted = &sp.idp_keys;
    let xml = match sp.defect {
        Defect::UnsignedAssertion => {
            trusted = &sp.shim_trusted;
            match sign_unsigned_assertion(&xml, &sp.shim) {
                Ok(x) => x,
                Err(e) => return refuse(e),
            }
        }
        Defect::WeakAlgorithms => {
            trusted = &sp.shim_trusted;
            match accept_sha1(&xml, &sp.idp_keys, &sp.shim) {
                Ok(x) => x,
                Err(e) => return refuse(e),
            }
        }
        Defect::IgnoresInResponseTo => {
            if let Ok(doc) = parse_str(&xml, &Limits::default()) {
                pending.id = doc
                    .element(doc.document_element())
                    .and_then(|e| e.attribute(None, "InResponseTo"))
                    .unwrap_or_default()
                    .to_owned();
            }
            xml
        }
        _ => xml,
    };
    let expectations = ResponseExpectations::spid(
        &sp.entity_id,
        &sp.acs_url,
        &pending,
        &sp.idp_entity_id,
        trusted,
        Utc::now(),
    );
    let replay: &dyn ReplayCache = if sp.defect == Defect::NoReplayProtection {
        &Forgetful
    } else {
        &sp.replay
    };
    match verify_response_xml(xml.as_bytes(), &expectations, replay) {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/done")]).into_response(),
        Err(e) => refuse(e),
    }
}

fn is(doc: &Document, node: NodeId, namespace: &str, local: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.name().is(Some(namespace), local))
}

fn assertion(doc: &Document) -> Option<NodeId> {
    doc.child_elements(doc.document_element())
        .find(|&c| is(doc, c, ASSERTION_NAMESPACE, "Assertion"))
}

fn sign_element(xml: &str, assertion_not_root: bool, key: &SigningKey) -> Result<String, String> {
    let doc = parse_str(xml, &Limits::default()).map_err(|e| e.to_string())?;
    let target = if assertion_not_root {
        assertion(&doc).ok_or("no Assertion")?
    } else {
        doc.document_element()
    };
    let placement = match doc.child_elements(target).next() {
        Some(first) if is(&doc, first, ASSERTION_NAMESPACE, "Issuer") => SignaturePlacement::After(first),
        _ => SignaturePlacement::FirstChild,
    };
    let options = SignaturePolicy::spid().signing_options().unwrap();
    sign_enveloped(&doc, target, placement, &options, key).map_err(|e| e.to_string())
}

/// The defect: an Assertion with no signature gets the SP's own, so the verifier never sees it
/// unsigned.
fn sign_unsigned_assertion(xml: &str, shim: &SigningKey) -> Result<String, String> {
    let doc = parse_str(xml, &Limits::default()).map_err(|e| e.to_string())?;
    match assertion(&doc) {
        Some(a) if signature_children(&doc, a).is_empty() => sign_element(xml, true, shim),
        _ => Ok(xml.to_owned()),
    }
}

/// The defect: each signature of the Assertion and the Response is checked with SHA-1 allowed;
/// when all verify, the document is re-signed with the SP's own key for the strict verifier.
fn accept_sha1(xml: &str, idp_keys: &TrustedKeys, shim: &SigningKey) -> Result<String, String> {
    let lenient = SignaturePolicy::spid()
        .allow_signature_method(SignatureMethod::RsaSha1)
        .allow_digest_method(DigestMethod::Sha1);
    let doc = parse_str(xml, &Limits::default()).map_err(|e| e.to_string())?;
    let root = doc.document_element();
    let mut signed = (false, false);
    for (element, is_assertion) in [(assertion(&doc), true), (Some(root), false)] {
        let Some(element) = element else { continue };
        if let [signature] = signature_children(&doc, element)[..] {
            verify_enveloped_signature(&doc, signature, &lenient, idp_keys).map_err(|e| e.to_string())?;
            if is_assertion {
                signed.0 = true;
            } else {
                signed.1 = true;
            }
        }
    }
    let mut text = xml.to_owned();
    while let Some(start) = text.find("<ds:Signature") {
        let end = text[start..]
            .find("</ds:Signature>")
            .ok_or("unclosed Signature")?
            + start;
        text.replace_range(start..end + "</ds:Signature>".len(), "");
    }
    if signed.0 {
        text = sign_element(&text, true, shim)?;
    }
    if signed.1 {
        text = sign_element(&text, false, shim)?;
    }
    Ok(text)
}

struct Running {
    base: String,
    stop: CancellationToken,
}

async fn start_sp(defect: Defect, idp_metadata: &Path) -> Running {
    let pki = shared_for_tests();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let entity_id = format!("{base}/sp");
    let acs_url = format!("{base}/acs");
    let identity = &pki.sp_signing().identity;
    let key = SigningKey::new(identity.key().clone(), Some(identity.certificate().clone()));
    let metadata = SpMetadata {
        federation: Federation::Spid,
        entity_id: entity_id.clone(),
        acs_url: acs_url.clone(),
        slo_url: format!("{base}/slo"),
        organization_name: "Comune di Prova".into(),
        organization_display_name: "Comune di Prova".into(),
        organization_url: base.clone(),
        ipa_code: "c_h501".into(),
        contact_email: "prova@example.invalid".into(),
        municipality: "H501".into(),
        service_name: "Servizio di prova".into(),
        attributes: vec![
            SpidAttribute::FiscalNumber,
            SpidAttribute::Name,
            SpidAttribute::FamilyName,
        ],
    }
    .sign(&key)
    .unwrap();
    let idps = read_metadata("suite IdP", &std::fs::read(idp_metadata).unwrap(), None).unwrap();
    let idp = idps.into_iter().next().unwrap();
    let shim_pair = &pki.idp_signing().identity;
    let shim = SigningKey::new(shim_pair.key().clone(), Some(shim_pair.certificate().clone()));
    let mut shim_trusted = (*idp.keys).clone();
    shim_trusted
        .add_certificate(shim_pair.certificate().clone())
        .unwrap();
    let sp = Arc::new(Sp {
        defect,
        entity_id,
        acs_url,
        key,
        metadata,
        idp_entity_id: idp.entity_id.clone(),
        idp_sso: idp.sso_redirect.clone().unwrap(),
        idp_keys: (*idp.keys).clone(),
        shim,
        shim_trusted,
        pending: Mutex::new(HashMap::new()),
        replay: InMemoryReplayCache::new(10_000),
        logins: AtomicU32::new(0),
    });
    let router = Router::new()
        .route("/metadata", get(serve_metadata))
        .route("/login", get(login))
        .route("/acs", post(acs))
        .with_state(sp);
    let tls = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::None,
    ))
    .unwrap();
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    tokio::spawn(async move { tls.serve(listener, router, shutdown.cancelled_owned()).await });
    Running { base, stop }
}

/// Runs the suite against `sp` (the cases named, or all); the ids of the cases that did not pass, and
/// the summary.
async fn certify(sp: &Running, keys: &Path, reports: &Path, cases: &[&str]) -> (BTreeSet<String>, String) {
    let mut args: Vec<String> = vec![
        "certify".into(),
        "spid-sp".into(),
        "--metadata".into(),
        format!("{}/metadata", sp.base),
        "--login".into(),
        format!("{}/login", sp.base),
        "--ca".into(),
        shared_for_tests().ca_file().to_string_lossy().into_owned(),
        "--idp-key-dir".into(),
        keys.to_string_lossy().into_owned(),
        "--report".into(),
        reports.to_string_lossy().into_owned(),
    ];
    for case in cases {
        args.extend(["--case".to_owned(), (*case).to_owned()]);
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_snodo"))
        .args(&args)
        .env("SNODO_LOG", "warn")
        .output()
        .await
        .expect("run snodo certify");
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("spid-sp.json")).expect("JSON report"))
            .expect("JSON");
    let not_passed: BTreeSet<String> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] != "pass")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        out.status.success(),
        not_passed.is_empty(),
        "the exit status says the same as the report:\n{summary}"
    );
    for case in report["cases"].as_array().unwrap() {
        assert_ne!(
            case["outcome"], "error",
            "no case may be left unjudged: {case}\n{summary}"
        );
    }
    (not_passed, summary)
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_catches_exactly_the_planted_defects() {
    let work: PathBuf = std::env::temp_dir().join(format!("snodo-certify-broken-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    let idp_metadata = work.join("idp.xml");
    let written = tokio::process::Command::new(env!("CARGO_BIN_EXE_snodo"))
        .args(["certify", "spid-sp", "--idp-metadata-out"])
        .arg(&idp_metadata)
        .arg("--idp-key-dir")
        .arg(&keys)
        .output()
        .await
        .unwrap();
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );

    let cases: [(Defect, &[&str]); 5] = [
        (Defect::None, &[]),
        (
            Defect::UnsignedAssertion,
            &["response-2", "foreign-signed-unsigned-assertion"],
        ),
        (Defect::IgnoresInResponseTo, &["response-18"]),
        (
            Defect::WeakAlgorithms,
            &[
                "alg-assertion-rsa-sha1",
                "alg-assertion-digest-sha1",
                "alg-response-rsa-sha1",
            ],
        ),
        (Defect::NoReplayProtection, &["replay"]),
    ];
    for (defect, expected) in cases {
        let sp = start_sp(defect, &idp_metadata).await;
        let reports = work.join(format!("{defect:?}"));
        let (failed, summary) = certify(&sp, &keys, &reports, &[]).await;
        sp.stop.cancel();
        assert_eq!(
            failed,
            set(expected),
            "{defect:?}: the failed cases differ from the planted defect:\n{summary}"
        );
        if !expected.is_empty() {
            let junit = std::fs::read_to_string(reports.join("spid-sp.junit.xml")).unwrap();
            assert!(
                junit.contains(&format!(r#"failures="{}" errors="0""#, expected.len())),
                "{junit}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_authn_request_rule_fails_exactly_its_case() {
    let work: PathBuf =
        std::env::temp_dir().join(format!("snodo-certify-broken-request-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    let idp_metadata = work.join("idp.xml");
    let written = tokio::process::Command::new(env!("CARGO_BIN_EXE_snodo"))
        .args(["certify", "spid-sp", "--idp-metadata-out"])
        .arg(&idp_metadata)
        .arg("--idp-key-dir")
        .arg(&keys)
        .output()
        .await
        .unwrap();
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );

    let cases: [(Defect, &str, &str); 14] = [
        (
            Defect::RequestSignedByAnotherKey,
            "authn-request-signature",
            "does not verify with any trusted key",
        ),
        (
            Defect::ShortId,
            "authn-request-id",
            "too few to carry the 128 random bits",
        ),
        (Defect::Version21, "authn-request-version", r#"Version is "2.1""#),
        (
            Defect::StaleIssueInstant,
            "authn-request-issue-instant",
            "behind the IdP's clock",
        ),
        (
            Defect::OtherDestination,
            "authn-request-destination",
            "https://idp.elsewhere.invalid/sso",
        ),
        (
            Defect::IssuerWithoutFormatAndNameQualifier,
            "authn-request-issuer",
            "Format is missing: SPID requires",
        ),
        (
            Defect::NoForceAuthn,
            "authn-request-force-authn",
            "SpidL2 requires ForceAuthn",
        ),
        (
            Defect::UnknownAcsIndex,
            "authn-request-acs",
            r#"AssertionConsumerServiceIndex "7""#,
        ),
        (
            Defect::UnknownAttributeSet,
            "authn-request-attribute-consuming-service",
            r#"AttributeConsumingServiceIndex "5""#,
        ),
        (
            Defect::PersistentNameIdPolicy,
            "authn-request-name-id-policy",
            "nameid-format:persistent",
        ),
        (
            Defect::NoComparison,
            "authn-request-authn-context",
            "Comparison is missing",
        ),
        (Defect::IsPassive, "authn-request-optional-parts", "IsPassive"),
        (
            Defect::UrlInRelayState,
            "authn-request-relay-state",
            "contains a URL",
        ),
        (
            Defect::NameIdPolicyOutOfOrder,
            "authn-request-schema",
            "NameIDPolicy comes after RequestedAuthnContext",
        ),
    ];
    // The control: the same SP without a defect passes every AuthnRequest case.
    let sp = start_sp(Defect::None, &idp_metadata).await;
    let (failed, summary) = certify(&sp, &keys, &work.join("control"), &AUTHN_REQUEST_CASES).await;
    sp.stop.cancel();
    assert!(failed.is_empty(), "{summary}");
    assert_eq!(
        summary.lines().filter(|l| l.starts_with("PASS ")).count(),
        AUTHN_REQUEST_CASES.len(),
        "{summary}"
    );

    for (defect, case, why) in cases {
        let sp = start_sp(defect, &idp_metadata).await;
        let reports = work.join(format!("{defect:?}"));
        let (failed, summary) = certify(&sp, &keys, &reports, &AUTHN_REQUEST_CASES).await;
        sp.stop.cancel();
        assert_eq!(
            failed,
            set(&[case]),
            "{defect:?}: the failed cases differ from the rule broken:\n{summary}"
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(reports.join("spid-sp.json")).unwrap()).unwrap();
        let judged = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == case)
            .unwrap();
        assert_eq!(judged["outcome"], "fail", "{defect:?}: {judged}");
        assert!(
            judged["reason"].as_str().unwrap().contains(why),
            "{defect:?}: the reason does not say {why:?}: {judged}"
        );
        let junit = std::fs::read_to_string(reports.join("spid-sp.junit.xml")).unwrap();
        assert!(
            junit.contains(&format!(
                r#"tests="{}" failures="1" errors="0""#,
                AUTHN_REQUEST_CASES.len()
            )),
            "{defect:?}: {junit}"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
