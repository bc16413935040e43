//! XML-DSig against the independent implementation, both ways, over the c14n corpus
//! (`tests/c14n-corpus/`: namespace prefixes, default namespaces and `xmlns=""`, InclusiveNamespaces,
//! whitespace and CR/LF, comments and PIs, escaping, UTF-8 names and text, `xml:*` attributes):
//! - every element with an `ID` is signed by `sign_enveloped` and the result verified by
//!   `xmlsec1 --verify` (and by us);
//! - xmlsec1 signs a template placed in every such element, and `verify_enveloped_signature` verifies
//!   the result and names that element.
//!
//! Each way runs every signature method (RSA-SHA1/256/384/512, ECDSA-SHA256), exclusive and inclusive
//! c14n, with and without an InclusiveNamespaces PrefixList, with `ds:`, another prefix and the
//! default namespace for the Signature itself.

mod common;

use std::process::Command;
use std::sync::OnceLock;

use common::*;
use snodo_security::c14n::Algorithm;
use snodo_security::dsig::{
    DigestMethod, IdAttribute, SignatureMethod, SignaturePlacement, SignaturePolicy, SigningOptions,
    TrustedKeys, sign_enveloped, signature_children, verify_enveloped_signature,
};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

fn parse(text: &str, what: &str) -> Document {
    parse_str(text, &Limits::default()).unwrap_or_else(|e| panic!("{what}: our parser refused it: {e}"))
}

fn ec() -> &'static TestIdentity {
    static EC: OnceLock<TestIdentity> = OnceLock::new();
    EC.get_or_init(|| ec_identity("Snodo test ECDSA signer"))
}

fn everything() -> SignaturePolicy {
    everything_policy("interop test")
}

#[derive(Debug, Clone, Copy)]
struct Variant {
    method: SignatureMethod,
    digest: DigestMethod,
    c14n: Algorithm,
    prefix_list: Option<&'static str>,
    prefix: Option<&'static str>,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        method: SignatureMethod::RsaSha256,
        digest: DigestMethod::Sha256,
        c14n: Algorithm::Exclusive,
        prefix_list: None,
        prefix: Some("ds"),
    },
    Variant {
        method: SignatureMethod::RsaSha384,
        digest: DigestMethod::Sha384,
        c14n: Algorithm::Exclusive,
        prefix_list: Some("#default xs xsi p q"),
        prefix: Some("ds"),
    },
    Variant {
        method: SignatureMethod::RsaSha512,
        digest: DigestMethod::Sha512,
        c14n: Algorithm::Inclusive,
        prefix_list: None,
        prefix: None,
    },
    Variant {
        method: SignatureMethod::EcdsaSha256,
        digest: DigestMethod::Sha256,
        c14n: Algorithm::Exclusive,
        prefix_list: Some("saml"),
        prefix: Some("dsig"),
    },
    Variant {
        method: SignatureMethod::RsaSha1,
        digest: DigestMethod::Sha1,
        c14n: Algorithm::Exclusive,
        prefix_list: None,
        prefix: Some("ds"),
    },
    Variant {
        method: SignatureMethod::RsaSha256,
        digest: DigestMethod::Sha512,
        c14n: Algorithm::Exclusive,
        prefix_list: None,
        prefix: None,
    },
];

impl Variant {
    fn identity(&self) -> &'static TestIdentity {
        match self.method {
            SignatureMethod::EcdsaSha256 | SignatureMethod::EcdsaSha384 | SignatureMethod::EcdsaSha512 => {
                ec()
            }
            _ => idp(),
        }
    }

    fn options(&self) -> SigningOptions {
        let options = SigningOptions::new(self.method, self.digest, self.c14n, vec![IdAttribute::SAML_ID])
            .with_prefix(self.prefix)
            .expect("valid prefix");
        match self.prefix_list {
            Some(list) => options.with_inclusive_namespaces(list).expect("valid PrefixList"),
            None => options,
        }
    }

    /// An XML-DSig template for xmlsec1 to fill in, with the same choices.
    fn xmlsec1_template(&self, id: &str) -> String {
        let (p, declaration) = match self.prefix {
            Some(prefix) => (format!("{prefix}:"), format!(" xmlns:{prefix}=\"{DSIG}\"")),
            None => (String::new(), format!(" xmlns=\"{DSIG}\"")),
        };
        let inclusive = match (self.prefix_list, self.c14n.is_exclusive()) {
            (Some(list), true) => format!(
                "<ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"{list}\"/>"
            ),
            _ => String::new(),
        };
        let c14n = self.c14n.uri();
        format!(
            "<{p}Signature{declaration}>\n  <{p}SignedInfo>\n    \
             <{p}CanonicalizationMethod Algorithm=\"{c14n}\">{inclusive}</{p}CanonicalizationMethod>\n    \
             <{p}SignatureMethod Algorithm=\"{}\"/>\n    <{p}Reference URI=\"#{id}\">\n      <{p}Transforms>\n        \
             <{p}Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\n        \
             <{p}Transform Algorithm=\"{c14n}\">{inclusive}</{p}Transform>\n      </{p}Transforms>\n      \
             <{p}DigestMethod Algorithm=\"{}\"/>\n      <{p}DigestValue/>\n    </{p}Reference>\n  </{p}SignedInfo>\n  \
             <{p}SignatureValue/>\n  <{p}KeyInfo><{p}X509Data/></{p}KeyInfo>\n</{p}Signature>",
            self.method.uri(),
            self.digest.uri()
        )
    }
}

/// Every element carrying an `ID`, with its ID.
fn id_elements(doc: &Document) -> Vec<(NodeId, String)> {
    elements(doc)
        .into_iter()
        .filter_map(|e| {
            let id = doc.element(e)?.attribute(None, "ID")?;
            Some((e, id.to_owned()))
        })
        .collect()
}

/// `--id-attr:ID` arguments for every element name carrying an `ID` in `doc`.
fn id_attr_args(doc: &Document) -> Vec<String> {
    let mut names: Vec<String> = id_elements(doc)
        .into_iter()
        .map(|(e, _)| {
            let n = doc.element(e).expect("element").name();
            match n.namespace() {
                Some(ns) => format!("{ns}:{}", n.local_name()),
                None => n.local_name().to_owned(),
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .flat_map(|n| ["--id-attr:ID".to_owned(), n])
        .collect()
}

#[test]
fn documents_we_sign_verify_with_xmlsec1() {
    let xmlsec1 = xmlsec1();
    let dir = TempDir::new("dsig-we-sign");
    let (_, rsa_cert) = idp().write_pem(dir.path(), "rsa");
    let (_, ec_cert) = ec().write_pem(dir.path(), "ec");
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, text) in corpus() {
        let doc = parse(&text, &name);
        for (i, (target, id)) in id_elements(&doc).into_iter().enumerate() {
            for (j, variant) in VARIANTS.iter().enumerate() {
                let placement = match (i + j) % 3 {
                    0 => SignaturePlacement::FirstChild,
                    1 => SignaturePlacement::LastChild,
                    _ => doc
                        .child_elements(target)
                        .next()
                        .map_or(SignaturePlacement::LastChild, SignaturePlacement::After),
                };
                let signed = sign_enveloped(
                    &doc,
                    target,
                    placement,
                    &variant.options(),
                    &variant.identity().signing_key(),
                )
                .unwrap_or_else(|e| panic!("{name} #{id} {variant:?}: {e}"));

                // Ours first: the round trip.
                let sdoc = parse(&signed, "our signed output");
                let starget = element_by_id(&sdoc, &id);
                let signature = signature_children(&sdoc, starget)[0];
                let verified = verify_enveloped_signature(
                    &sdoc,
                    signature,
                    &everything(),
                    &variant.identity().trusted(),
                )
                .unwrap_or_else(|e| panic!("{name} #{id} {variant:?}: we refuse our own signature: {e}"));
                assert_eq!(verified.signed_element(), starget);

                let path = dir.path().join(format!("signed-{checked}-{name}"));
                std::fs::write(&path, &signed).expect("write");
                let cert = if variant.method == SignatureMethod::EcdsaSha256 {
                    &ec_cert
                } else {
                    &rsa_cert
                };
                let output = Command::new(&xmlsec1)
                    .arg("--verify")
                    .arg("--pubkey-cert-pem")
                    .arg(cert)
                    .arg("--trusted-pem")
                    .arg(cert)
                    .args(id_attr_args(&sdoc))
                    .arg("--node-xpath")
                    .arg(format!("//*[@ID='{id}']/*[local-name()='Signature']"))
                    .arg(&path)
                    .output()
                    .expect("xmlsec1 runs");
                checked += 1;
                if !output.status.success() {
                    failures.push(format!(
                        "{name} #{id} {variant:?}: xmlsec1 refuses it:\n{}\n{signed}",
                        String::from_utf8_lossy(&output.stderr)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 60, "only {checked} signatures were checked");
}

/// The byte offset just after the start tag of the element at `offset`, or `None` for an empty
/// element (`<a/>`), which has no content to put a template into.
fn after_start_tag(text: &str, offset: usize) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text[offset..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => {
                return (!text[..offset + i].ends_with('/')).then_some(offset + i + 1);
            }
            _ => {}
        }
    }
    None
}

#[test]
fn documents_xmlsec1_signs_verify_with_ours() {
    let xmlsec1 = xmlsec1();
    let dir = TempDir::new("dsig-xmlsec1-signs");
    let (rsa_key, rsa_cert) = idp().write_pem(dir.path(), "rsa");
    let (ec_key, ec_cert) = ec().write_pem(dir.path(), "ec");
    let mut checked = 0;
    for (name, text) in corpus() {
        let doc = parse(&text, &name);
        // Offsets are into the text after a byte order mark, if any.
        let body = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
        for (target, id) in id_elements(&doc) {
            let element = doc.element(target).expect("element");
            let Some(at) = after_start_tag(body, element.offset()) else {
                continue;
            };
            for variant in VARIANTS {
                let template = format!("{}{}{}", &body[..at], variant.xmlsec1_template(&id), &body[at..]);
                let template_path = dir.path().join(format!("template-{checked}-{name}"));
                let signed_path = dir.path().join(format!("signed-{checked}-{name}"));
                std::fs::write(&template_path, &template).expect("write template");
                let (key, cert) = if variant.method == SignatureMethod::EcdsaSha256 {
                    (&ec_key, &ec_cert)
                } else {
                    (&rsa_key, &rsa_cert)
                };
                run(
                    Command::new(&xmlsec1)
                        .arg("--sign")
                        .arg("--privkey-pem")
                        .arg(format!("{},{}", key.display(), cert.display()))
                        .args(id_attr_args(&doc))
                        .arg("--node-xpath")
                        .arg(format!("//*[@ID='{id}']/*[local-name()='Signature']"))
                        .arg("--output")
                        .arg(&signed_path)
                        .arg(&template_path),
                    &format!("xmlsec1 --sign {name} #{id} {variant:?}"),
                );
                let signed_text = std::fs::read_to_string(&signed_path).expect("xmlsec1 wrote it");
                let signed = parse(&signed_text, "xmlsec1's output");
                let starget = element_by_id(&signed, &id);
                let signature = signature_children(&signed, starget)[0];
                let verified = verify_enveloped_signature(
                    &signed,
                    signature,
                    &everything(),
                    &variant.identity().trusted(),
                )
                .unwrap_or_else(|e| {
                    panic!("{name} #{id} {variant:?}: we refuse xmlsec1's signature: {e}\n{signed_text}")
                });
                assert_eq!(verified.signed_element(), starget, "{name} #{id}");
                assert_eq!(verified.signature_method(), variant.method);
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "only {checked} signatures were checked");
}

#[test]
fn spid_policy_signatures_verify_with_xmlsec1_and_keyinfo_selects_the_trusted_key() {
    // The preset's own signing options (RSA-SHA256, SHA-256, exclusive c14n) on a SAML-shaped Response,
    // verified by a key set holding two certificates: KeyInfo's X509Certificate selects the right one.
    let xmlsec1 = xmlsec1();
    let dir = TempDir::new("dsig-spid-preset");
    let (_, cert) = idp().write_pem(dir.path(), "idp");
    let text = std::fs::read_to_string(corpus_dir().join("inclusive-namespaces.xml")).expect("corpus");
    let doc = parse(&text, "inclusive-namespaces.xml");
    let assertion = element_by_id(&doc, "a1");
    let policy = SignaturePolicy::spid();
    let options = policy.signing_options().expect("SPID allows signing");
    let signed = sign_enveloped(
        &doc,
        assertion,
        SignaturePlacement::FirstChild,
        &options,
        &idp().signing_key(),
    )
    .expect("signs");
    let path = dir.path().join("signed.xml");
    std::fs::write(&path, &signed).expect("write");
    run(
        Command::new(&xmlsec1)
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(&cert)
            .arg("--trusted-pem")
            .arg(&cert)
            .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
            .arg(&path),
        "xmlsec1 --verify of an SPID-policy signature",
    );
    let sdoc = parse(&signed, "signed");
    let keys = TrustedKeys::from_certificates([attacker().certificate.clone(), idp().certificate.clone()])
        .expect("usable");
    let signature = signature_children(&sdoc, element_by_id(&sdoc, "a1"))[0];
    let verified = verify_enveloped_signature(&sdoc, signature, &policy, &keys).expect("verifies");
    assert_eq!(
        verified.trusted_key(),
        1,
        "KeyInfo selected the IdP's certificate"
    );
}
