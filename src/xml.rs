//! `snodo xml c14n|sign|verify`: the security crate's canonicalization and XML-DSig from the command
//! line, for integrators debugging a signature that a platform or Snodo refuses.
//!
//! `verify` answers what a bare "valid/invalid" hides: for each `ds:Signature`, which element it
//! covers (name, ID, path, so a wrapped copy shows where it sits), which trusted certificate verified
//! it and with which algorithms, or the verifier's exact reason for refusing it. `c14n` prints the
//! bytes a digest is computed over, to compare with another implementation's. The work is the
//! library's (`snodo_security`); this module reads files and arguments and prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use openssl::hash::MessageDigest;
use openssl::x509::{X509, X509NameRef};
use snodo_security::c14n::{Algorithm, Canonicalization, InclusivePrefixes};
use snodo_security::dsig::{
    DSIG_NAMESPACE, DigestMethod, IdAttribute, IdIndex, SignatureError, SignatureMethod, SignaturePlacement,
    SignaturePolicy, SigningKey, Transform, TrustedKeys, VerifiedSignature, sign_enveloped,
    verify_detached_signature, verify_enveloped_signature,
};
use snodo_security::xml::{Document, Limits, NodeId, parse};

/// SAML 2.0 assertion namespace: a signature on a SAML element goes right after its Issuer.
const SAML_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// Every ID attribute the crate knows; `c14n --element` and explicit `verify` policies look IDs up in
/// all of them (SAML `ID`, `Id`, WS-Security `wsu:Id`).
const ALL_ID_ATTRIBUTES: [IdAttribute; 3] = [IdAttribute::SAML_ID, IdAttribute::ID, IdAttribute::WSU_ID];

#[derive(clap::Args)]
pub struct XmlArgs {
    #[command(subcommand)]
    command: XmlCommand,
}

#[derive(clap::Subcommand)]
enum XmlCommand {
    /// Print the canonical form of a document, or of the element with an ID.
    C14n(C14nArgs),
    /// Sign a document (or the element with an ID) with an enveloped signature; prints the result.
    Sign(SignArgs),
    /// Verify every ds:Signature: what each covers, with which key and algorithms, or why it fails.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
struct C14nArgs {
    /// The XML document (`-` for standard input).
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Exc)]
    algorithm: AlgorithmArg,
    /// InclusiveNamespaces PrefixList (exclusive algorithms only), e.g. "ds saml #default".
    #[arg(long)]
    prefix_list: Option<String>,
    /// Canonicalize only the element with this ID (attribute ID, Id or wsu:Id).
    #[arg(long)]
    element: Option<String>,
    /// Leave out the element's ds:Signature children, as the enveloped-signature transform does:
    /// the bytes an enveloped Reference's digest is computed over.
    #[arg(long, requires = "element")]
    enveloped: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AlgorithmArg {
    /// Exclusive XML Canonicalization 1.0 (SAML, WS-Security).
    Exc,
    ExcComments,
    /// Canonical XML 1.0.
    Inc,
    IncComments,
}

impl AlgorithmArg {
    fn algorithm(self) -> Algorithm {
        match self {
            AlgorithmArg::Exc => Algorithm::Exclusive,
            AlgorithmArg::ExcComments => Algorithm::ExclusiveWithComments,
            AlgorithmArg::Inc => Algorithm::Inclusive,
            AlgorithmArg::IncComments => Algorithm::InclusiveWithComments,
        }
    }
}

#[derive(clap::Args)]
struct SignArgs {
    /// The XML document (`-` for standard input).
    file: PathBuf,
    /// Private key, PEM (PKCS#8 or traditional).
    #[arg(long)]
    key: PathBuf,
    /// Its certificate, PEM; written into KeyInfo.
    #[arg(long)]
    cert: PathBuf,
    /// Sign the element with this ID; without it, the document element.
    #[arg(long)]
    id: Option<String>,
    /// The algorithms: SPID (RSA-SHA256, SHA-256, exclusive c14n) or ANPR (RSA-SHA1, SHA-1).
    #[arg(long, value_enum, default_value_t = PresetArg::Spid)]
    policy: PresetArg,
    /// Write the signed document here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PresetArg {
    Spid,
    Anpr,
}

impl PresetArg {
    fn policy(self) -> SignaturePolicy {
        match self {
            PresetArg::Spid => SignaturePolicy::spid(),
            PresetArg::Anpr => SignaturePolicy::anpr_ws_security(),
        }
    }
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The XML document (`-` for standard input).
    file: PathBuf,
    /// Trusted certificates, PEM (one or more per file); KeyInfo may select among them, never add.
    #[arg(long, required = true, num_args = 1..)]
    trusted: Vec<PathBuf>,
    /// `spid`, `anpr`, or an explicit allowlist: comma-separated signature methods (rsa-sha1,
    /// rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512), digests (sha1,
    /// sha256, sha384, sha512) and canonicalizations (exc, exc-comments, inc, inc-comments), or
    /// their URIs.
    #[arg(long, default_value = "spid")]
    policy: String,
    /// Smallest RSA key accepted, in bits.
    #[arg(long)]
    min_rsa_bits: Option<u32>,
}

pub fn run(args: XmlArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        XmlCommand::C14n(a) => c14n(a),
        XmlCommand::Sign(a) => sign(a),
        XmlCommand::Verify(a) => verify(a),
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).context("reading standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_document(path: &Path) -> anyhow::Result<Document> {
    let bytes = read_input(path)?;
    parse(&bytes, &Limits::default()).with_context(|| format!("{} is not accepted as XML", path.display()))
}

/// The element whose ID (any of `attributes`) is `id`; IDs must be unique, as for verification.
fn element_by_id(doc: &Document, attributes: &[IdAttribute], id: &str) -> anyhow::Result<NodeId> {
    let index = IdIndex::build(doc, attributes)?;
    index.get(id).with_context(|| {
        let names: Vec<String> = attributes.iter().map(|a| attribute_name(*a)).collect();
        format!(
            "no element has the ID {id:?} (looked in attributes {})",
            names.join(", ")
        )
    })
}

fn attribute_name(attribute: IdAttribute) -> String {
    match attribute.namespace() {
        Some(_) => format!("wsu:{}", attribute.local_name()),
        None => attribute.local_name().to_owned(),
    }
}

fn c14n(args: C14nArgs) -> anyhow::Result<ExitCode> {
    let doc = read_document(&args.file)?;
    let algorithm = args.algorithm.algorithm();
    let mut method = Canonicalization::new(algorithm);
    if let Some(list) = &args.prefix_list {
        if !algorithm.is_exclusive() {
            bail!("--prefix-list applies only to the exclusive algorithms (exc, exc-comments)");
        }
        method = method.with_inclusive_prefixes(InclusivePrefixes::parse(list)?);
    }
    let bytes = match &args.element {
        Some(id) => {
            let element = element_by_id(&doc, &ALL_ID_ATTRIBUTES, id)?;
            let excluded = if args.enveloped {
                snodo_security::dsig::signature_children(&doc, element)
            } else {
                Vec::new()
            };
            method.subtree(&doc, element, &excluded)?
        }
        None => method.document(&doc, &[])?,
    };
    std::io::stdout()
        .write_all(&bytes)
        .context("writing standard output")?;
    Ok(ExitCode::SUCCESS)
}

fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let doc = read_document(&args.file)?;
    let key_pem = std::fs::read(&args.key).with_context(|| format!("cannot read {}", args.key.display()))?;
    let cert_pem =
        std::fs::read(&args.cert).with_context(|| format!("cannot read {}", args.cert.display()))?;
    let key = SigningKey::from_pem(&key_pem, Some(&cert_pem))?;
    let policy = args.policy.policy();
    let options = policy
        .signing_options()
        .context("the policy allows no signature method")?;
    let target = match &args.id {
        Some(id) => element_by_id(&doc, policy.id_attributes(), id)?,
        None => doc.document_element(),
    };
    // SAML's schema puts the Signature right after the Issuer; elsewhere (a SOAP Body) it goes last.
    let issuer = doc.child_elements(target).find(|&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(SAML_ASSERTION), "Issuer"))
    });
    let placement = issuer.map_or(SignaturePlacement::LastChild, SignaturePlacement::After);
    let signed = sign_enveloped(&doc, target, placement, &options, &key)?;
    match &args.output {
        Some(path) => std::fs::write(path, signed.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(signed.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .context("writing standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let doc = read_document(&args.file)?;
    let mut policy = policy_from_arg(&args.policy)?;
    if let Some(bits) = args.min_rsa_bits {
        policy = policy.with_min_rsa_bits(bits);
    }
    let mut certificates = Vec::new();
    for path in &args.trusted {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let found = X509::stack_from_pem(&pem)
            .with_context(|| format!("{} does not hold PEM certificates", path.display()))?;
        if found.is_empty() {
            bail!("{} holds no certificate", path.display());
        }
        certificates.extend(found);
    }
    let keys = TrustedKeys::from_certificates(certificates)?;

    let signatures: Vec<NodeId> = descendants(&doc)
        .filter(|&n| {
            doc.element(n)
                .is_some_and(|e| e.name().is(Some(DSIG_NAMESPACE), "Signature"))
        })
        .collect();
    if signatures.is_empty() {
        println!("no ds:Signature in {}", args.file.display());
        return Ok(ExitCode::FAILURE);
    }
    let mut out = std::io::stdout().lock();
    let mut verified_count = 0;
    for (i, &signature) in signatures.iter().enumerate() {
        write!(
            out,
            "signature {} of {} at {}: ",
            i + 1,
            signatures.len(),
            path_of(&doc, signature)
        )?;
        match verify_either_layout(&doc, signature, &policy, &keys) {
            Ok((layout, verified)) => {
                verified_count += 1;
                writeln!(out, "verified ({layout})")?;
                report(&mut out, &doc, &verified, &keys)?;
            }
            Err(e) => writeln!(out, "FAILED: {e}")?,
        }
    }
    writeln!(
        out,
        "{verified_count} of {} signatures verified under the {} policy",
        signatures.len(),
        policy.name()
    )?;
    Ok(if verified_count == signatures.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Enveloped first (SAML); a signature whose References name other elements, or several, is tried
/// as detached (WS-Security). The error shown is the one of the layout the signature was meant for.
fn verify_either_layout(
    doc: &Document,
    signature: NodeId,
    policy: &SignaturePolicy,
    keys: &TrustedKeys,
) -> Result<(&'static str, VerifiedSignature), SignatureError> {
    match verify_enveloped_signature(doc, signature, policy, keys) {
        Ok(v) => Ok(("enveloped", v)),
        Err(enveloped @ (SignatureError::NotEnveloped { .. } | SignatureError::ReferenceCount { .. })) => {
            match verify_detached_signature(doc, signature, policy, keys) {
                Ok(v) => Ok(("detached", v)),
                Err(SignatureError::NotDetached { .. }) => Err(enveloped),
                Err(detached) => Err(detached),
            }
        }
        Err(e) => Err(e),
    }
}

fn report(
    out: &mut impl Write,
    doc: &Document,
    verified: &VerifiedSignature,
    keys: &TrustedKeys,
) -> anyhow::Result<()> {
    for reference in verified.references() {
        let element = doc
            .element(reference.element())
            .expect("a Reference resolves to an element");
        writeln!(
            out,
            "  signed element: <{}> ID {:?} at {} (digest {})",
            element.name().qualified(),
            reference.id(),
            path_of(doc, reference.element()),
            reference.digest_method().name()
        )?;
    }
    let certificate = keys
        .get(verified.trusted_key())
        .expect("the verifying key is one of the trusted keys")
        .certificate();
    writeln!(
        out,
        "  certificate: subject {}",
        name_text(certificate.subject_name())
    )?;
    let serial = certificate
        .serial_number()
        .to_bn()
        .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
        .unwrap_or_else(|_| "(unreadable)".to_owned());
    let fingerprint = certificate
        .digest(MessageDigest::sha256())
        .map(|d| d.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
        .unwrap_or_else(|_| "(unavailable)".to_owned());
    writeln!(
        out,
        "  certificate: serial 0x{serial}, SHA-256 fingerprint {fingerprint}"
    )?;
    writeln!(
        out,
        "  algorithms: {}, canonicalization {}",
        verified.signature_method().name(),
        canonicalization_of(doc, verified.signature())
    )?;
    Ok(())
}

/// The CanonicalizationMethod of a verified signature's SignedInfo, by name (the verifier checked it
/// against the policy; this only reads it back for display).
fn canonicalization_of(doc: &Document, signature: NodeId) -> String {
    let method = doc
        .child_elements(signature)
        .next()
        .and_then(|signed_info| doc.child_elements(signed_info).next())
        .and_then(|m| doc.element(m))
        .and_then(|m| m.attribute(None, "Algorithm"));
    match method.and_then(Algorithm::from_uri) {
        Some(Algorithm::Exclusive) => "exclusive".to_owned(),
        Some(Algorithm::ExclusiveWithComments) => "exclusive with comments".to_owned(),
        Some(Algorithm::Inclusive) => "inclusive".to_owned(),
        Some(Algorithm::InclusiveWithComments) => "inclusive with comments".to_owned(),
        None => method.unwrap_or("(none)").to_owned(),
    }
}

fn name_text(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let kind = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_else(|_| "(unreadable)".to_owned());
            format!("{kind}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every node in document order, without recursion.
fn descendants(doc: &Document) -> impl Iterator<Item = NodeId> + '_ {
    let mut stack = vec![doc.root()];
    std::iter::from_fn(move || {
        let node = stack.pop()?;
        let first = stack.len();
        stack.extend(doc.children(node));
        stack[first..].reverse();
        Some(node)
    })
}

/// `/samlp:Response/saml:Assertion[2]/ds:Signature`: the element's names from the document element
/// down, with a position where siblings share the name. Wrapping attacks move a signed element;
/// its path shows where the verified copy sits.
fn path_of(doc: &Document, node: NodeId) -> String {
    let mut steps = Vec::new();
    let mut current = Some(node);
    while let Some(n) = current {
        let Some(element) = doc.element(n) else {
            break;
        };
        let name = element.name();
        let parent = doc.parent(n);
        let same_name: Vec<NodeId> = parent
            .map(|p| {
                doc.child_elements(p)
                    .filter(|&s| {
                        doc.element(s)
                            .is_some_and(|e| e.name().qualified() == name.qualified())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let step = match same_name.iter().position(|&s| s == n) {
            Some(i) if same_name.len() > 1 => format!("{}[{}]", name.qualified(), i + 1),
            _ => name.qualified(),
        };
        steps.push(step);
        current = parent;
    }
    steps.reverse();
    format!("/{}", steps.join("/"))
}

/// `spid`, `anpr`, or a comma-separated allowlist (see `VerifyArgs::policy`).
fn policy_from_arg(arg: &str) -> anyhow::Result<SignaturePolicy> {
    match arg {
        "spid" => return Ok(SignaturePolicy::spid()),
        "anpr" => return Ok(SignaturePolicy::anpr_ws_security()),
        _ => {}
    }
    let mut policy = SignaturePolicy::new("command-line")
        .allow_transform(Transform::EnvelopedSignature)
        .with_max_references(8);
    for attribute in ALL_ID_ATTRIBUTES {
        policy = policy.with_id_attribute(attribute);
    }
    for token in arg.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if let Some(method) = signature_method(token) {
            policy = policy.allow_signature_method(method);
        } else if let Some(digest) = digest_method(token) {
            policy = policy.allow_digest_method(digest);
        } else if let Some(algorithm) = canonicalization(token) {
            policy = policy
                .allow_canonicalization(algorithm)
                .allow_transform(Transform::Canonicalization(algorithm));
        } else {
            bail!(
                "--policy: {token:?} is neither spid, anpr nor an algorithm (rsa-sha1, rsa-sha256, \
                 rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512, sha1, sha256, \
                 sha384, sha512, exc, exc-comments, inc, inc-comments, or an algorithm URI)"
            );
        }
    }
    for (empty, what) in [
        (policy.signature_methods().is_empty(), "signature method"),
        (policy.digest_methods().is_empty(), "digest method"),
        (policy.canonicalization_methods().is_empty(), "canonicalization"),
    ] {
        if empty {
            bail!("--policy {arg:?} allows no {what}: nothing could verify");
        }
    }
    Ok(policy)
}

fn signature_method(token: &str) -> Option<SignatureMethod> {
    SignatureMethod::from_uri(token).or_else(|| {
        SignatureMethod::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(token))
    })
}

fn digest_method(token: &str) -> Option<DigestMethod> {
    DigestMethod::from_uri(token).or_else(|| {
        DigestMethod::ALL
            .into_iter()
            .find(|m| m.name().replace('-', "").eq_ignore_ascii_case(token))
    })
}

fn canonicalization(token: &str) -> Option<Algorithm> {
    Algorithm::from_uri(token).or(match token {
        "exc" => Some(Algorithm::Exclusive),
        "exc-comments" => Some(Algorithm::ExclusiveWithComments),
        "inc" => Some(Algorithm::Inclusive),
        "inc-comments" => Some(Algorithm::InclusiveWithComments),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_policies_name_algorithms_by_short_name_or_uri() {
        let policy =
            policy_from_arg("rsa-sha256, sha256,exc,http://www.w3.org/2000/09/xmldsig#sha1").expect("valid");
        assert_eq!(policy.signature_methods(), [SignatureMethod::RsaSha256]);
        assert_eq!(
            policy.digest_methods(),
            [DigestMethod::Sha256, DigestMethod::Sha1]
        );
        assert_eq!(policy.canonicalization_methods(), [Algorithm::Exclusive]);
        assert!(policy.transforms().contains(&Transform::EnvelopedSignature));
        let e = policy_from_arg("rsa-sha256,hmac-sha1").expect_err("unknown token");
        assert!(e.to_string().contains("\"hmac-sha1\""), "{e}");
        let e = policy_from_arg("rsa-sha256,exc").expect_err("no digest");
        assert!(e.to_string().contains("allows no digest method"), "{e}");
    }

    #[test]
    fn paths_number_only_siblings_that_share_a_name() {
        let doc = snodo_security::xml::parse_str(
            "<r xmlns:a=\"urn:a\"><a:x/><a:x><y/></a:x><z/></r>",
            &Limits::default(),
        )
        .expect("parses");
        let all: Vec<NodeId> = descendants(&doc).filter(|&n| doc.element(n).is_some()).collect();
        let paths: Vec<String> = all.iter().map(|&n| path_of(&doc, n)).collect();
        assert_eq!(paths, ["/r", "/r/a:x[1]", "/r/a:x[2]", "/r/a:x[2]/y", "/r/z"]);
    }
}
