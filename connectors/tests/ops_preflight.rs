//! The platform pre-flight of `snodo check` against an independent TLS server, `openssl s_server` with
//! the development PKI's server certificate: trusted → handshake ok; another CA → refused as untrusted;
//! nothing listening → unreachable.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use snodo_connectors::ops::preflight::{PreflightError, tls_handshake};
use snodo_security::devpki;
use snodo_security::pki::TrustAnchors;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s_server(port: u16) -> Server {
    let pki = devpki::shared_for_tests();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(port.to_string())
        .arg("-cert")
        .arg(&pki.tls_server().certificate_file)
        .arg("-key")
        .arg(&pki.tls_server().key_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the openssl CLI is installed");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "openssl s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

#[test]
fn a_trusted_server_passes_and_an_untrusted_or_absent_one_fails() {
    let port = free_port();
    let _server = s_server(port);
    let pki = devpki::shared_for_tests();
    let url = format!("https://127.0.0.1:{port}/ws");
    let ok = tls_handshake(&url, &pki.trust_anchors()).expect("the development CA trusts the server");
    assert!(ok.protocol.starts_with("TLSv1."), "{ok:?}");
    assert!(!ok.subject.is_empty(), "{ok:?}");

    // A CA of its own, that never signed the server's certificate.
    let dir = std::env::temp_dir().join(format!("snodo-preflight-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("other-ca.pem"), dir.join("other-ca.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Other CA",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let other = TrustAnchors::read(&[cert]).unwrap();
    match tls_handshake(&url, &other) {
        Err(PreflightError::Handshake { reason, .. }) => {
            assert!(reason.contains("not trusted"), "{reason}")
        }
        other => panic!("expected an untrusted server, got {other:?}"),
    }

    let closed = format!("https://127.0.0.1:{}/", free_port());
    assert!(matches!(
        tls_handshake(&closed, &pki.trust_anchors()),
        Err(PreflightError::Connect { .. })
    ));
    assert_eq!(
        tls_handshake("https://x/", &TrustAnchors::default()),
        Err(PreflightError::NoCa)
    );
}
