//! `snodo xml c14n|sign|verify` end to end, as an integrator runs them: the built binary on the SPID
//! fixture Responses (good, signed by another key, wrapped), on a document `xmlsec1` signed, and with
//! the independent tools as judges of what it prints: `xmlsec1 --verify` of what `sign` wrote,
//! `xmllint --exc-c14n` against `c14n`, `openssl x509 -fingerprint` against the fingerprint `verify`
//! names. The tools are required (scripts/test installs them); a missing one fails with how to
//! install it, never a skip.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Output, snodo};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/spid/fixtures");
    assert!(
        dir.is_dir(),
        "SPID fixtures not found at {}: shared/ must sit beside the repository",
        dir.display()
    );
    dir
}

fn response(n: &str) -> PathBuf {
    fixtures().join(format!("responses/response-{n}.xml"))
}

fn fixture_cert() -> PathBuf {
    fixtures().join("fixture-idp-cert.pem")
}

fn tool(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed; it judges these tests. `apt-get install -y {package}` (scripts/test does).")
        })
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh directory for one test's files.
fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snodo-cli-xml-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// An RSA-2048 key and self-signed certificate made by the openssl CLI: (key.pem, cert.pem).
fn openssl_identity(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key.pem"));
    let cert = dir.join(format!("{name}.cert.pem"));
    let status = Command::new(tool("openssl", "openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-subj",
            &format!("/C=IT/O=Snodo test, not a real party/CN={name}"),
        ])
        .output()
        .expect("run openssl req");
    assert!(
        status.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    (key, cert)
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn verify_names_each_signed_element_certificate_and_algorithms_of_a_good_spid_response() {
    let out = snodo(&[
        "xml",
        "verify",
        arg(&response("1")),
        "--trusted",
        arg(&fixture_cert()),
    ])
    .run();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", out.stderr_text());
    assert!(
        text.contains("signature 1 of 2 at /samlp:Response/ds:Signature: verified (enveloped)"),
        "{text}"
    );
    assert!(
        text.contains(
            "signed element: <samlp:Response> ID \"_ehehgfcc-hekb-oftv-djzf-rtruktrximot\" at /samlp:Response"
        ),
        "{text}"
    );
    assert!(
        text.contains("signed element: <saml:Assertion> ID \"_ssdqlroa-xxij-fnbm-tkfj-pdeqmukvvmfg\" at /samlp:Response/saml:Assertion"),
        "{text}"
    );
    assert!(
        text.contains("algorithms: RSA-SHA256, canonicalization exclusive"),
        "{text}"
    );
    assert!(
        text.contains("2 of 2 signatures verified under the SPID policy"),
        "{text}"
    );

    // The certificate as the openssl CLI describes it.
    let x509 = Command::new(tool("openssl", "openssl"))
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-serial", "-in"])
        .arg(fixture_cert())
        .output()
        .expect("run openssl x509");
    let described = String::from_utf8_lossy(&x509.stdout);
    let fingerprint = described
        .lines()
        .find_map(|l| l.split_once("Fingerprint=").map(|(_, f)| f.trim().to_owned()))
        .expect("openssl prints a fingerprint");
    let serial = described
        .lines()
        .find_map(|l| l.strip_prefix("serial=").map(str::trim))
        .expect("openssl prints a serial");
    assert!(
        text.contains(&format!("SHA-256 fingerprint {fingerprint}")),
        "{fingerprint} not in\n{text}"
    );
    assert!(
        text.contains(&format!("serial 0x{serial}")),
        "{serial} not in\n{text}"
    );
    assert!(
        text.contains("subject C=IT, O=Fixture SPID Test IdP, CN=localhost"),
        "{text}"
    );
}

#[test]
fn verify_fails_with_the_verifiers_reason_when_another_key_signed() {
    // Case 4: signed by a key other than the IdP's, KeyInfo empty.
    let out = snodo(&[
        "xml",
        "verify",
        arg(&response("4")),
        "--trusted",
        arg(&fixture_cert()),
    ])
    .run();
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "FAILED: SignatureValue does not verify (RSA-SHA256) with any trusted key it may select"
        ),
        "{text}"
    );
    assert!(text.contains("0 of 2 signatures verified"), "{text}");

    // Case 5: the other key's certificate in KeyInfo selects no trusted key.
    let out = snodo(&[
        "xml",
        "verify",
        arg(&response("5")),
        "--trusted",
        arg(&fixture_cert()),
    ])
    .run();
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("does not match any trusted certificate"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_shows_where_a_wrapped_assertion_really_is() {
    // XSW: the signed Assertion moved into samlp:Extensions, an unsigned altered copy in its place.
    let original = std::fs::read_to_string(response("1")).expect("fixture");
    let start = original.find("<saml:Assertion").expect("an Assertion");
    let end = original.find("</saml:Assertion>").expect("its end") + "</saml:Assertion>".len();
    let assertion = &original[start..end];
    let signature_start = assertion.find("<ds:Signature").expect("signed");
    let signature_end = assertion.find("</ds:Signature>").expect("signed") + "</ds:Signature>".len();
    let evil = format!("{}{}", &assertion[..signature_start], &assertion[signature_end..])
        .replace("ID=\"_ssdqlroa-xxij-fnbm-tkfj-pdeqmukvvmfg\"", "ID=\"_evil\"");
    let wrapped = format!(
        "{}<samlp:Extensions>{assertion}</samlp:Extensions>{evil}{}",
        &original[..start],
        &original[end..]
    );
    let dir = temp_dir();
    let path = dir.join("wrapped.xml");
    std::fs::write(&path, wrapped).expect("write");

    let out = snodo(&["xml", "verify", arg(&path), "--trusted", arg(&fixture_cert())]).run();
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("signature 1 of 2 at /samlp:Response/ds:Signature: FAILED: digest of Reference #_ehehgfcc-hekb-oftv-djzf-rtruktrximot does not match"),
        "{text}"
    );
    assert!(
        text.contains("signed element: <saml:Assertion> ID \"_ssdqlroa-xxij-fnbm-tkfj-pdeqmukvvmfg\" at /samlp:Response/samlp:Extensions/saml:Assertion"),
        "the verified Assertion is the one in Extensions: {text}"
    );
    assert!(text.contains("1 of 2 signatures verified"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn verify_accepts_a_document_signed_by_xmlsec1_and_explicit_allowlists_decide() {
    let dir = temp_dir();
    let (key, cert) = openssl_identity(&dir, "xmlsec1 signer");
    let template = format!(
        r##"<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_r1" Version="2.0" IssueInstant="2026-12-01T10:00:00Z"><saml:Issuer>https://idp.example.it</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_r1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>"##
    );
    let template_path = dir.join("template.xml");
    let signed = dir.join("signed.xml");
    std::fs::write(&template_path, template).expect("write");
    let out = Command::new(tool("xmlsec1", "xmlsec1"))
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .args(["--id-attr:ID", &format!("{SAMLP}:Response"), "--output"])
        .arg(&signed)
        .arg(&template_path)
        .output()
        .expect("run xmlsec1");
    assert!(
        out.status.success(),
        "xmlsec1 --sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = snodo(&["xml", "verify", arg(&signed), "--trusted", arg(&cert)]).run();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("signed element: <samlp:Response> ID \"_r1\" at /samlp:Response (digest SHA-256)"),
        "{text}"
    );
    assert!(text.contains("CN=xmlsec1 signer"), "{text}");

    let out = snodo(&[
        "xml",
        "verify",
        arg(&signed),
        "--trusted",
        arg(&cert),
        "--policy",
        "rsa-sha256,sha256,exc",
    ])
    .run();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("under the command-line policy"),
        "{}",
        stdout(&out)
    );

    let out = snodo(&[
        "xml",
        "verify",
        arg(&signed),
        "--trusted",
        arg(&cert),
        "--policy",
        "rsa-sha512,sha512,exc",
    ])
    .run();
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains(
            "SignatureMethod algorithm http://www.w3.org/2001/04/xmldsig-more#rsa-sha256 is not allowed by the command-line signature policy"
        ),
        "{}",
        stdout(&out)
    );

    // Another trusted certificate: nothing verifies.
    let (_, other) = openssl_identity(&dir, "someone else");
    let out = snodo(&["xml", "verify", arg(&signed), "--trusted", arg(&other)]).run();
    assert!(!out.status.success(), "{}", stdout(&out));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sign_writes_signatures_xmlsec1_verifies_for_both_policies() {
    let dir = temp_dir();
    let (key, cert) = openssl_identity(&dir, "snodo signer");
    // SPID: the unsigned fixture Response, its Assertion signed (after its Issuer).
    let assertion_id = std::fs::read_to_string(response("2"))
        .expect("fixture")
        .split("<saml:Assertion")
        .nth(1)
        .and_then(|rest| rest.split(" ID=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("the fixture's Assertion ID")
        .to_owned();
    let spid_out = dir.join("spid-signed.xml");
    let out = snodo(&[
        "xml",
        "sign",
        arg(&response("2")),
        "--key",
        arg(&key),
        "--cert",
        arg(&cert),
        "--id",
        &assertion_id,
        "--output",
        arg(&spid_out),
    ])
    .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let xmlsec1 = tool("xmlsec1", "xmlsec1");
    let verdict = Command::new(&xmlsec1)
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(&cert)
        .args(["--id-attr:ID", &format!("{SAML}:Assertion")])
        .arg(&spid_out)
        .output()
        .expect("run xmlsec1");
    assert!(
        verdict.status.success(),
        "xmlsec1 refuses our signature: {}",
        String::from_utf8_lossy(&verdict.stderr)
    );
    let out = snodo(&["xml", "verify", arg(&spid_out), "--trusted", arg(&cert)]).run();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(
            "ID \"{assertion_id}\" at /samlp:Response/saml:Assertion"
        )),
        "{}",
        stdout(&out)
    );

    // ANPR: a SOAP Body signed with RSA-SHA1 under the ANPR policy, by its wsu:Id.
    let wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    let soap = "http://schemas.xmlsoap.org/soap/envelope/";
    let request = dir.join("request.xml");
    std::fs::write(
        &request,
        format!(
            r#"<soapenv:Envelope xmlns:soapenv="{soap}" xmlns:wsu="{wsu}"><soapenv:Header/><soapenv:Body wsu:Id="B-1"><ns2:Richiesta3002 xmlns:ns2="http://sogei.it/ANPR/3000consultazione"><testataRichiesta><idOperazioneComune>1</idOperazioneComune></testataRichiesta></ns2:Richiesta3002></soapenv:Body></soapenv:Envelope>"#
        ),
    )
    .expect("write");
    let out = snodo(&[
        "xml",
        "sign",
        arg(&request),
        "--key",
        arg(&key),
        "--cert",
        arg(&cert),
        "--id",
        "B-1",
        "--policy",
        "anpr",
    ])
    .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let anpr_out = dir.join("anpr-signed.xml");
    std::fs::write(&anpr_out, &out.stdout).expect("write");
    let text = stdout(&out);
    assert!(
        text.contains("http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
        "{text}"
    );
    let verdict = Command::new(&xmlsec1)
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(&cert)
        .args(["--id-attr:Id", &format!("{soap}:Body")])
        .arg(&anpr_out)
        .output()
        .expect("run xmlsec1");
    assert!(
        verdict.status.success(),
        "xmlsec1 refuses our signature: {}",
        String::from_utf8_lossy(&verdict.stderr)
    );
    let out = snodo(&[
        "xml",
        "verify",
        arg(&anpr_out),
        "--trusted",
        arg(&cert),
        "--policy",
        "anpr",
    ])
    .run();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("<soapenv:Body> ID \"B-1\" at /soapenv:Envelope/soapenv:Body (digest SHA-1)"),
        "{}",
        stdout(&out)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn c14n_prints_what_xmllint_prints_and_the_bytes_an_enveloped_reference_digests() {
    let xmllint = tool("xmllint", "libxml2-utils");
    for (algorithm, flag) in [("exc-comments", "--exc-c14n"), ("inc-comments", "--c14n")] {
        let ours = snodo(&["xml", "c14n", arg(&response("1")), "--algorithm", algorithm]).run();
        assert!(ours.status.success(), "{}", ours.stderr_text());
        let theirs = Command::new(&xmllint)
            .arg(flag)
            .arg(response("1"))
            .output()
            .expect("run xmllint");
        assert!(theirs.status.success());
        assert!(
            ours.stdout == theirs.stdout,
            "{algorithm} differs from xmllint {flag}"
        );
    }

    // The Assertion without its Signature, exclusive c14n: SHA-256 of it is the DigestValue the
    // fixture's Assertion signature carries.
    let ours = snodo(&[
        "xml",
        "c14n",
        arg(&response("1")),
        "--element",
        "_ssdqlroa-xxij-fnbm-tkfj-pdeqmukvvmfg",
        "--enveloped",
    ])
    .run();
    assert!(ours.status.success(), "{}", ours.stderr_text());
    let digest = openssl_base64_sha256(&ours.stdout);
    let fixture = std::fs::read_to_string(response("1")).expect("fixture");
    let assertion = &fixture[fixture.find("<saml:Assertion").expect("Assertion")..];
    let digest_value = assertion
        .split("<ds:DigestValue>")
        .nth(1)
        .and_then(|rest| rest.split("</ds:DigestValue>").next())
        .expect("the Assertion's DigestValue");
    assert_eq!(digest, digest_value.trim());

    let out = snodo(&[
        "xml",
        "c14n",
        arg(&response("1")),
        "--algorithm",
        "inc",
        "--prefix-list",
        "ds",
    ])
    .run();
    assert!(!out.status.success());
    assert!(
        out.stderr_text()
            .contains("--prefix-list applies only to the exclusive algorithms"),
        "{}",
        out.stderr_text()
    );
    let out = snodo(&["xml", "c14n", arg(&response("1")), "--element", "_nobody"]).run();
    assert!(!out.status.success());
    assert!(
        out.stderr_text().contains("no element has the ID \"_nobody\""),
        "{}",
        out.stderr_text()
    );
}

/// SHA-256 in base64 by the openssl CLI: the digest is computed by another implementation too.
fn openssl_base64_sha256(bytes: &[u8]) -> String {
    let dir = temp_dir();
    let path = dir.join("bytes");
    std::fs::write(&path, bytes).expect("write");
    let digest = Command::new(tool("openssl", "openssl"))
        .args(["dgst", "-sha256", "-binary"])
        .arg(&path)
        .output()
        .expect("run openssl dgst");
    let _ = std::fs::remove_dir_all(dir);
    openssl::base64::encode_block(&digest.stdout)
}

#[test]
fn verify_refuses_documents_without_signatures_and_hostile_input() {
    let out = snodo(&[
        "xml",
        "verify",
        arg(&response("2")),
        "--trusted",
        arg(&fixture_cert()),
    ])
    .run();
    assert!(!out.status.success());
    assert!(stdout(&out).contains("no ds:Signature in"), "{}", stdout(&out));

    let dir = temp_dir();
    let path = dir.join("xxe.xml");
    std::fs::write(
        &path,
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
    )
    .expect("write");
    let out = snodo(&["xml", "verify", arg(&path), "--trusted", arg(&fixture_cert())]).run();
    assert!(!out.status.success());
    assert!(
        out.stderr_text().contains("is not accepted as XML"),
        "{}",
        out.stderr_text()
    );
    let _ = std::fs::remove_dir_all(dir);
}
