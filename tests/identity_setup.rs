//! `identity::setup::build` — what `snodo up` calls — from configuration: each tenant's SP with the
//! keys, entity IDs, contact and IPA code of its `[tenants.identity]` and certificates (or, for a
//! development tenant, the development PKI the instance carries), IdP metadata fetched from
//! `[platforms.identity]` by the background refresh and read from trusted files, and the
//! configuration errors that name the key to fix.

mod identity_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use identity_common::*;
use snodo_connectors::config::{
    CertificateFiles, Config, Environment, PlatformEndpointConfig, load_from_str,
};
use snodo_connectors::identity::setup;
use snodo_connectors::platform::{PlatformContext, PlatformError, PlatformParts};
use snodo_connectors::state::{StateSettings, connect};
use snodo_connectors::tenants::Tenants;
use snodo_queue::Names;
use snodo_queue::request::Requester;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_security::devpki;
use snodo_security::saml::Federation;
use snodo_security::saml::redirect::url_encode;
use tokio_util::sync::CancellationToken;

async fn context(config: Config) -> PlatformContext {
    let transport = EmbeddedTestBroker::new().connect().await;
    let names = Names::new(format!(
        "identity-setup-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    PlatformContext {
        tenants: Arc::new(Tenants::from_config(&config)),
        config: Arc::new(config),
        requester: Arc::new(Requester::start(transport.clone(), &names.prefix).await.unwrap()),
        store: connect(None, StateSettings::with_prefix(&names.prefix))
            .await
            .unwrap(),
        transport,
        names,
        development_ca: Some(devpki::shared_for_tests().trust_anchors()),
        development_pki: Some(devpki::shared_for_tests().clone()),
        simulator_port_offset: 0,
        shutdown: CancellationToken::new(),
        telemetry: Default::default(),
    }
}

/// Serves the parts' inbound routes on an ephemeral port.
async fn serve(parts: &mut PlatformParts) -> String {
    let router = parts.inbound.take().expect("inbound routes");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn error_text(result: Result<PlatformParts, PlatformError>) -> String {
    match result {
        Ok(_) => panic!("the configuration was accepted"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_tenant_signs_with_the_instances_pki_and_loads_the_idps_it_is_pointed_at() {
    let sim = Simulator::start().await;
    let mut config = Config::development();
    config.platforms = BTreeMap::from([(
        "identity".to_owned(),
        PlatformEndpointConfig {
            url: sim.running.url(),
            ca: vec![],
        },
    )]);
    let ctx = context(config).await;
    let mut parts = setup::build(&ctx).expect("builds");
    assert!(parts.handler.is_some(), "identity.ticket.redeem is handled");
    assert_eq!(parts.background.len(), 2, "one metadata refresh per federation");
    for task in parts.background.drain(..) {
        tokio::spawn(task);
    }
    let base = serve(&mut parts).await;
    let http = reqwest::Client::new();

    let metadata = http
        .get(format!("{base}/identity/015146/spid/metadata"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pki_certificate = devpki::shared_for_tests()
        .sp_signing()
        .identity
        .certificate()
        .to_pem()
        .unwrap();
    xmlsec1_verify(
        &metadata,
        &pki_certificate,
        "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
    )
    .expect("signed with the development PKI the context carries");
    assert!(metadata.contains(r#"entityID="https://127.0.0.1:7443/identity/015146""#));
    assert!(metadata.contains(r#"Location="https://127.0.0.1:7443/identity/015146/acs""#));
    assert!(metadata.contains("c_f205"), "IPA code by the comuni's convention");
    assert!(metadata.contains("sviluppo@snodo.invalid"));

    // The refresh fetches both federations from [platforms.identity].
    let expected = [
        sim.url(snodo_simulators::identity::Profile::Spid, ""),
        sim.url(snodo_simulators::identity::Profile::Cie, ""),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listing: serde_json::Value = http
            .get(format!("{base}/identity/015146/idps"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<String> = listing
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{}/", i["entity_id"].as_str().unwrap()))
            .collect();
        if expected.iter().all(|e| ids.contains(e)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "IdPs never loaded: {listing}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The refresh also registered our signed metadata with the simulator (as AgID distributes it
    // to IdPs): the simulator's SSO accepts the development tenant's AuthnRequest.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (federation, profile) in [
        ("spid", snodo_simulators::identity::Profile::Spid),
        ("cie", snodo_simulators::identity::Profile::Cie),
    ] {
        let idp = sim.url(profile, "");
        let login = no_redirects
            .get(format!(
                "{base}/identity/015146/login?federation={federation}&idp={}&return=http%3A%2F%2F127.0.0.1%3A9400%2Fdemo",
                url_encode(idp.trim_end_matches('/'))
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 302, "{}", login.text().await.unwrap());
        let sso = http
            .get(login.headers()["location"].to_str().unwrap())
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = sso.status();
        let answer: serde_json::Value = sso.json().await.unwrap();
        assert_eq!(status, 200, "the simulator knows the SP: {answer}");
        assert!(answer["ticket"].is_string());
    }
    ctx.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_ipa_code_certificates_and_trusted_idps_come_from_the_tenant_configuration() {
    let dir = temp_dir("setup");
    let issued = devpki::shared_for_tests().sp_signing();
    let certificate = dir.join("sp.pem");
    let key = dir.join("sp.key");
    std::fs::write(&certificate, issued.identity.certificate().to_pem().unwrap()).unwrap();
    std::fs::write(&key, issued.identity.key().private_key_to_pem_pkcs8().unwrap()).unwrap();
    let mut config = Config::development();
    let tenant = &mut config.tenants[0];
    tenant.environment = Environment::Test;
    tenant.public_base_url = "https://snodo.comune.example.it".into();
    let identity = tenant.identity.as_mut().unwrap();
    identity.spid_entity_id = Some("https://snodo.comune.example.it/identity/015146".into());
    identity.cie_entity_id = None;
    identity.contact_email = Some("servizi.online@comune.milano.it".into());
    identity.ipa_code = Some("c_f205_test".into());
    identity.trusted_idp_metadata = vec![specs().join("fixtures/idp-metadata.xml")];
    tenant.certificates.spid_signing = Some(CertificateFiles {
        certificate: certificate.clone(),
        key: Some(key.clone()),
        password_file: None,
        ca: vec![],
    });
    let ctx = context(config.clone()).await;
    let mut parts = setup::build(&ctx).expect("builds");
    assert!(
        parts.background.is_empty(),
        "a test tenant has no simulator to fall back on"
    );
    let base = serve(&mut parts).await;
    let http = reqwest::Client::new();
    let metadata = http
        .get(format!("{base}/identity/015146/spid/metadata"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xmlsec1_verify(
        &metadata,
        &std::fs::read(&certificate).unwrap(),
        "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
    )
    .expect("signed with the configured certificate");
    assert!(metadata.contains("<md:EmailAddress>servizi.online@comune.milano.it</md:EmailAddress>"));
    assert!(metadata.contains("c_f205_test"));
    assert!(metadata.contains(r#"Location="https://snodo.comune.example.it/identity/015146/acs""#));
    let cie = http
        .get(format!("{base}/identity/015146/cie/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(cie.status(), 404, "no cie_entity_id, no CIE SP");
    let listing = http
        .get(format!("{base}/identity/015146/idps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains("https://localhost:8443"),
        "trusted file loaded: {listing}"
    );

    // Outside development the contact address is required, and named as a key.
    let mut missing = config.clone();
    missing.tenants[0].identity.as_mut().unwrap().contact_email = None;
    let text = error_text(setup::build(&context(missing).await));
    assert!(
        text.contains("identity.contact_email") && text.contains("015146"),
        "{text}"
    );

    // A trusted file that cannot be read names the tenant and the path.
    let mut unreadable = config.clone();
    unreadable.tenants[0]
        .identity
        .as_mut()
        .unwrap()
        .trusted_idp_metadata = vec![dir.join("missing.xml")];
    let text = error_text(setup::build(&context(unreadable).await));
    assert!(text.contains("missing.xml") && text.contains("015146"), "{text}");

    // Without certificates, a non-development tenant cannot sign.
    let mut unsigned = config;
    unsigned.tenants[0].certificates.spid_signing = None;
    let text = error_text(setup::build(&context(unsigned).await));
    assert!(text.contains("spid_signing"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The keys are ordinary configuration: set from the environment by their path like any other, and
/// refused with the key named when their value cannot be right.
#[test]
fn contact_and_ipa_code_are_configuration_keys_checked_on_load() {
    let env = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
    let config = load_from_str(
        "test",
        None,
        env(
            "SNODO_TENANTS__0__IDENTITY__CONTACT_EMAIL",
            "protocollo@comune.milano.it",
        ),
    )
    .expect("loads");
    assert_eq!(
        config.tenants[0]
            .identity
            .as_ref()
            .unwrap()
            .contact_email
            .as_deref(),
        Some("protocollo@comune.milano.it")
    );
    for (name, value, key) in [
        (
            "SNODO_TENANTS__0__IDENTITY__CONTACT_EMAIL",
            "not an address",
            "identity.contact_email",
        ),
        (
            "SNODO_TENANTS__0__IDENTITY__CONTACT_EMAIL",
            "a@b@comune.it",
            "identity.contact_email",
        ),
        (
            "SNODO_TENANTS__0__IDENTITY__IPA_CODE",
            "c f205",
            "identity.ipa_code",
        ),
        (
            "SNODO_TENANTS__0__IDENTITY__MINIMUM_LEVEL",
            "4",
            "identity.minimum_level",
        ),
        (
            "SNODO_TENANTS__0__IDENTITY__MINIMUM_LEVEL",
            "0",
            "identity.minimum_level",
        ),
    ] {
        let text = load_from_str("test", None, env(name, value))
            .expect_err("refused")
            .to_string();
        assert!(text.contains(key), "{value}: {text}");
    }
}

/// IdP metadata from a configured URL (how the AgID registry aggregate is read), refused unless signed
/// by one of `idp_metadata_signers`: with the simulator's certificate the IdPs load; with another,
/// the refresh keeps fetching (every few seconds until a document is accepted) and trusts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_metadata_from_a_configured_url_is_trusted_only_with_a_configured_signers_signature() {
    let sim = Simulator::start().await;
    let dir = temp_dir("signers");
    let simulator_certificate = dir.join("idp.pem");
    std::fs::write(&simulator_certificate, sim.idp.certificate_pem()).unwrap();
    let other_certificate = dir.join("other.pem");
    std::fs::write(&other_certificate, sp_certificate_pem()).unwrap();
    let http = reqwest::Client::new();
    for (signer, trusted) in [(&simulator_certificate, true), (&other_certificate, false)] {
        let mut config = Config::development();
        config.platforms = BTreeMap::from([(
            "identity".to_owned(),
            PlatformEndpointConfig {
                url: sim.running.url(),
                ca: vec![],
            },
        )]);
        let identity = config.tenants[0].identity.as_mut().unwrap();
        identity.spid_idp_metadata_url = Some(sim.url(snodo_simulators::identity::Profile::Spid, "metadata"));
        identity.idp_metadata_signers = vec![signer.clone()];
        let ctx = context(config).await;
        let mut parts = setup::build(&ctx).expect("builds");
        for task in parts.background.drain(..) {
            tokio::spawn(task);
        }
        let base = serve(&mut parts).await;
        let spid_idp = sim.entity_id(Federation::Spid);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let listing: serde_json::Value = http
                .get(format!("{base}/identity/015146/idps"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let has_spid = listing
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["entity_id"] == spid_idp.as_str() && i["federation"] == "spid");
            if trusted && has_spid {
                break;
            }
            if !trusted {
                assert!(
                    !has_spid,
                    "a document signed by another key was trusted: {listing}"
                );
                // A second fetch of the configured URL comes only after the first was refused.
                let fetched: serde_json::Value = http
                    .get(format!(
                        "{}/exchanges?operation=spid.metadata",
                        sim.running.admin_url()
                    ))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if fetched["exchanges"].as_array().unwrap().len() >= 2 {
                    break;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "{signer:?}: {listing}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ctx.shutdown.cancel();
        let _ = http
            .delete(format!("{}/exchanges", sim.running.admin_url()))
            .send()
            .await;
    }
    // A configured signer file that cannot be read is a configuration error naming the key.
    let mut config = Config::development();
    config.tenants[0].identity.as_mut().unwrap().idp_metadata_signers = vec![dir.join("missing.pem")];
    let text = error_text(setup::build(&context(config).await));
    assert!(text.contains("idp_metadata_signers"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `minimum_level` reaches the SP `snodo up` builds: a login link asking less is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minimum_level_of_the_configuration_is_the_built_sps_floor() {
    let config = load_from_str(
        "test",
        None,
        vec![(
            "SNODO_TENANTS__0__IDENTITY__MINIMUM_LEVEL".to_owned(),
            "3".to_owned(),
        )],
    )
    .expect("loads");
    assert_eq!(
        config.tenants[0].identity.as_ref().unwrap().minimum_level,
        Some(3)
    );
    let mut parts = setup::build(&context(config).await).expect("builds");
    let base = serve(&mut parts).await;
    let http = reqwest::Client::new();
    let link = |level: &str| {
        format!(
            "{base}/identity/015146/login?federation=cie&idp=x&level={level}&return={}",
            url_encode("http://127.0.0.1:9400/demo")
        )
    };
    let refused = http.get(link("2")).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let page = refused.text().await.unwrap();
    assert!(page.contains("minimum_level 3"), "{page}");
    // At the floor, the link gets past the level check (to the unknown IdP).
    let page = http.get(link("3")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("minimum_level"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_without_an_identity_section_build_nothing() {
    let mut config = Config::development();
    config.tenants[0].identity = None;
    let parts = setup::build(&context(config).await).expect("builds");
    assert!(parts.handler.is_none() && parts.inbound.is_none() && parts.background.is_empty());
}
