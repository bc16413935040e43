//! What the IdP simulator tests share: a running simulator on an ephemeral port, a test SP (signed
//! metadata registered with the IdP, AuthnRequests it signs), logins driven through the JSON face of
//! the login page, and the two judges of what the IdP produces — the security crate's
//! `saml::verify_response` and the `xmlsec1` CLI.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use snodo_security::devpki::shared_for_tests;
use snodo_security::dsig::{SignaturePlacement, SignaturePolicy, SigningKey, TrustedKeys, sign_enveloped};
use snodo_security::saml::redirect::{self, MessageParameter};
use snodo_security::saml::{AssertionConsumerService, AuthnRequest, PendingRequest, SpidLevel};
use snodo_security::xml::{Limits, parse_str};
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use snodo_simulators::identity::{IdentityProvider, Profile};
use tokio_util::sync::CancellationToken;

pub const SP_ENTITY_ID: &str = "https://comune.example.it/spid";
pub const ACS_URL: &str = "https://comune.example.it/spid/acs";
pub const SLO_URL: &str = "https://comune.example.it/spid/slo";
pub const RELAY_STATE: &str = "r4nd0mRelayState";

pub struct Idp {
    pub running: RunningSimulator,
    pub idp: IdentityProvider,
    pub http: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

impl Idp {
    pub async fn start() -> Idp {
        let clock = SimClock::new();
        let idp = IdentityProvider::new(clock.clone());
        let instance = Arc::new(Instance::new(Arc::new(idp.clone()), clock));
        let stop = CancellationToken::new();
        let running = serve(
            instance,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            Transport::Http,
            stop.clone(),
        )
        .await
        .expect("the IdP simulator starts");
        idp.set_base_url(&running.url());
        let idp_client = Idp {
            running,
            idp,
            http: reqwest::Client::new(),
            _stop: stop.drop_guard(),
        };
        for profile in Profile::ALL {
            let reply = idp_client
                .http
                .post(idp_client.url(profile, "sp-metadata"))
                .body(sp_metadata())
                .send()
                .await
                .expect("registration answered");
            assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap_or_default());
        }
        idp_client
    }

    pub fn url(&self, profile: Profile, path: &str) -> String {
        format!("{}/{}/{path}", self.running.url(), profile.path())
    }

    pub fn entity_id(&self, profile: Profile) -> String {
        format!("{}/{}", self.running.url(), profile.path())
    }

    pub fn idp_keys(&self) -> TrustedKeys {
        TrustedKeys::from_pem(&self.idp.certificate_pem()).expect("the IdP certificate")
    }

    /// POSTs a signed AuthnRequest to SSO and returns the JSON answer (ticket…) and the status.
    pub async fn sso_post(
        &self,
        profile: Profile,
        signed_request: &str,
        relay_state: Option<&str>,
    ) -> (u16, Value) {
        let mut form = vec![(
            "SAMLRequest",
            openssl::base64::encode_block(signed_request.as_bytes()),
        )];
        if let Some(r) = relay_state {
            form.push(("RelayState", r.to_owned()));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", redirect::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let reply = self
            .http
            .post(self.url(profile, "sso"))
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("SSO answered");
        let status = reply.status().as_u16();
        (status, reply.json().await.expect("JSON"))
    }

    /// Posts the login form as JSON.
    pub async fn login(&self, profile: Profile, body: Value) -> (u16, Value) {
        let reply = self
            .http
            .post(self.url(profile, "login"))
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .expect("login answered");
        let status = reply.status().as_u16();
        (status, reply.json().await.expect("JSON"))
    }

    /// A whole login: a fresh signed request at `level`, then the login with `outcome`.
    pub async fn log_in(
        &self,
        profile: Profile,
        level: SpidLevel,
        fiscal_code: &str,
        outcome: &str,
    ) -> (PendingRequest, Value) {
        let request = authn_request(self, profile, level);
        let (status, answer) = self
            .sso_post(
                profile,
                &request.sign(&sp_key()).expect("signs"),
                Some(RELAY_STATE),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let ticket = answer["ticket"].as_str().expect("a ticket").to_owned();
        let (status, answer) = self
            .login(
                profile,
                json!({ "ticket": ticket, "fiscal_code": fiscal_code, "outcome": outcome }),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        (request.pending(), answer)
    }

    /// A fresh SpidL2 request logged in as JSON with these extra login fields (`consent`…).
    pub async fn log_in_json(
        &self,
        profile: Profile,
        fiscal_code: &str,
        extra: Value,
    ) -> (PendingRequest, Value) {
        let request = authn_request(self, profile, SpidLevel::L2);
        let (status, answer) = self
            .sso_post(
                profile,
                &request.sign(&sp_key()).expect("signs"),
                Some(RELAY_STATE),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let mut body = json!({ "ticket": answer["ticket"], "fiscal_code": fiscal_code });
        for (k, v) in extra.as_object().expect("an object") {
            body[k] = v.clone();
        }
        let (_, answer) = self.login(profile, body).await;
        (request.pending(), answer)
    }

    /// Posts the consent page's form with `decision` and returns the page answered (the form to the ACS).
    pub async fn decide(&self, profile: Profile, ticket: &str, decision: &str) -> String {
        let reply = self
            .http
            .post(self.url(profile, "consent"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("ticket={ticket}&decision={decision}"))
            .send()
            .await
            .expect("consent answered");
        assert_eq!(reply.status(), 200);
        reply.text().await.expect("text")
    }

    pub async fn first_person(&self) -> Value {
        let reply: Value = self
            .http
            .get(self.url(Profile::Spid, "people?limit=1"))
            .send()
            .await
            .expect("people")
            .json()
            .await
            .expect("JSON");
        reply["people"][0].clone()
    }
}

pub fn authn_request(idp: &Idp, profile: Profile, level: SpidLevel) -> AuthnRequest {
    let mut request = AuthnRequest::new(
        SP_ENTITY_ID,
        &idp.url(profile, "sso"),
        AssertionConsumerService::Index(0),
        0,
        level,
        Utc::now(),
    );
    if profile == Profile::Cie {
        request.force_authn = true;
    }
    request
}

pub fn sp_key() -> SigningKey {
    let issued = &shared_for_tests().sp_signing();
    SigningKey::new(
        issued.identity.key().clone(),
        Some(issued.identity.certificate().clone()),
    )
}

/// A Redirect-binding query for `xml`, signed by the SP.
pub fn redirect_query(parameter: MessageParameter, xml: &str, relay_state: Option<&str>) -> String {
    redirect::encode(
        parameter,
        xml,
        relay_state,
        Some((snodo_security::dsig::SignatureMethod::RsaSha256, &sp_key())),
    )
    .expect("encodes")
}

/// Signs `xml` (an element with an `ID`) enveloped after its Issuer, as the SP does.
pub fn sign_after_issuer(xml: &str, key: &SigningKey) -> String {
    let doc = parse_str(xml, &Limits::default()).expect("parses");
    let root = doc.document_element();
    let issuer = doc.child_elements(root).next().expect("an Issuer first");
    let options = SignaturePolicy::spid().signing_options().expect("signing");
    sign_enveloped(&doc, root, SignaturePlacement::After(issuer), &options, key).expect("signs")
}

/// The test SP's metadata, signed: ACS index 0 (POST), SLO (POST), attribute set 0.
pub fn sp_metadata() -> String {
    let cert = shared_for_tests()
        .sp_signing()
        .identity
        .certificate()
        .to_der()
        .expect("DER");
    let cert = openssl::base64::encode_block(&cert);
    let xml = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_sp-metadata" entityID="{SP_ENTITY_ID}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true" WantAssertionsSigned="true"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{SLO_URL}"/><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat><md:AssertionConsumerService index="0" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS_URL}"/><md:AttributeConsumingService index="0"><md:ServiceName xml:lang="it">Servizi online</md:ServiceName><md:RequestedAttribute Name="name"/><md:RequestedAttribute Name="familyName"/><md:RequestedAttribute Name="fiscalNumber"/><md:RequestedAttribute Name="dateOfBirth"/><md:RequestedAttribute Name="placeOfBirth"/><md:RequestedAttribute Name="email"/></md:AttributeConsumingService></md:SPSSODescriptor><md:Organization><md:OrganizationName xml:lang="it">Comune di Milano</md:OrganizationName><md:OrganizationDisplayName xml:lang="it">Comune di Milano</md:OrganizationDisplayName><md:OrganizationURL xml:lang="it">https://comune.example.it</md:OrganizationURL></md:Organization></md:EntityDescriptor>"#
    );
    let doc = parse_str(&xml, &Limits::default()).expect("parses");
    let options = SignaturePolicy::spid().signing_options().expect("signing");
    sign_enveloped(
        &doc,
        doc.document_element(),
        SignaturePlacement::FirstChild,
        &options,
        &sp_key(),
    )
    .expect("signs")
}

pub fn decode(b64: &Value) -> String {
    let compact: String = b64.as_str().expect("base64 text").split_whitespace().collect();
    String::from_utf8(openssl::base64::decode_block(&compact).expect("base64")).expect("UTF-8")
}

pub fn xmlsec1() -> PathBuf {
    which("xmlsec1").unwrap_or_else(|| {
        panic!("xmlsec1 is required by these tests, which never skip: apt-get install -y xmlsec1 (scripts/test does)")
    })
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(tool))
        .find(|p| p.is_file())
}

/// Whether `xmlsec1 --verify` accepts the signature at `xpath` in `xml` with `cert_pem`.
pub fn xmlsec1_verifies(xml: &str, cert_pem: &[u8], xpath: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!(
        "snodo-idp-xmlsec-{}-{}",
        std::process::id(),
        snodo_security::saml::new_message_id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (doc, cert) = (dir.join("doc.xml"), dir.join("cert.pem"));
    std::fs::write(&doc, xml).expect("write");
    std::fs::write(&cert, cert_pem).expect("write");
    let output = Command::new(xmlsec1())
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&cert)
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response"])
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .args(["--node-xpath", xpath])
        .arg(&doc)
        .output()
        .expect("xmlsec1 runs");
    let _ = std::fs::remove_dir_all(&dir);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub const RESPONSE_SIGNATURE: &str = "/*[local-name()='Response']/*[local-name()='Signature']";
pub const ASSERTION_SIGNATURE: &str =
    "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']";

/// A hidden field of an auto-submitting form page (values are HTML-escaped base64 or plain text).
pub struct AutoPostField;

impl AutoPostField {
    pub fn read(page: &str, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in {page}"))
            + marker.len();
        let end = page[start..].find('"').expect("the value ends") + start;
        page[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }
}
