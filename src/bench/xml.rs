//! `snodo bench xml`: what the XML security layer costs per document, per core, in one run: parse,
//! exclusive canonicalization, signing and verification of a SPID Response (the fixtures; enveloped
//! signatures) and of an ANPR SOAP request (ANPR's published example payload with a detached
//! WS-Security signature over the Body, made in set-up), beside the `xmlsec1` CLI verifying the
//! same documents.
//!
//! Issue 3's aim is at least 5,000 SPID Response verifications per second per core. Times are the
//! CPU time of the measuring thread (`/proc/thread-self/schedstat`), so other work on this 2-core
//! machine shows up as wall time, not in the figures; xmlsec1 is timed per invocation, process start
//! included, which is what an integrator calling it pays. No thresholds: figures are printed.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::dsig::{
    SignaturePlacement, SignaturePolicy, SigningKey, TrustedKeys, sign_enveloped, signature_children,
    verify_detached_signature, verify_enveloped_signature,
};
use snodo_security::testing::samples::{
    anpr_signature, anpr_soap_request, sign_anpr_soap_request, signed_anpr_soap_request,
};
use snodo_security::xml::{Document, Limits, NodeId, parse};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SOAP: &str = snodo_security::testing::samples::SOAP_ENVELOPE_NAMESPACE;

#[derive(clap::Args)]
pub struct XmlBenchArgs {
    /// CPU seconds spent measuring each operation (after a fifth of that as warm-up).
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// xmlsec1 invocations per document.
    #[arg(long, default_value_t = 30)]
    xmlsec1_runs: u32,
    /// The SPID fixtures (`shared/specs/spid/fixtures`): response-1.xml (signed twice),
    /// response-2.xml (unsigned, signed by the benchmark) and fixture-idp-cert.pem.
    #[arg(long, default_value_os_t = shared_dir().join("specs/spid/fixtures"))]
    spid_fixtures: PathBuf,
    /// An ANPR request payload, wrapped in a SOAP envelope and signed under the ANPR policy.
    #[arg(long, default_value_os_t = shared_dir().join("specs/anpr/soap-client-example/requests/3002_888002_FREE.xml"))]
    anpr_request: PathBuf,
}

/// `shared/` beside the repository, where the specifications and fixtures live.
fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

use super::report::{self, Report};

struct Row {
    document: String,
    operation: &'static str,
    seconds_per_op: f64,
    xmlsec1_seconds: Option<f64>,
    xmlsec1_peak_kib: Option<u64>,
}

pub fn measure(args: XmlBenchArgs) -> anyhow::Result<Report> {
    if args.seconds.is_nan() || args.seconds <= 0.0 {
        bail!("--seconds must be positive");
    }
    let budget = Duration::from_secs_f64(args.seconds);
    let limits = Limits::default();
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));

    // SPID: the fixture Response with its two signatures, and the unsigned one to sign.
    let spid_signed = read(&args.spid_fixtures.join("responses/response-1.xml"))?;
    let spid_unsigned = read(&args.spid_fixtures.join("responses/response-2.xml"))?;
    let spid_cert = args.spid_fixtures.join("fixture-idp-cert.pem");
    let spid_keys = TrustedKeys::from_pem(&read(&spid_cert)?)?;
    let spid_policy = SignaturePolicy::spid();
    let bench_identity = identity("Snodo bench signer, not a real party")?;
    let bench_key = SigningKey::new(bench_identity.0.clone(), Some(bench_identity.1.clone()));

    // ANPR: the payload in an envelope, a detached signature over the Body in its Security header,
    // with a key made for this run.
    let payload = String::from_utf8(read(&args.anpr_request)?).context("the ANPR request is not UTF-8")?;
    let anpr_unsigned = anpr_soap_request(&payload);
    let anpr_signed = signed_anpr_soap_request(&payload, &bench_key)?.into_bytes();
    let anpr_keys = TrustedKeys::from_certificates([bench_identity.1.clone()])?;
    let anpr_policy = SignaturePolicy::anpr_ws_security();

    // Sanity before timing: both documents verify as the measured loops expect.
    if verify_spid(&spid_signed, &spid_policy, &spid_keys)? != 2 {
        bail!("the SPID fixture Response does not carry the two signatures this benchmark verifies");
    }
    verify_anpr(&anpr_signed, &anpr_policy, &anpr_keys)?;

    let exclusive = Canonicalization::new(Algorithm::Exclusive);
    let mut rows = Vec::new();
    let spid_name = format!("SPID Response ({} B)", spid_signed.len());
    let anpr_name = format!("ANPR request ({} B)", anpr_signed.len());

    eprintln!("measuring (about {:.0} s)…", args.seconds * 1.2 * 8.0);
    let mut measure = |document: &str, operation, f: &mut dyn FnMut() -> anyhow::Result<()>| {
        let seconds_per_op = time_per_op(budget, f)?;
        rows.push(Row {
            document: document.to_owned(),
            operation,
            seconds_per_op,
            xmlsec1_seconds: None,
            xmlsec1_peak_kib: None,
        });
        anyhow::Ok(())
    };

    measure(&spid_name, "parse", &mut || {
        black_box(parse(black_box(&spid_signed), &limits)?);
        Ok(())
    })?;
    let spid_doc = parse(&spid_signed, &limits)?;
    measure(&spid_name, "exclusive c14n (whole document)", &mut || {
        black_box(exclusive.document(black_box(&spid_doc), &[])?);
        Ok(())
    })?;
    let unsigned_doc = parse(&spid_unsigned, &limits)?;
    let assertion = child_named(&unsigned_doc, unsigned_doc.document_element(), SAML, "Assertion")
        .context("response-2.xml has no saml:Assertion to sign")?;
    let issuer =
        child_named(&unsigned_doc, assertion, SAML, "Issuer").context("the Assertion has no Issuer")?;
    let spid_options = spid_policy.signing_options().context("the SPID policy signs")?;
    measure(&spid_name, "sign the Assertion (RSA-2048)", &mut || {
        black_box(sign_enveloped(
            black_box(&unsigned_doc),
            assertion,
            SignaturePlacement::After(issuer),
            &spid_options,
            &bench_key,
        )?);
        Ok(())
    })?;
    measure(&spid_name, "parse + verify both signatures", &mut || {
        verify_spid(black_box(&spid_signed), &spid_policy, &spid_keys).map(drop)
    })?;

    measure(&anpr_name, "parse", &mut || {
        black_box(parse(black_box(&anpr_signed), &limits)?);
        Ok(())
    })?;
    let anpr_doc = parse(&anpr_signed, &limits)?;
    measure(&anpr_name, "exclusive c14n (whole document)", &mut || {
        black_box(exclusive.document(black_box(&anpr_doc), &[])?);
        Ok(())
    })?;
    let anpr_unsigned_doc = parse(anpr_unsigned.as_bytes(), &limits)?;
    measure(
        &anpr_name,
        "sign the Body, detached (RSA-2048, SHA-1)",
        &mut || {
            black_box(sign_anpr_soap_request(black_box(&anpr_unsigned_doc), &bench_key)?);
            Ok(())
        },
    )?;
    measure(&anpr_name, "parse + verify the signature", &mut || {
        verify_anpr(black_box(&anpr_signed), &anpr_policy, &anpr_keys)
    })?;

    // xmlsec1 on the same documents, against the verification rows.
    let dir = TempDir::new()?;
    let anpr_path = dir.0.join("anpr-request.xml");
    let anpr_cert = dir.0.join("anpr-cert.pem");
    std::fs::write(&anpr_path, &anpr_signed)?;
    std::fs::write(&anpr_cert, bench_identity.1.to_pem()?)?;
    let spid_path = args.spid_fixtures.join("responses/response-1.xml");
    let xmlsec1_note = match which("xmlsec1") {
        None => Some("xmlsec1 is not installed (apt-get install -y xmlsec1): no baseline".to_owned()),
        Some(xmlsec1) => {
            let spid_args = [
                "--id-attr:ID".to_owned(),
                format!("{SAMLP}:Response"),
                "--id-attr:ID".to_owned(),
                format!("{SAML}:Assertion"),
            ];
            let spid = xmlsec1_verify(&xmlsec1, &spid_cert, &spid_path, &spid_args, args.xmlsec1_runs)?;
            let anpr_args = ["--id-attr:Id".to_owned(), format!("{SOAP}:Body")];
            let anpr = xmlsec1_verify(&xmlsec1, &anpr_cert, &anpr_path, &anpr_args, args.xmlsec1_runs)?;
            for row in rows
                .iter_mut()
                .filter(|r| r.operation.starts_with("parse + verify"))
            {
                let (seconds, peak) = if row.document == spid_name { spid } else { anpr };
                row.xmlsec1_seconds = Some(seconds);
                row.xmlsec1_peak_kib = peak;
            }
            None
        }
    };

    print_table(&rows);
    if let Some(note) = xmlsec1_note {
        println!("{note}");
    } else {
        println!(
            "xmlsec1: `xmlsec1 --verify --pubkey-cert-pem CERT --id-attr:…` per document, wall time per \
             invocation ({} runs), process start included; on the SPID Response it checks the first \
             (Response) signature only.",
            args.xmlsec1_runs
        );
    }
    println!("Issue 3's aim: at least 5,000 SPID Response verifications per second per core.");
    Ok(to_report(&rows))
}

/// The verification rows, ours and xmlsec1's, for `snodo bench all` (parse, c14n and signing stay in
/// this benchmark's own table).
fn to_report(rows: &[Row]) -> Report {
    let mut out = Report::new("xml");
    for row in rows.iter().filter(|r| r.operation.starts_with("parse + verify")) {
        let mean = |seconds: f64| report::Row {
            subject: String::new(),
            unit: "verifications".into(),
            count: 0,
            failed: 0,
            per_second: Some(1.0 / seconds),
            p50_us: Some(seconds * 1e6),
            p99_us: None,
            mean_only: true,
            ratio: None,
            children_peak_kib: None,
        };
        let ours = report::Row {
            subject: format!("{}: {}, per core", row.document, row.operation),
            ..mean(row.seconds_per_op)
        };
        match row.xmlsec1_seconds {
            Some(xmlsec1) => {
                out.rows
                    .push(ours.with_ratio("xmlsec1", xmlsec1 / row.seconds_per_op));
                out.rows.push(report::Row {
                    subject: format!("{}: the xmlsec1 CLI, per invocation", row.document),
                    children_peak_kib: row.xmlsec1_peak_kib,
                    ..mean(xmlsec1)
                });
            }
            None => out.rows.push(ours),
        }
    }
    out
}

fn child_named(doc: &Document, parent: NodeId, namespace: &str, local: &str) -> Option<NodeId> {
    doc.child_elements(parent).find(|&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(namespace), local))
    })
}

/// Parses the Response and verifies the Response's and the Assertion's signatures, as the SAML
/// layer will; returns how many were verified.
fn verify_spid(bytes: &[u8], policy: &SignaturePolicy, keys: &TrustedKeys) -> anyhow::Result<usize> {
    let doc = parse(bytes, &Limits::default())?;
    let root = doc.document_element();
    let mut signatures = signature_children(&doc, root);
    if let Some(assertion) = child_named(&doc, root, SAML, "Assertion") {
        signatures.extend(signature_children(&doc, assertion));
    }
    for &signature in &signatures {
        verify_enveloped_signature(&doc, signature, policy, keys)?;
    }
    Ok(signatures.len())
}

fn verify_anpr(bytes: &[u8], policy: &SignaturePolicy, keys: &TrustedKeys) -> anyhow::Result<()> {
    let doc = parse(bytes, &Limits::default())?;
    let signature = anpr_signature(&doc).context("the request has no signature in its Security header")?;
    verify_detached_signature(&doc, signature, policy, keys)?;
    Ok(())
}

/// CPU time of this thread in nanoseconds, where Linux tells it.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Seconds per call of `f`: a warm-up of a fifth of `budget`, then batches until `budget` of thread
/// CPU time (wall time where that is unavailable) has been spent.
fn time_per_op(budget: Duration, f: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let clock = || match thread_cpu_ns() {
        Some(ns) => Duration::from_nanos(ns),
        None => WALL_START.with(|start| start.elapsed()),
    };
    let warm_until = clock() + budget / 5;
    while clock() < warm_until {
        f()?;
    }
    let start = clock();
    let mut calls: u64 = 0;
    while clock() - start < budget {
        for _ in 0..64 {
            f()?;
        }
        calls += 64;
    }
    Ok((clock() - start).as_secs_f64() / calls as f64)
}

thread_local! {
    static WALL_START: Instant = Instant::now();
}

/// Wall seconds per `xmlsec1 --verify` of `file`, after one checked run; and the peak memory of one
/// run, in KiB, where GNU time can tell it (its `%M` is the child's `ru_maxrss`: xmlsec1 started from
/// a small process, not from this one, whose memory Linux would count in the child's figure).
fn xmlsec1_verify(
    xmlsec1: &Path,
    cert: &Path,
    file: &Path,
    id_args: &[String],
    runs: u32,
) -> anyhow::Result<(f64, Option<u64>)> {
    let command = || {
        let mut c = Command::new(xmlsec1);
        c.arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(cert)
            .args(id_args)
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let first = command().output().context("cannot run xmlsec1")?;
    if !first.status.success() {
        bail!(
            "xmlsec1 does not verify {}: {}",
            file.display(),
            String::from_utf8_lossy(&first.stderr)
        );
    }
    let start = Instant::now();
    for _ in 0..runs.max(1) {
        command()
            .stderr(Stdio::null())
            .status()
            .context("cannot run xmlsec1")?;
    }
    let seconds = start.elapsed().as_secs_f64() / f64::from(runs.max(1));
    let peak = which("time").and_then(|time| {
        let out = Command::new(time)
            .args(["-f", "snodo-peak-kib %M"])
            .arg(xmlsec1)
            .args(command().get_args())
            .stdout(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .find_map(|l| l.strip_prefix("snodo-peak-kib "))
            .and_then(|k| k.trim().parse().ok())
    });
    Ok((seconds, peak))
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<24} {:<42} {:>11} {:>15} {:>13} {:>8}",
        "document", "operation", "per op", "ops/s per core", "xmlsec1 CLI/s", "ratio"
    );
    for row in rows {
        let (baseline, ratio) = match row.xmlsec1_seconds {
            Some(s) => (
                format!("{:.0}", 1.0 / s),
                format!("{:.0}×", s / row.seconds_per_op),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "{:<24} {:<42} {:>8.1} µs {:>15} {:>13} {:>8}",
            row.document,
            row.operation,
            row.seconds_per_op * 1e6,
            thousands(1.0 / row.seconds_per_op),
            baseline,
            ratio
        );
    }
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A throwaway RSA-2048 key and self-signed certificate for the signing rows and the ANPR request.
fn identity(
    common_name: &str,
) -> anyhow::Result<(openssl::pkey::PKey<openssl::pkey::Private>, openssl::x509::X509)> {
    use openssl::asn1::Asn1Time;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(1)?);
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, openssl::hash::MessageDigest::sha256())?;
    Ok((key, builder.build()))
}

/// A directory for the files xmlsec1 reads, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("snodo-bench-xml-{}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(7234.4), "7,234");
        assert_eq!(super::thousands(37.0), "37");
        assert_eq!(super::thousands(1_234_567.0), "1,234,567");
    }
}
