//! Helpers shared by the integration tests: the independent oracles (xmlsec1 and xmllint, both
//! libxml2-based, Debian packages) and the corpus.
//!
//! The oracles are required, never optional: a missing tool fails the test with the command that
//! installs it (`scripts/test` installs both), because a skipped interoperability test would let a
//! canonicalization bug reach signatures unnoticed.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

pub mod generate;
pub mod saml;
pub mod spid_profile;
pub mod wssec;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use snodo_security::xml::{Document, NodeId, NodeKind};

pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The path of `tool`, or a panic that says how to install it.
pub fn require_tool(tool: &str, debian_package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!(
            "`{tool}` is not installed: it is the independent oracle of these interoperability tests, \
             which never skip. Install it with `apt-get install -y {debian_package}` (scripts/test does)."
        ),
    }
}

pub fn xmlsec1() -> PathBuf {
    require_tool("xmlsec1", "xmlsec1")
}

pub fn xmllint() -> PathBuf {
    require_tool("xmllint", "libxml2-utils")
}

/// Runs a command and returns its output, panicking with stderr when it fails.
pub fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("snodo-security-{label}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir is writable");
        TempDir(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A throwaway RSA key (PEM) for xmlsec1 to sign templates with; only digests are compared.
pub fn signing_key_pem() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("RSA key generation");
        rsa.private_key_to_pem().expect("PEM encoding")
    })
}

pub fn sha256_base64(bytes: &[u8]) -> String {
    openssl::base64::encode_block(&openssl::sha::sha256(bytes))
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c14n-corpus")
}

/// The corpus files, sorted, with their contents.
pub fn corpus() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(corpus_dir())
        .expect("tests/c14n-corpus exists")
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            let name = p.file_name().expect("file name").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("corpus files are UTF-8");
            (name, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the c14n corpus is missing files");
    files
}

/// `shared/specs/spid/fixtures`, beside the repository (CI runs with shared/ next to the clone).
pub fn spid_fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs/spid/fixtures");
    assert!(
        dir.is_dir(),
        "SPID fixtures not found at {}: shared/ must sit beside the repository",
        dir.display()
    );
    dir
}

/// Every element in document order.
pub fn elements(doc: &Document) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![doc.root()];
    while let Some(n) = stack.pop() {
        if matches!(doc.kind(n), NodeKind::Element(_)) {
            out.push(n);
        }
        let children: Vec<NodeId> = doc.children(n).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// The element whose `ID` attribute (no namespace) is `id`.
pub fn element_by_id(doc: &Document, id: &str) -> NodeId {
    let found: Vec<NodeId> = elements(doc)
        .into_iter()
        .filter(|&e| doc.element(e).and_then(|el| el.attribute(None, "ID")) == Some(id))
        .collect();
    assert_eq!(found.len(), 1, "exactly one element with ID {id:?}");
    found[0]
}

/// Child elements of `parent` named `{ns}local`.
pub fn children_named(doc: &Document, parent: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    doc.child_elements(parent)
        .filter(|&c| doc.element(c).is_some_and(|e| e.name().is(Some(ns), local)))
        .collect()
}

/// Descendants (self excluded) named `{ns}local`, in document order.
pub fn descendants_named(doc: &Document, parent: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    elements(doc)
        .into_iter()
        .filter(|&e| e != parent && doc.is_ancestor_or_self(parent, e))
        .filter(|&e| doc.element(e).is_some_and(|el| el.name().is(Some(ns), local)))
        .collect()
}

/// A throwaway key pair with a self-signed certificate, made for one test run and never stored: the
/// signing side of the XML-DSig tests (our signer, xmlsec1's) and the trusted certificate of the
/// verifying side.
pub struct TestIdentity {
    pub key: openssl::pkey::PKey<openssl::pkey::Private>,
    pub certificate: openssl::x509::X509,
}

impl TestIdentity {
    pub fn key_pem(&self) -> Vec<u8> {
        self.key.private_key_to_pem_pkcs8().expect("PEM encoding")
    }
    pub fn certificate_pem(&self) -> Vec<u8> {
        self.certificate.to_pem().expect("PEM encoding")
    }
    pub fn signing_key(&self) -> snodo_security::dsig::SigningKey {
        snodo_security::dsig::SigningKey::new(self.key.clone(), Some(self.certificate.clone()))
    }
    pub fn trusted(&self) -> snodo_security::dsig::TrustedKeys {
        snodo_security::dsig::TrustedKeys::from_certificates([self.certificate.clone()])
            .expect("usable certificate")
    }
    /// Writes `<name>.key.pem` and `<name>.cert.pem` into `dir`, for xmlsec1.
    pub fn write_pem(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = dir.join(format!("{name}.key.pem"));
        let cert = dir.join(format!("{name}.cert.pem"));
        std::fs::write(&key, self.key_pem()).expect("write key");
        std::fs::write(&cert, self.certificate_pem()).expect("write certificate");
        (key, cert)
    }
}

fn self_signed(key: openssl::pkey::PKey<openssl::pkey::Private>, common_name: &str) -> TestIdentity {
    use openssl::asn1::{Asn1Integer, Asn1Time};
    use openssl::bn::{BigNum, MsbOption};
    use openssl::hash::MessageDigest;
    use openssl::x509::extension::SubjectKeyIdentifier;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let mut name = X509NameBuilder::new().expect("name builder");
    name.append_entry_by_text("C", "IT").expect("C");
    name.append_entry_by_text("O", "Snodo test, not a real party")
        .expect("O");
    name.append_entry_by_text("CN", common_name).expect("CN");
    let name = name.build();
    let mut serial = BigNum::new().expect("bignum");
    serial
        .rand(64, MsbOption::MAYBE_ZERO, false)
        .expect("random serial");
    let mut builder = X509Builder::new().expect("builder");
    builder.set_version(2).expect("v3");
    builder
        .set_serial_number(&Asn1Integer::from_bn(&serial).expect("serial"))
        .expect("serial");
    builder.set_subject_name(&name).expect("subject");
    builder.set_issuer_name(&name).expect("issuer");
    builder.set_pubkey(&key).expect("public key");
    builder
        .set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("not before");
    builder
        .set_not_after(&Asn1Time::days_from_now(30).expect("time"))
        .expect("not after");
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(None, None))
        .expect("SKI");
    builder.append_extension(ski).expect("SKI extension");
    builder.sign(&key, MessageDigest::sha256()).expect("self-sign");
    TestIdentity {
        key,
        certificate: builder.build(),
    }
}

/// A fresh RSA identity of `bits` bits.
pub fn rsa_identity(common_name: &str, bits: u32) -> TestIdentity {
    let rsa = openssl::rsa::Rsa::generate(bits).expect("RSA key generation");
    self_signed(openssl::pkey::PKey::from_rsa(rsa).expect("PKey"), common_name)
}

/// A fresh ECDSA P-256 identity.
pub fn ec_identity(common_name: &str) -> TestIdentity {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).expect("P-256");
    let ec = openssl::ec::EcKey::generate(&group).expect("EC key generation");
    self_signed(openssl::pkey::PKey::from_ec_key(ec).expect("PKey"), common_name)
}

/// The RSA-2048 identity most tests sign with, generated once per test binary.
pub fn idp() -> &'static TestIdentity {
    static IDP: OnceLock<TestIdentity> = OnceLock::new();
    IDP.get_or_init(|| rsa_identity("Snodo test IdP", 2048))
}

/// A second, untrusted RSA-2048 identity: the attacker's.
pub fn attacker() -> &'static TestIdentity {
    static ATTACKER: OnceLock<TestIdentity> = OnceLock::new();
    ATTACKER.get_or_init(|| rsa_identity("Snodo test attacker", 2048))
}

/// The certificate the SPID fixtures were signed with (its private key was not kept).
pub fn spid_fixture_keys() -> snodo_security::dsig::TrustedKeys {
    let pem = std::fs::read(spid_fixtures_dir().join("fixture-idp-cert.pem")).expect("fixture-idp-cert.pem");
    snodo_security::dsig::TrustedKeys::from_pem(&pem).expect("fixture certificate is usable")
}

pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// A policy allowing everything the crate implements, for interoperability and property tests (the
/// production presets are narrower).
pub fn everything_policy(name: &'static str) -> snodo_security::dsig::SignaturePolicy {
    use snodo_security::c14n::Algorithm;
    use snodo_security::dsig::{DigestMethod, IdAttribute, SignatureMethod, SignaturePolicy, Transform};
    let mut policy = SignaturePolicy::new(name).with_id_attribute(IdAttribute::SAML_ID);
    for m in SignatureMethod::ALL {
        policy = policy.allow_signature_method(m);
    }
    for d in DigestMethod::ALL {
        policy = policy.allow_digest_method(d);
    }
    for a in [Algorithm::Exclusive, Algorithm::Inclusive] {
        policy = policy
            .allow_canonicalization(a)
            .allow_transform(Transform::Canonicalization(a));
    }
    policy.allow_transform(Transform::EnvelopedSignature)
}
