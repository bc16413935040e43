//! The AuthnRequest rule cases of `spid-sp` on requests made here, without an SP over HTTP: the
//! security crate's own AuthnRequest (what Snodo sends) passes every rule on both bindings and both
//! profiles; each rule, broken alone, fails its case and no other; and where CIE ID's variant differs
//! from SPID (Destination, Issuer attributes, ForceAuthn, Comparison) the same request is judged by
//! the profile asked. The end-to-end proof against a served SP is `tests/certify_spid_broken.rs`.

use chrono::{TimeDelta, Utc};
use snodo_certify::spid_sp::request_rules::{self, Judging, ReadRequest};
use snodo_certify::spid_sp::target::CaughtRequest;
use snodo_security::devpki::shared_for_tests;
use snodo_security::dsig::{SignatureMethod, SigningKey};
use snodo_security::saml::redirect::{MessageParameter, encode};
use snodo_security::saml::sp_metadata::SpMetadata;
use snodo_security::saml::{
    AssertionConsumerService, AuthnRequest, Comparison, ENTITY_FORMAT, Federation, SpidAttribute, SpidLevel,
};
use snodo_simulators::identity::xsd::{ProtocolSchema, default_specs_dir};
use snodo_simulators::identity::{Profile, ServiceProvider};

const SP: &str = "https://sp.example.invalid/sp";
const IDP: &str = "https://idp.example.invalid/spid";
const SSO: &str = "https://idp.example.invalid/spid/sso";
const RELAY: &str = "a1b2c3d4";

fn sp_key() -> SigningKey {
    let identity = &shared_for_tests().sp_signing().identity;
    SigningKey::new(identity.key().clone(), Some(identity.certificate().clone()))
}

fn other_key() -> SigningKey {
    let identity = &shared_for_tests().idp_signing().identity;
    SigningKey::new(identity.key().clone(), Some(identity.certificate().clone()))
}

fn service_provider() -> ServiceProvider {
    let metadata = SpMetadata {
        federation: Federation::Spid,
        entity_id: SP.into(),
        acs_url: "https://sp.example.invalid/acs".into(),
        slo_url: "https://sp.example.invalid/slo".into(),
        organization_name: "Comune di Prova".into(),
        organization_display_name: "Comune di Prova".into(),
        organization_url: "https://sp.example.invalid".into(),
        ipa_code: "c_h501".into(),
        contact_email: "prova@example.invalid".into(),
        municipality: "H501".into(),
        service_name: "Servizio di prova".into(),
        attributes: vec![SpidAttribute::FiscalNumber, SpidAttribute::Name],
    }
    .sign(&sp_key())
    .unwrap();
    ServiceProvider::from_metadata(metadata.as_bytes()).unwrap()
}

fn request(level: SpidLevel) -> AuthnRequest {
    AuthnRequest::new(SP, SSO, AssertionConsumerService::Index(0), 0, level, Utc::now())
}

fn redirect(xml: &str, relay_state: Option<&str>, key: &SigningKey) -> CaughtRequest {
    CaughtRequest::Redirect {
        query: encode(
            MessageParameter::Request,
            xml,
            relay_state,
            Some((SignatureMethod::RsaSha256, key)),
        )
        .unwrap(),
    }
}

/// The ids of the rule cases that do not pass, each with its reason.
fn not_passing(caught: &CaughtRequest, profile: Profile) -> Vec<(String, String)> {
    let sp = service_provider();
    let schema = ProtocolSchema::new(&default_specs_dir());
    let read = ReadRequest::read(caught, Ok(&sp));
    let judging = Judging {
        profile,
        idp_entity_id: IDP,
        sso_url: SSO,
        now: Utc::now(),
        sp: Ok(&sp),
        schema: &schema,
    };
    request_rules::cases()
        .iter()
        .map(|case| {
            (
                case.id.as_str().to_owned(),
                read.judge(case.id.as_str(), &judging),
            )
        })
        .filter(|(_, outcome)| !outcome.is_pass())
        .map(|(id, outcome)| (id, format!("{}: {}", outcome.label(), outcome.text())))
        .collect()
}

fn ids(failures: &[(String, String)]) -> Vec<&str> {
    failures.iter().map(|(id, _)| id.as_str()).collect()
}

fn edit(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "{from:?} is not in {xml}");
    xml.replacen(from, to, 1)
}

#[test]
fn snodos_request_passes_every_rule_on_both_bindings_and_profiles() {
    for profile in [Profile::Spid, Profile::Cie] {
        let xml = request(SpidLevel::L2).to_xml().unwrap();
        assert_eq!(
            not_passing(&redirect(&xml, Some(RELAY), &sp_key()), profile),
            vec![],
            "{profile:?}"
        );
        let signed = request(SpidLevel::L2).sign(&sp_key()).unwrap();
        let post = CaughtRequest::Post {
            saml_request: openssl::base64::encode_block(signed.as_bytes()),
            relay_state: Some(RELAY.into()),
        };
        assert_eq!(not_passing(&post, profile), vec![], "{profile:?}");
    }
}

#[test]
fn each_broken_rule_fails_its_case_alone() {
    let ok = request(SpidLevel::L2);
    let xml = ok.to_xml().unwrap();
    let mut stale = request(SpidLevel::L2);
    stale.issue_instant = Utc::now() + TimeDelta::minutes(5);
    let mut short = request(SpidLevel::L2);
    short.id = "_42".into();
    let mut url = request(SpidLevel::L2);
    url.assertion_consumer_service = AssertionConsumerService::Url("https://elsewhere.invalid/acs".into());
    let allow_create = edit(
        &xml,
        r#"nameid-format:transient"/>"#,
        r#"nameid-format:transient" AllowCreate="true"/>"#,
    );
    let two_levels = edit(
        &xml,
        "</samlp:RequestedAuthnContext>",
        "<saml:AuthnContextClassRef>https://www.spid.gov.it/SpidL3</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>",
    );
    let subject = edit(
        &xml,
        "<samlp:NameIDPolicy",
        "<saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\">x</saml:NameID></saml:Subject><samlp:NameIDPolicy",
    );
    let cases: Vec<(&str, CaughtRequest, &str, &str)> = vec![
        (
            "signed by a key the metadata lacks",
            redirect(&xml, Some(RELAY), &other_key()),
            "authn-request-signature",
            "does not verify",
        ),
        (
            "an ID of three characters",
            redirect(&short.to_xml().unwrap(), Some(RELAY), &sp_key()),
            "authn-request-id",
            "3 characters",
        ),
        (
            "IssueInstant five minutes ahead",
            redirect(&stale.to_xml().unwrap(), Some(RELAY), &sp_key()),
            "authn-request-issue-instant",
            "ahead of the IdP's clock",
        ),
        (
            "an ACS URL the metadata lacks",
            redirect(&url.to_xml().unwrap(), Some(RELAY), &sp_key()),
            "authn-request-acs",
            "not an AssertionConsumerService Location",
        ),
        (
            "AllowCreate",
            redirect(&allow_create, Some(RELAY), &sp_key()),
            "authn-request-name-id-policy",
            "AllowCreate",
        ),
        (
            "two AuthnContextClassRef",
            redirect(&two_levels, Some(RELAY), &sp_key()),
            "authn-request-authn-context",
            "exactly one AuthnContextClassRef",
        ),
        (
            "a Subject with a transient NameID",
            redirect(&subject, Some(RELAY), &sp_key()),
            "authn-request-optional-parts",
            "the Subject must hold one NameID",
        ),
        (
            "no RelayState",
            redirect(&xml, None, &sp_key()),
            "authn-request-relay-state",
            "no RelayState",
        ),
    ];
    for (what, caught, case, why) in cases {
        let failures = not_passing(&caught, Profile::Spid);
        assert_eq!(ids(&failures), vec![case], "{what}: {failures:?}");
        assert!(
            failures[0].1.starts_with("fail: ") && failures[0].1.contains(why),
            "{what}: {failures:?}"
        );
    }
}

#[test]
fn cie_ids_variant_judges_destination_issuer_force_authn_and_comparison_its_way() {
    // Destination the IdP entity ID: SPID accepts it (Avviso 11), CIE ID wants the SSO Location.
    let mut to_entity = request(SpidLevel::L2);
    to_entity.destination = IDP.into();
    let caught = redirect(&to_entity.to_xml().unwrap(), Some(RELAY), &sp_key());
    assert_eq!(not_passing(&caught, Profile::Spid), vec![]);
    assert_eq!(
        ids(&not_passing(&caught, Profile::Cie)),
        ["authn-request-destination"]
    );

    // An Issuer without Format and NameQualifier: optional for CIE ID only.
    let xml = request(SpidLevel::L2).to_xml().unwrap();
    let bare_issuer = edit(
        &xml,
        &format!(r#"<saml:Issuer NameQualifier="{SP}" Format="{ENTITY_FORMAT}">"#),
        "<saml:Issuer>",
    );
    let caught = redirect(&bare_issuer, Some(RELAY), &sp_key());
    assert_eq!(
        ids(&not_passing(&caught, Profile::Spid)),
        ["authn-request-issuer"]
    );
    assert_eq!(not_passing(&caught, Profile::Cie), vec![]);

    // SpidL1 without ForceAuthn: SPID allows it, CIE ID requires ForceAuthn always.
    let caught = redirect(&request(SpidLevel::L1).to_xml().unwrap(), Some(RELAY), &sp_key());
    assert_eq!(not_passing(&caught, Profile::Spid), vec![]);
    assert_eq!(
        ids(&not_passing(&caught, Profile::Cie)),
        ["authn-request-force-authn"]
    );

    // SpidL2 with Comparison exact: SPID allows it, CIE ID asks SpidL2 only as a minimum; maximum
    // is SPID's only.
    for (comparison, spid_passes) in [(Comparison::Exact, true), (Comparison::Maximum, true)] {
        let mut asked = request(SpidLevel::L2);
        asked.comparison = comparison;
        let caught = redirect(&asked.to_xml().unwrap(), Some(RELAY), &sp_key());
        assert_eq!(not_passing(&caught, Profile::Spid).is_empty(), spid_passes);
        assert_eq!(
            ids(&not_passing(&caught, Profile::Cie)),
            ["authn-request-authn-context"],
            "{comparison:?}"
        );
    }
    let mut exact_l3 = request(SpidLevel::L3);
    exact_l3.comparison = Comparison::Exact;
    let caught = redirect(&exact_l3.to_xml().unwrap(), Some(RELAY), &sp_key());
    assert_eq!(not_passing(&caught, Profile::Cie), vec![]);
}

#[test]
fn without_accepted_metadata_the_rules_needing_it_are_not_judged() {
    let caught = redirect(&request(SpidLevel::L2).to_xml().unwrap(), Some(RELAY), &sp_key());
    let schema = ProtocolSchema::new(&default_specs_dir());
    let refused = "the metadata is not signed";
    let read = ReadRequest::read(&caught, Err(refused));
    let judging = Judging {
        profile: Profile::Spid,
        idp_entity_id: IDP,
        sso_url: SSO,
        now: Utc::now(),
        sp: Err(refused),
        schema: &schema,
    };
    let mut errors = Vec::new();
    for case in request_rules::cases() {
        let outcome = read.judge(case.id.as_str(), &judging);
        assert_ne!(outcome.label(), "fail", "{}: {outcome:?}", case.id.as_str());
        if outcome.label() == "error" {
            assert!(outcome.text().contains(refused), "{outcome:?}");
            errors.push(case.id.as_str().to_owned());
        }
    }
    assert_eq!(
        errors,
        [
            "authn-request-signature",
            "authn-request-issuer",
            "authn-request-acs",
            "authn-request-attribute-consuming-service"
        ]
    );
}
