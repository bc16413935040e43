//! SOAP over mutual TLS: the endpoint served by the security crate's OpenSSL accept loop hands the
//! verified client certificate to the handler, and the client's TLS failures are classified as
//! `security` (never retried) rather than as an unavailable platform.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use snodo_connectors::soap::{
    SoapCallError, SoapClient, SoapClientConfig, SoapEndpoint, SoapEndpointConfig, SoapHandler, SoapReply,
    SoapRequest,
};
use snodo_queue::runtime::ErrorCode;
use snodo_security::devpki::{self, Authority, Validity};
use snodo_security::pki::TrustAnchors;
use snodo_security::tls::{ClientAuth, TlsClientConfig, TlsServer, TlsServerConfig, build_client};
use tokio::net::TcpListener;

const NS: &str = "urn:snodo:test";

/// Answers with the subject CN of the client certificate, or `none`.
struct WhoAmI;

#[async_trait]
impl SoapHandler for WhoAmI {
    async fn handle(&self, request: SoapRequest) -> SoapReply {
        let cn = request
            .peer
            .as_ref()
            .and_then(|p| p.subject.common_name.clone())
            .unwrap_or_else(|| "none".into());
        SoapReply::Payload(format!(r#"<t:whoRes xmlns:t="{NS}" peer="{cn}"/>"#))
    }
}

async fn start(client_auth: ClientAuth) -> String {
    let pki = devpki::shared_for_tests();
    let server = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        client_auth,
    ))
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = SoapEndpoint::router("/anpr/{tenant}", Arc::new(WhoAmI), SoapEndpointConfig::default());
    tokio::spawn(async move { server.serve(listener, router, std::future::pending()).await });
    format!("https://localhost:{port}/anpr/015146")
}

fn soap(http: reqwest::Client, url: &str) -> SoapClient {
    SoapClient::new(
        http,
        url,
        SoapClientConfig {
            timeout: Duration::from_secs(5),
            ..Default::default()
        },
    )
}

fn request() -> String {
    format!(r#"<t:who xmlns:t="{NS}"/>"#)
}

#[tokio::test]
async fn the_handler_sees_the_verified_client_certificate() {
    let pki = devpki::shared_for_tests();
    let url = start(ClientAuth::Required(pki.trust_anchors())).await;
    let http = build_client(
        &TlsClientConfig::new(pki.trust_anchors()).with_identity(pki.tls_client().identity.clone()),
    )
    .unwrap();
    let envelope = soap(http, &url).call("who", &request()).await.unwrap();
    let answer = envelope.document().element(envelope.payload()).unwrap();
    let expected = pki
        .tls_client()
        .identity
        .certificate()
        .subject_name()
        .entries()
        .find_map(|e| {
            (e.object().nid() == openssl::nid::Nid::COMMONNAME).then(|| e.data().to_string().unwrap())
        });
    assert_eq!(answer.attribute(None, "peer"), expected.as_deref());
}

#[tokio::test]
async fn a_server_outside_the_pinned_ca_is_a_security_error_never_retried() {
    let url = start(ClientAuth::None).await;
    let foreign = Authority::self_signed(
        "Not the platform's CA",
        &devpki::cached_key("foreign-ca", 2048).unwrap(),
        Validity::days_from(SystemTime::now(), 30),
        &[],
    )
    .unwrap();
    let http = build_client(&TlsClientConfig::new(TrustAnchors::new(vec![
        foreign.certificate().clone(),
    ])))
    .unwrap();
    let err = soap(http, &url).call("who", &request()).await.unwrap_err();
    assert!(matches!(err, SoapCallError::Tls { .. }), "{err}");
    let reported = err.to_command_error(true);
    assert_eq!(reported.code, ErrorCode::Security);
    assert!(!reported.retryable);
}

#[tokio::test]
async fn without_a_client_certificate_the_required_endpoint_is_never_reached() {
    let pki = devpki::shared_for_tests();
    let url = start(ClientAuth::Required(pki.trust_anchors())).await;
    let http = build_client(&TlsClientConfig::new(pki.trust_anchors())).unwrap();
    let err = soap(http, &url).call("who", &request()).await.unwrap_err();
    // Under TLS 1.3 the client's side of the handshake completes before the server checks the client
    // certificate; the refusal arrives as an alert or a reset while the request is being written, so
    // the client cannot always tell it from a broken connection. What matters: no answer is taken for
    // one, and it is retried only as a broken connection is (idempotent operations), then parked.
    // `snodo check` catches the usual cause (no client identity configured) before anything runs.
    assert!(
        matches!(err, SoapCallError::Tls { .. } | SoapCallError::Broken { .. }),
        "{err}"
    );
    let reported = err.to_command_error(false);
    assert!(matches!(
        reported.code,
        ErrorCode::Security | ErrorCode::Unavailable
    ));
    assert!(
        !reported.retryable,
        "a non-idempotent call is never repeated after a refusal"
    );
}
