//! The SOAP HTTP layer against real listeners: what the endpoint refuses, what the client makes of
//! every kind of answer, and how each failure is classified for the runtime (DESIGN §5).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use snodo_connectors::soap::{
    Fault, FaultCode, OutboundSecurity, QName, SoapCallError, SoapClient, SoapClientConfig, SoapEndpoint,
    SoapEndpointConfig, SoapHandler, SoapReply, SoapRequest,
};
use snodo_mappings::soap::{EnvelopeBuilder, SOAP11_NAMESPACE};
use snodo_queue::runtime::ErrorCode;
use tokio::net::TcpListener;

const NS: &str = "urn:snodo:test";

/// Answers `<t:echoRes>` naming the request element, the station and the SOAPAction; a request
/// element named `fault-client`/`fault-server`/`slow`/`huge` triggers that behaviour instead.
struct TestHandler {
    calls: AtomicUsize,
}

#[async_trait]
impl SoapHandler for TestHandler {
    async fn handle(&self, request: SoapRequest) -> SoapReply {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let name = request.envelope.payload_name();
        match name.local_name() {
            "faultClient" => SoapReply::Fault(Fault::new(FaultCode::Client, "Internal Error (from client)")),
            "faultServer" => SoapReply::Fault(Fault::new(FaultCode::Server, "Rejected by policy")),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                SoapReply::Payload(format!(r#"<t:slowRes xmlns:t="{NS}"/>"#))
            }
            "huge" => SoapReply::Payload(format!(
                r#"<t:hugeRes xmlns:t="{NS}">{}</t:hugeRes>"#,
                "x".repeat(100_000)
            )),
            local => {
                let headers = request.envelope.header_blocks().len();
                SoapReply::Payload(format!(
                    r#"<t:echoRes xmlns:t="{NS}" request="{local}" station="{}" action="{}" headers="{headers}"/>"#,
                    request.path.get("station").map(String::as_str).unwrap_or(""),
                    request.soap_action.as_deref().unwrap_or("")
                ))
            }
        }
    }
}

struct Server {
    url: String,
    handler: Arc<TestHandler>,
}

async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn soap_server(config: SoapEndpointConfig) -> Server {
    let handler = Arc::new(TestHandler {
        calls: AtomicUsize::new(0),
    });
    let router = SoapEndpoint::router("/pagopa/{station}", handler.clone(), config);
    let base = serve(router).await;
    Server {
        url: format!("{base}/pagopa/77777777777_01"),
        handler,
    }
}

fn client(url: &str) -> SoapClient {
    SoapClient::new(
        reqwest::Client::new(),
        url,
        SoapClientConfig {
            timeout: Duration::from_millis(800),
            max_response_bytes: 50_000,
            ..Default::default()
        },
    )
}

fn request(local: &str) -> String {
    format!(r#"<t:{local} xmlns:t="{NS}"><idPA>77777777777</idPA></t:{local}>"#)
}

#[tokio::test]
async fn a_call_reaches_the_handler_with_its_path_and_action_and_returns_the_answer() {
    let server = soap_server(SoapEndpointConfig::default()).await;
    let envelope = client(&server.url)
        .call("paVerifyPaymentNotice", &request("paVerifyPaymentNoticeReq"))
        .await
        .unwrap();
    assert_eq!(envelope.payload_name(), QName::new(NS, "echoRes"));
    let answer = envelope.document().element(envelope.payload()).unwrap();
    assert_eq!(
        answer.attribute(None, "request"),
        Some("paVerifyPaymentNoticeReq")
    );
    assert_eq!(answer.attribute(None, "station"), Some("77777777777_01"));
    assert_eq!(answer.attribute(None, "action"), Some("paVerifyPaymentNotice"));
}

#[tokio::test]
async fn faults_are_classified_client_as_rejected_server_as_unavailable() {
    let server = soap_server(SoapEndpointConfig::default()).await;
    let err = client(&server.url)
        .call("x", &request("faultClient"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SoapCallError::Fault { status: 500, fault, .. } if fault.code == FaultCode::Client),
        "{err}"
    );
    let reported = err.to_command_error(true);
    assert_eq!(reported.code, ErrorCode::Rejected);
    assert!(!reported.retryable);
    assert_eq!(
        reported.platform_message.as_deref(),
        Some("Internal Error (from client)")
    );

    let err = client(&server.url)
        .call("x", &request("faultServer"))
        .await
        .unwrap_err();
    let reported = err.to_command_error(false);
    assert_eq!(reported.code, ErrorCode::Unavailable);
    assert!(reported.retryable);
    assert_eq!(reported.platform_code.as_deref(), Some("soap:Server"));
}

#[tokio::test]
async fn http_errors_without_soap_are_classified_by_status() {
    let router = Router::new()
        .route(
            "/busy",
            axum::routing::post(|| async {
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "<html>busy</html>")
            }),
        )
        .route(
            "/slowdown",
            axum::routing::post(|| async { (axum::http::StatusCode::TOO_MANY_REQUESTS, "") }),
        )
        .route("/notsoap", axum::routing::post(|| async { "<html>hello</html>" }));
    let base = serve(router).await;

    let err = client(&format!("{base}/busy"))
        .call("x", &request("a"))
        .await
        .unwrap_err();
    assert!(matches!(err, SoapCallError::Status { status: 503, .. }), "{err}");
    assert!(err.to_command_error(true).retryable);

    let err = client(&format!("{base}/slowdown"))
        .call("x", &request("a"))
        .await
        .unwrap_err();
    assert_eq!(err.to_command_error(true).code, ErrorCode::Unavailable);

    let err = client(&format!("{base}/missing"))
        .call("x", &request("a"))
        .await
        .unwrap_err();
    assert!(matches!(err, SoapCallError::Status { status: 404, .. }), "{err}");
    let reported = err.to_command_error(true);
    assert_eq!(reported.code, ErrorCode::Rejected);
    assert!(!reported.retryable);

    let err = client(&format!("{base}/notsoap"))
        .call("x", &request("a"))
        .await
        .unwrap_err();
    assert!(matches!(err, SoapCallError::Malformed { .. }), "{err}");
    assert_eq!(err.to_command_error(true).code, ErrorCode::Unavailable);
}

#[tokio::test]
async fn connection_refused_timeouts_drops_and_oversized_answers() {
    // Refused: nothing listens on a port just released.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&closed).call("x", &request("a")).await.unwrap_err();
    assert!(matches!(err, SoapCallError::Connect { .. }), "{err}");
    assert!(
        err.to_command_error(false).retryable,
        "nothing was sent: always retryable"
    );

    let server = soap_server(SoapEndpointConfig::default()).await;
    let err = client(&server.url).call("x", &request("slow")).await.unwrap_err();
    assert!(matches!(err, SoapCallError::Timeout { .. }), "{err}");
    assert!(err.to_command_error(true).retryable);
    assert!(
        !err.to_command_error(false).retryable,
        "the platform may have acted"
    );

    let err = client(&server.url).call("x", &request("huge")).await.unwrap_err();
    assert!(
        matches!(err, SoapCallError::TooLarge { limit: 50_000, .. }),
        "{err}"
    );

    // Dropped: a peer that reads the request and closes without a word.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dropping = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            drop(socket);
        }
    });
    let err = client(&dropping).call("x", &request("a")).await.unwrap_err();
    assert!(
        matches!(err, SoapCallError::Broken { .. } | SoapCallError::Connect { .. }),
        "{err}"
    );
    assert_eq!(err.to_command_error(true).code, ErrorCode::Unavailable);
}

#[tokio::test]
async fn the_endpoint_refuses_what_is_not_soap_1_1_without_calling_the_handler() {
    let server = soap_server(SoapEndpointConfig {
        max_request_bytes: 10_000,
        ..Default::default()
    })
    .await;
    let http = reqwest::Client::new();
    let post = |body: String, content_type: &'static str| {
        http.post(&server.url)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };

    let response = http.get(&server.url).send().await.unwrap();
    assert_eq!(response.status(), 405);

    let response = post("x".repeat(20_000), "text/xml").await.unwrap();
    assert_eq!(response.status(), 413);

    // A body that cannot be read is a bad request, not a large one.
    let (host_port, path) = server.url.trim_start_matches("http://").split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host_port).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!(
                "POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
                 Transfer-Encoding: chunked\r\n\r\nzz\r\n<x/>\r\n0\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 64];
    let n = stream.read(&mut answer).await.unwrap();
    let status_line = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(status_line.starts_with("HTTP/1.1 400"), "{status_line}");

    let soap12 = EnvelopeBuilder::new().body(&request("a"));
    let response = post(soap12, "application/soap+xml").await.unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.text().await.unwrap().contains("VersionMismatch"));

    let hostile = format!(
        r#"<!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><s:Envelope xmlns:s="{SOAP11_NAMESPACE}"><s:Body><x>&b;</x></s:Body></s:Envelope>"#
    );
    let response = post(hostile, "text/xml").await.unwrap();
    assert_eq!(response.status(), 500);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("soapenv:Client") && text.contains("DOCTYPE"),
        "{text}"
    );

    let unknown_header = EnvelopeBuilder::new()
        .header_block(format!(
            r#"<h:Critical xmlns:h="urn:h" xmlns:s="{SOAP11_NAMESPACE}" s:mustUnderstand="1"/>"#
        ))
        .body(&request("a"));
    let response = post(unknown_header, "text/xml; charset=utf-8").await.unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.text().await.unwrap().contains("MustUnderstand"));

    assert_eq!(
        server.handler.calls.load(Ordering::SeqCst),
        0,
        "the handler saw a refused request"
    );
}

#[tokio::test]
async fn outbound_security_is_applied_to_every_request() {
    struct AddHeader;
    impl OutboundSecurity for AddHeader {
        fn secure(&self, envelope: &[u8]) -> Result<String, String> {
            let text = std::str::from_utf8(envelope).map_err(|e| e.to_string())?;
            Ok(text.replacen(
                "<soapenv:Body>",
                r#"<soapenv:Header><h:Signed xmlns:h="urn:h"/></soapenv:Header><soapenv:Body>"#,
                1,
            ))
        }
    }
    struct Refuse;
    impl OutboundSecurity for Refuse {
        fn secure(&self, _: &[u8]) -> Result<String, String> {
            Err("no signing key".into())
        }
    }
    let server = soap_server(SoapEndpointConfig::default()).await;
    let envelope = client(&server.url)
        .with_security(Arc::new(AddHeader))
        .call("x", &request("a"))
        .await
        .unwrap();
    let answer = envelope.document().element(envelope.payload()).unwrap();
    assert_eq!(answer.attribute(None, "headers"), Some("1"));

    let err = client(&server.url)
        .with_security(Arc::new(Refuse))
        .call("x", &request("a"))
        .await
        .unwrap_err();
    assert!(matches!(err, SoapCallError::Security { .. }), "{err}");
    let reported = err.to_command_error(true);
    assert_eq!(reported.code, ErrorCode::Security);
    assert!(!reported.retryable);
}
