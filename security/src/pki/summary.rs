//! One configured certificate as `snodo check` reports it: what it is, whether its key and chain are
//! in order, and how long it has left. Expiry within [`WARNING_WINDOW`] warns; expired fails.
//!
//! Certificates expire quietly and the platforms then refuse every call (ANPR issues #4200, #1651:
//! expired test CAs, `-CO-9999` renewals), so the operator is told a month ahead.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use openssl::x509::X509;

use super::inspect::{CertificateInfo, KeyAlgorithm};
use super::{CertificateUse, PkiError, TrustAnchors, read_certificates, read_identity};

/// How long before `notAfter` a certificate is reported as a warning.
pub const WARNING_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// The least RSA size accepted for any use (SPID: RSA >= 2048, spid-and-cie-id.md §1.2).
pub const MIN_RSA_BITS: u32 = 2048;

/// Overall outcome of one certificate, ordered from good to bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    Warning,
    Failed,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "WARNING",
            Verdict::Failed => "FAILED",
        })
    }
}

/// Where a configured certificate is, and whether its private key must be there too.
#[derive(Debug, Clone)]
pub struct CertificateSource {
    pub certificate: PathBuf,
    pub key: Option<PathBuf>,
    /// For a PKCS#12 file or an encrypted key.
    pub password: Option<String>,
    /// A certificate Snodo presents or signs with needs its key; a peer's or a CA's does not.
    pub needs_key: bool,
}

/// The report on one configured certificate.
#[derive(Debug, Clone)]
pub struct CertificateSummary {
    /// Where it is configured, e.g. `tenants[0].certificates.anpr_client`.
    pub label: String,
    pub file: PathBuf,
    pub usage: CertificateUse,
    /// `None` when the file could not be read at all.
    pub info: Option<CertificateInfo>,
    /// Whether the chain was validated (`Some(n)`: against `n` configured CAs).
    pub chain_checked_against: Option<usize>,
    pub verdict: Verdict,
    /// Each problem or warning, one line each.
    pub findings: Vec<String>,
}

impl CertificateSummary {
    /// Reads and checks `source` for `usage` at `now`. Never fails: what is wrong becomes findings.
    /// An empty `anchors` leaves the chain unchecked (a self-signed SPID SP certificate is allowed,
    /// Avviso 28/2020), which the report says.
    pub fn inspect(
        label: &str,
        source: &CertificateSource,
        usage: CertificateUse,
        anchors: &TrustAnchors,
        now: SystemTime,
    ) -> CertificateSummary {
        let mut summary = CertificateSummary {
            label: label.to_owned(),
            file: source.certificate.clone(),
            usage,
            info: None,
            chain_checked_against: None,
            verdict: Verdict::Ok,
            findings: Vec::new(),
        };
        let loaded = load(source);
        let (leaf, chain) = match loaded {
            Ok(parts) => parts,
            Err(e) => {
                summary.fail(e.to_string());
                return summary;
            }
        };
        let info = match CertificateInfo::read(&leaf, &source.certificate) {
            Ok(info) => info,
            Err(e) => {
                summary.fail(e.to_string());
                return summary;
            }
        };
        if info.key_algorithm == KeyAlgorithm::Rsa && info.key_bits < MIN_RSA_BITS {
            summary.fail(format!(
                "RSA key of {} bits; at least {MIN_RSA_BITS} required",
                info.key_bits
            ));
        }
        if let Err(reason) = super::check_usage(&info, usage) {
            summary.fail(format!("not usable for {usage}: {reason}"));
        }
        if now < info.not_before {
            summary.fail(format!("not valid before {}", format_utc(info.not_before)));
        }
        match info.remaining(now) {
            None => summary.fail(format!("EXPIRED on {}", format_utc(info.not_after))),
            Some(left) if left < WARNING_WINDOW => summary.warn(format!(
                "expires in {} days, on {}: renew it",
                left.as_secs() / 86_400,
                format_utc(info.not_after)
            )),
            Some(_) => {}
        }
        if !anchors.is_empty() {
            summary.chain_checked_against = Some(anchors.certificates().len());
            // Expiry is reported above with dates; validate the chain itself at a time the leaf is
            // valid, so an expiring leaf is not reported twice while an expired CA still is.
            let at = if info.remaining(now).is_none() {
                info.not_after - Duration::from_secs(1)
            } else {
                now
            };
            match anchors.verify(&leaf, &chain, usage, at, &source.certificate) {
                Ok(()) => {}
                // Already reported above, with the missing bit.
                Err(PkiError::WrongUsage { .. }) => {}
                Err(PkiError::Untrusted { reason, depth, .. }) => {
                    summary.fail(format!("chain not valid: {reason} (depth {depth})"))
                }
                Err(other) => summary.fail(other.to_string()),
            }
        }
        summary.with_info(info)
    }

    fn with_info(mut self, info: CertificateInfo) -> CertificateSummary {
        self.info = Some(info);
        self
    }

    fn fail(&mut self, finding: String) {
        self.verdict = Verdict::Failed;
        self.findings.push(finding);
    }

    fn warn(&mut self, finding: String) {
        self.verdict = self.verdict.max(Verdict::Warning);
        self.findings.push(finding);
    }

    /// Adds a finding from a rule the caller knows (e.g. a development certificate on a production
    /// tenant), failing the summary.
    pub fn add_failure(&mut self, finding: impl Into<String>) {
        self.fail(finding.into());
    }
}

fn load(source: &CertificateSource) -> Result<(X509, Vec<X509>), PkiError> {
    if source.needs_key {
        let identity = read_identity(
            &source.certificate,
            source.key.as_deref(),
            source.password.as_deref(),
        )?;
        Ok((identity.certificate().clone(), identity.chain().to_vec()))
    } else {
        let mut all = read_certificates(&source.certificate, source.password.as_deref())?.into_iter();
        let leaf = all.next().expect("read_certificates never returns an empty list");
        Ok((leaf, all.collect()))
    }
}

impl fmt::Display for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}): {} [{}]",
            self.label,
            self.usage,
            self.verdict,
            self.file.display()
        )?;
        if let Some(info) = &self.info {
            let s = &info.subject;
            let mut subject = Vec::new();
            let mut push = |name: &str, value: &Option<String>| {
                if let Some(v) = value {
                    subject.push(format!("{name}={v}"));
                }
            };
            push("CN", &s.common_name);
            push("O", &s.organization);
            push("OU", &s.organizational_unit);
            push("organizationIdentifier", &s.organization_identifier);
            push("serialNumber", &s.serial_number_masked());
            push("uri", &s.uri);
            push("L", &s.locality);
            push("C", &s.country);
            writeln!(f, "    subject: {}", subject.join(", "))?;
            if let Some(cn) = &info.issuer.common_name {
                writeln!(f, "    issuer: CN={cn}")?;
            }
            writeln!(
                f,
                "    key: {} {} bits, signed {}",
                info.key_algorithm, info.key_bits, info.signature_algorithm
            )?;
            writeln!(
                f,
                "    valid: {} to {}",
                format_utc(info.not_before),
                format_utc(info.not_after)
            )?;
            if !info.policies.is_empty() {
                writeln!(
                    f,
                    "    policies: {}{}",
                    info.policies.join(", "),
                    if info.policies_critical { " (critical)" } else { "" }
                )?;
            }
            if info.is_development() {
                writeln!(f, "    development certificate (Snodo's development PKI)")?;
            }
            writeln!(f, "    sha256: {}", info.sha256_fingerprint)?;
        }
        match self.chain_checked_against {
            Some(n) => writeln!(f, "    chain: checked against {n} configured CA certificate(s)")?,
            None => writeln!(f, "    chain: not checked (no CA configured for it)")?,
        }
        for finding in &self.findings {
            writeln!(f, "    ! {finding}")?;
        }
        Ok(())
    }
}

/// `YYYY-MM-DD HH:MM UTC` without a date library (days to civil date: H. Hinnant's algorithm).
pub fn format_utc(t: SystemTime) -> String {
    let secs = super::inspect::unix_seconds(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}
