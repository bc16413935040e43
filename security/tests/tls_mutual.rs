//! Mutual TLS end to end over real sockets: our server and our client against each other, the
//! `openssl s_client` CLI against our server and our client against `openssl s_server`, with and
//! without a client certificate, a client certificate from another CA, an expired one, a wrongly
//! pinned CA, and a chain whose CA carries a critical certificatePolicies extension (which OpenSSL,
//! unlike rustls, accepts). Also: handshake failures and stalled handshakes never stop the loop, each
//! failure reaches the configured observer once with OpenSSL's verify error, the connection limit
//! holds, and shutdown lets an open request finish.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Extension;
use axum::routing::get;
use snodo_security::devpki::{self, Authority, LeafProfile, Validity};
use snodo_security::pki::{Identity, TrustAnchors};
use snodo_security::tls::{
    ClientAuth, HandshakeFailure, HandshakeFailureCause, HandshakeObserver, PeerCertificate, TlsClientConfig,
    TlsServer, TlsServerConfig, build_client,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const DAY: Duration = Duration::from_secs(86_400);

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-mutual-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

async fn whoami(peer: Option<Extension<PeerCertificate>>) -> String {
    match peer {
        Some(Extension(p)) => format!("peer CN={}", p.subject.common_name.unwrap_or_default()),
        None => "anonymous".to_owned(),
    }
}

struct Running {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.address.port())
    }
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

async fn start(config: TlsServerConfig, router: Router) -> Running {
    let server = TlsServer::new(config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, router, async {
                let _ = stopped.await;
            })
            .await
    });
    Running {
        address,
        stop: Some(stop),
        task,
    }
}

fn router() -> Router {
    Router::new().route("/whoami", get(whoami))
}

fn server_identity() -> Identity {
    devpki::shared_for_tests().tls_server().identity.clone()
}

fn client(identity: Option<Identity>, trusted: TrustAnchors) -> reqwest::Client {
    let mut config = TlsClientConfig::new(trusted);
    config.identity = identity;
    build_client(&config).unwrap()
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => Ok(r.text().await.map_err(|e| format!("{e:?}"))?),
        Ok(r) => Err(format!("status {}", r.status())),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn expired_client() -> Identity {
    let pki = devpki::shared_for_tests();
    let key = devpki::cached_key("tls-client", 2048).unwrap();
    let now = SystemTime::now();
    let certificate = pki
        .ca()
        .issue(
            &LeafProfile::TlsClient {
                common_name: "expired client".into(),
            },
            &key,
            Validity {
                not_before: now - 60 * DAY,
                not_after: now - 30 * DAY,
            },
        )
        .unwrap();
    Identity::new(certificate, key, Vec::new(), Path::new("expired")).unwrap()
}

fn foreign_ca() -> Authority {
    Authority::self_signed(
        "Foreign CA",
        &devpki::cached_key("foreign-ca", 2048).unwrap(),
        Validity::days_from(SystemTime::now(), 30),
        &[],
    )
    .unwrap()
}

fn foreign_client() -> Identity {
    let key = devpki::cached_key("tls-client", 2048).unwrap();
    let certificate = foreign_ca()
        .issue(
            &LeafProfile::TlsClient {
                common_name: "foreign client".into(),
            },
            &key,
            Validity::days_from(SystemTime::now(), 10),
        )
        .unwrap();
    Identity::new(certificate, key, Vec::new(), Path::new("foreign")).unwrap()
}

/// A CA with critical certificatePolicies (anyPolicy and agIDcert) and a server and a client under it.
fn policy_chain() -> (Authority, Identity, Identity) {
    let now = SystemTime::now();
    let ca = Authority::self_signed(
        "Public sector style CA",
        &devpki::cached_key("policy-ca", 2048).unwrap(),
        Validity::days_from(now, 30),
        &["2.5.29.32.0", "1.3.76.16.6"],
    )
    .unwrap();
    let server_key = devpki::cached_key("tls-server", 2048).unwrap();
    let server = ca
        .issue(
            &LeafProfile::TlsServer {
                common_name: "localhost".into(),
                dns_names: vec!["localhost".into()],
                ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            },
            &server_key,
            Validity::days_from(now, 20),
        )
        .unwrap();
    let client_key = devpki::cached_key("anpr-client", 2048).unwrap();
    let client = ca
        .issue(
            &LeafProfile::AnprMunicipality {
                istat: "015146".into(),
                name: "Comune di Milano".into(),
            },
            &client_key,
            Validity::days_from(now, 20),
        )
        .unwrap();
    (
        ca,
        Identity::new(server, server_key, Vec::new(), Path::new("policy-server")).unwrap(),
        Identity::new(client, client_key, Vec::new(), Path::new("policy-client")).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_certificate_reaches_the_handler_and_refusals_do_not_stop_the_loop() {
    let pki = devpki::shared_for_tests();
    let running = start(
        TlsServerConfig::new(server_identity(), ClientAuth::Required(pki.trust_anchors())),
        router(),
    )
    .await;
    let url = running.url("/whoami");
    let good = client(Some(pki.tls_client().identity.clone()), pki.trust_anchors());
    assert_eq!(
        get_text(&good, &url).await.unwrap(),
        "peer CN=Snodo DEVELOPMENT client"
    );
    let anpr = client(Some(pki.anpr_client().identity.clone()), pki.trust_anchors());
    assert_eq!(get_text(&anpr, &url).await.unwrap(), "peer CN=015146-CO-9999");

    for (what, refused) in [
        ("no certificate", client(None, pki.trust_anchors())),
        (
            "another CA's certificate",
            client(Some(foreign_client()), pki.trust_anchors()),
        ),
        (
            "an expired certificate",
            client(Some(expired_client()), pki.trust_anchors()),
        ),
    ] {
        let outcome = get_text(&refused, &url).await;
        assert!(outcome.is_err(), "{what} was accepted: {outcome:?}");
        // The loop goes on after every refusal.
        assert_eq!(
            get_text(&good, &url).await.unwrap(),
            "peer CN=Snodo DEVELOPMENT client",
            "after {what}"
        );
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_certificate_serves_anonymous_clients_without_a_peer() {
    let pki = devpki::shared_for_tests();
    let running = start(
        TlsServerConfig::new(server_identity(), ClientAuth::Optional(pki.trust_anchors())),
        router(),
    )
    .await;
    let url = running.url("/whoami");
    let anonymous = client(None, pki.trust_anchors());
    assert_eq!(get_text(&anonymous, &url).await.unwrap(), "anonymous");
    let named = client(Some(pki.tls_client().identity.clone()), pki.trust_anchors());
    assert_eq!(
        get_text(&named, &url).await.unwrap(),
        "peer CN=Snodo DEVELOPMENT client"
    );
    // Optional is not "anything goes": a certificate that does not verify is refused.
    assert!(
        get_text(&client(Some(foreign_client()), pki.trust_anchors()), &url)
            .await
            .is_err()
    );
    running.stop().await;
}

/// The failures an observer was told of, as they arrive.
#[derive(Clone, Default)]
struct Observed(std::sync::Arc<std::sync::Mutex<Vec<HandshakeFailure>>>);

impl Observed {
    fn observer(&self) -> HandshakeObserver {
        let seen = self.0.clone();
        HandshakeObserver::new(move |failure| seen.lock().unwrap().push(failure))
    }

    /// Waits for the server side to report `count` failures in all (the client may learn of a
    /// refusal before the server's task reports it), then checks that no more arrive.
    async fn settle(&self, count: usize) -> Vec<HandshakeFailure> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.0.lock().unwrap().len() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_failures_reach_the_observer_with_openssls_verify_error() {
    let pki = devpki::shared_for_tests();
    let observed = Observed::default();
    let mut config = TlsServerConfig::new(server_identity(), ClientAuth::Optional(pki.trust_anchors()));
    config.on_handshake_failure = Some(observed.observer());
    config.handshake_timeout = Duration::from_millis(500);
    let running = start(config, router()).await;
    let url = running.url("/whoami");

    // Completed handshakes, with and without a certificate, are not failures.
    let named = client(Some(pki.tls_client().identity.clone()), pki.trust_anchors());
    assert_eq!(
        get_text(&named, &url).await.unwrap(),
        "peer CN=Snodo DEVELOPMENT client"
    );
    assert_eq!(
        get_text(&client(None, pki.trust_anchors()), &url).await.unwrap(),
        "anonymous"
    );
    assert!(observed.settle(0).await.is_empty());

    // A certificate from a CA the server does not trust: one failure, naming OpenSSL's verify error.
    let foreign = client(Some(foreign_client()), pki.trust_anchors());
    assert!(get_text(&foreign, &url).await.is_err());
    let failures = observed.settle(1).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failure = &failures[0];
    assert!(failure.remote.ip().is_loopback(), "{failure:?}");
    let verify = failure.verify_error().expect("the chain is why");
    assert_eq!(
        verify.as_raw(),
        20,
        "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: {}",
        verify.error_string()
    );
    assert!(
        failure
            .to_string()
            .contains("client certificate chain not trusted: unable to get local issuer certificate"),
        "{failure}"
    );

    // An expired certificate of the trusted CA: its own verify error.
    assert!(
        get_text(&client(Some(expired_client()), pki.trust_anchors()), &url)
            .await
            .is_err()
    );
    let failures = observed.settle(2).await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(
        failures[1].verify_error().map(|v| v.error_string()),
        Some("certificate has expired")
    );

    // A client refusing the server's certificate is a failure without a verify error.
    let pinned_elsewhere = client(None, TrustAnchors::new(vec![foreign_ca().certificate().clone()]));
    assert!(get_text(&pinned_elsewhere, &url).await.is_err());
    let failures = observed.settle(3).await;
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(
        matches!(failures[2].cause, HandshakeFailureCause::Protocol(_)),
        "{:?}",
        failures[2]
    );
    assert_eq!(failures[2].verify_error(), None);

    // A client that never sends its hello is reported when the handshake timeout strikes.
    let stalled = tokio::net::TcpStream::connect(running.address).await.unwrap();
    let failures = observed.settle(4).await;
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(failures[3].cause, HandshakeFailureCause::TimedOut);
    drop(stalled);

    // Reporting does not stop the loop.
    assert_eq!(
        get_text(&named, &url).await.unwrap(),
        "peer CN=Snodo DEVELOPMENT client"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_trusts_only_its_pinned_ca() {
    let pki = devpki::shared_for_tests();
    let running = start(
        TlsServerConfig::new(server_identity(), ClientAuth::None),
        router(),
    )
    .await;
    let url = running.url("/whoami");
    assert_eq!(
        get_text(&client(None, pki.trust_anchors()), &url).await.unwrap(),
        "anonymous"
    );
    let pinned_elsewhere = client(None, TrustAnchors::new(vec![foreign_ca().certificate().clone()]));
    let outcome = get_text(&pinned_elsewhere, &url).await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(
        build_client(&TlsClientConfig::new(TrustAnchors::default())).is_err(),
        "no CA, no client"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_whose_ca_has_critical_certificate_policies_works_both_ways() {
    let (ca, server, client_identity) = policy_chain();
    let anchors = TrustAnchors::new(vec![ca.certificate().clone()]);
    let running = start(
        TlsServerConfig::new(server, ClientAuth::Required(anchors.clone())),
        router(),
    )
    .await;
    let text = get_text(&client(Some(client_identity), anchors), &running.url("/whoami")).await;
    assert_eq!(text.unwrap(), "peer CN=015146-CO-9999");
    running.stop().await;
}

fn write_pem(name: &str, identity: &Identity) -> (PathBuf, PathBuf) {
    let cert = scratch(&format!("{name}.pem"));
    let key = scratch(&format!("{name}.key"));
    std::fs::write(&cert, identity.certificate_chain_pem()).unwrap();
    std::fs::write(&key, identity.key_pkcs8_pem()).unwrap();
    (cert, key)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl s_client` sends one HTTP request through our server and returns what it printed.
fn s_client(port: u16, ca: &Path, identity: Option<(&Path, &Path)>) -> String {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        "localhost",
        "-CAfile",
        s(ca),
        "-verify_return_error",
        "-quiet",
    ];
    if let Some((cert, key)) = identity {
        args.extend(["-cert", s(cert), "-key", s(key)]);
    }
    let mut child = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl CLI is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_against_our_server() {
    let pki = devpki::shared_for_tests();
    let running = start(
        TlsServerConfig::new(server_identity(), ClientAuth::Required(pki.trust_anchors())),
        router(),
    )
    .await;
    let port = running.address.port();
    let ca = pki.ca_file().to_owned();
    let client_files = (
        pki.tls_client().certificate_file.clone(),
        pki.tls_client().key_file.clone(),
    );
    let expired = write_pem("expired-client", &expired_client());
    let (with, without, with_expired) = tokio::task::spawn_blocking(move || {
        (
            s_client(port, &ca, Some((&client_files.0, &client_files.1))),
            s_client(port, &ca, None),
            s_client(port, &ca, Some((&expired.0, &expired.1))),
        )
    })
    .await
    .unwrap();
    assert!(
        with.contains("200 OK") && with.contains("peer CN=Snodo DEVELOPMENT client"),
        "{with}"
    );
    assert!(
        !without.contains("200 OK") && without.contains("certificate required"),
        "served without a client certificate:\n{without}"
    );
    assert!(
        !with_expired.contains("200 OK"),
        "served an expired certificate:\n{with_expired}"
    );
    running.stop().await;
}

/// Runs `openssl s_server -www` requiring a client certificate from `client_ca`; killed on drop.
struct SServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn s_server(server: &Identity, client_ca: &Path, name: &str) -> SServer {
    let (cert, key) = write_pem(name, server);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &port.to_string(),
            "-cert",
            s(&cert),
            "-key",
            s(&key),
            "-Verify",
            "2",
            "-CAfile",
            s(client_ca),
            "-verify_return_error",
            "-www",
            "-quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the openssl CLI is installed");
    let server = SServer { child, port };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("openssl s_server did not start listening on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_openssl_s_server() {
    let pki = devpki::shared_for_tests();
    let server = s_server(&server_identity(), pki.ca_file(), "s-server").await;
    let url = format!("https://localhost:{}/", server.port);
    let page = get_text(
        &client(Some(pki.tls_client().identity.clone()), pki.trust_anchors()),
        &url,
    )
    .await;
    assert!(page.as_deref().is_ok_and(|p| p.contains("Ciphers")), "{page:?}");
    let refused = get_text(&client(None, pki.trust_anchors()), &url).await;
    assert!(
        refused.is_err(),
        "s_server served a client without a certificate: {refused:?}"
    );
    let refused = get_text(&client(Some(expired_client()), pki.trust_anchors()), &url).await;
    assert!(
        refused.is_err(),
        "s_server served an expired client certificate: {refused:?}"
    );
    let wrong_pin = get_text(
        &client(
            Some(pki.tls_client().identity.clone()),
            TrustAnchors::new(vec![foreign_ca().certificate().clone()]),
        ),
        &url,
    )
    .await;
    assert!(wrong_pin.is_err(), "{wrong_pin:?}");
    drop(server);

    // The critical certificatePolicies chain, served by OpenSSL itself.
    let (ca, policy_server, policy_client) = policy_chain();
    let ca_file = scratch("policy-ca.pem");
    std::fs::write(&ca_file, ca.certificate().to_pem().unwrap()).unwrap();
    let server = s_server(&policy_server, &ca_file, "policy-s-server").await;
    let page = get_text(
        &client(
            Some(policy_client),
            TrustAnchors::new(vec![ca.certificate().clone()]),
        ),
        &format!("https://localhost:{}/", server.port),
    )
    .await;
    assert!(page.is_ok(), "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_dropped_and_does_not_block_others() {
    let pki = devpki::shared_for_tests();
    let mut config = TlsServerConfig::new(server_identity(), ClientAuth::Required(pki.trust_anchors()));
    config.handshake_timeout = Duration::from_millis(300);
    let running = start(config, router()).await;
    let mut stalled = tokio::net::TcpStream::connect(running.address).await.unwrap();
    let good = client(Some(pki.tls_client().identity.clone()), pki.trust_anchors());
    assert!(get_text(&good, &running.url("/whoami")).await.is_ok());
    // The server hangs up on the silent client once its handshake time is over.
    let mut buf = [0u8; 16];
    let read = stalled.read(&mut buf).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(get_text(&good, &running.url("/whoami")).await.is_ok());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds_new_connections_back() {
    let pki = devpki::shared_for_tests();
    let mut config = TlsServerConfig::new(server_identity(), ClientAuth::Required(pki.trust_anchors()));
    config.max_connections = 1;
    config.handshake_timeout = Duration::from_secs(600);
    let running = start(config, router()).await;
    let occupying = tokio::net::TcpStream::connect(running.address).await.unwrap();
    let mut impatient =
        TlsClientConfig::new(pki.trust_anchors()).with_identity(pki.tls_client().identity.clone());
    impatient.timeout = Duration::from_secs(1);
    let impatient = build_client(&impatient).unwrap();
    let held_back = get_text(&impatient, &running.url("/whoami")).await;
    assert!(
        held_back.is_err(),
        "a second connection was served beyond the limit of one: {held_back:?}"
    );
    // Closing the first connection frees its place.
    drop(occupying);
    let served = get_text(&impatient, &running.url("/whoami")).await;
    assert_eq!(served.unwrap(), "peer CN=Snodo DEVELOPMENT client");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_open_request_finish_then_stops_accepting() {
    let pki = devpki::shared_for_tests();
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let gates = std::sync::Arc::new(gates::Gates::new(entered_tx, release_rx));
    let router = Router::new().route(
        "/slow",
        get(move || {
            let gates = gates.clone();
            async move {
                gates.enter().await;
                "finished"
            }
        }),
    );
    let running = start(TlsServerConfig::new(server_identity(), ClientAuth::None), router).await;
    let url = running.url("/slow");
    let address = running.address;
    let client = client(None, pki.trust_anchors());
    let request = tokio::spawn({
        let client = client.clone();
        async move { get_text(&client, &url).await }
    });
    entered_rx.await.unwrap();
    let Running { stop, task, .. } = running;
    stop.unwrap().send(()).unwrap();
    // The listener closes while the request is still open…
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener still accepts after shutdown");
    assert!(!task.is_finished(), "the server must wait for the open request");
    // …and the request still completes.
    release_tx.send(()).unwrap();
    assert_eq!(request.await.unwrap().unwrap(), "finished");
    task.await.unwrap();
}

/// One-shot gates for the shutdown test, without extra dependencies.
mod gates {
    use tokio::sync::{Mutex, oneshot};

    pub struct Gates {
        entered: Mutex<Option<oneshot::Sender<()>>>,
        release: Mutex<Option<oneshot::Receiver<()>>>,
    }

    impl Gates {
        pub fn new(entered: oneshot::Sender<()>, release: oneshot::Receiver<()>) -> Gates {
            Gates {
                entered: Mutex::new(Some(entered)),
                release: Mutex::new(Some(release)),
            }
        }

        pub async fn enter(&self) {
            if let Some(tx) = self.entered.lock().await.take() {
                let _ = tx.send(());
            }
            if let Some(rx) = self.release.lock().await.take() {
                let _ = rx.await;
            }
        }
    }
}
