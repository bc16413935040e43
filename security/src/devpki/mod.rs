//! The development PKI: a throwaway CA and every certificate `snodo up`, the simulators and the tests
//! need, generated with OpenSSL and cached on disk.
//!
//! Development only: every certificate says so in its organizationName
//! ([`DEVELOPMENT_MARKER`](crate::pki::DEVELOPMENT_MARKER)), and the configuration refuses a
//! development PKI directory unless every tenant's environment is development; `snodo check` fails a
//! development certificate configured for a tenant in test or production.
//!
//! The cache: `<dir>/current` names a generation directory holding the PEM files (private keys 0600)
//! and the ANPR PKCS#12. A generation is written completely before `current` is atomically replaced,
//! so concurrent processes (parallel test binaries) each see a consistent set. A set is reused while
//! every certificate validates against its CA for [`RENEW_BEFORE`] more; otherwise a new one is made.

mod issue;

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;

pub use issue::{Authority, LeafProfile, Validity};

use crate::pki::{
    CertificateUse, Identity, PkiError, TrustAnchors, read_certificates, read_identity, read_private_key,
};

/// A cached set is replaced when any certificate would expire within this window (the same 30 days
/// after which `snodo check` warns).
pub const RENEW_BEFORE: Duration = crate::pki::WARNING_WINDOW;
/// How long development certificates are valid.
pub const VALIDITY_DAYS: u64 = 365;
/// Password of the ANPR PKCS#12 file (a development secret, like the ones the Ministry hands out).
pub const PKCS12_PASSWORD: &str = "snodo-development";

#[derive(Debug, thiserror::Error)]
pub enum DevPkiError {
    #[error("development PKI: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("development PKI: OpenSSL failed while {doing}: {reason}")]
    OpenSsl { doing: &'static str, reason: String },
    #[error("development PKI: {oid:?} is not a dotted object identifier")]
    InvalidOid { oid: String },
    #[error("development PKI: {0}")]
    Pki(#[from] PkiError),
}

/// Who the development certificates are issued to: the tenant of the development configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevTenant {
    pub istat: String,
    pub name: String,
    pub ipa_code: String,
    pub locality: String,
    pub sp_entity_id: String,
}

impl Default for DevTenant {
    /// The demo tenant: Comune di Milano (codice IPA `c_f205`).
    fn default() -> Self {
        DevTenant {
            istat: "015146".into(),
            name: "Comune di Milano".into(),
            ipa_code: "c_f205".into(),
            locality: "Milano".into(),
            sp_entity_id: "https://127.0.0.1:7443/identity/015146".into(),
        }
    }
}

impl DevTenant {
    fn manifest(&self) -> String {
        format!(
            "istat={}\nname={}\nipa_code={}\nlocality={}\nsp_entity_id={}\n",
            self.istat, self.name, self.ipa_code, self.locality, self.sp_entity_id
        )
    }
}

/// One issued credential: certificate and key in memory and where they are on disk.
#[derive(Debug, Clone)]
pub struct Issued {
    pub identity: Identity,
    pub certificate_file: PathBuf,
    pub key_file: PathBuf,
}

/// The development PKI of one directory.
#[derive(Debug, Clone)]
pub struct DevPki {
    directory: PathBuf,
    ca: Authority,
    ca_file: PathBuf,
    tls_server: Issued,
    tls_client: Issued,
    sp_signing: Issued,
    idp_signing: Issued,
    anpr_client: Issued,
    anpr_pkcs12_file: PathBuf,
}

/// (file stem, use, key bits): the leaves of a set, in order. SPID signing keys are RSA 3072
/// (spid-sp-test `constants.py` desires 3072; the rules require at least 2048).
const LEAVES: [(&str, CertificateUse, u32); 5] = [
    ("tls-server", CertificateUse::TlsServer, 2048),
    ("tls-client", CertificateUse::TlsClient, 2048),
    ("sp-signing", CertificateUse::Signing, 3072),
    ("idp-signing", CertificateUse::Signing, 3072),
    ("anpr-client", CertificateUse::TlsClient, 2048),
];

impl DevPki {
    /// The set in `dir` for `tenant`, reused when present and valid for [`RENEW_BEFORE`] more, else
    /// generated (and `dir` created).
    pub fn ensure(dir: &Path, tenant: &DevTenant) -> Result<DevPki, DevPkiError> {
        DevPki::ensure_at(dir, tenant, SystemTime::now())
    }

    /// [`DevPki::ensure`] as if the time were `now` (tests of expiry and regeneration).
    pub fn ensure_at(dir: &Path, tenant: &DevTenant, now: SystemTime) -> Result<DevPki, DevPkiError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if let Ok(name) = std::fs::read_to_string(dir.join("current")) {
            let generation = dir.join(name.trim());
            if let Ok(pki) = DevPki::open(&generation, tenant, now) {
                return Ok(pki);
            }
        }
        let generation = dir.join(format!(
            "gen-{}-{}-{}",
            crate::pki::unix_seconds(now),
            std::process::id(),
            GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let pki = DevPki::generate(&generation, tenant, now)?;
        // Named after this generation, not only the process: two threads of one process ensuring the
        // same directory at once must not move each other's pointer away.
        let pointer = dir.join(format!(
            "current.{}.tmp",
            generation.file_name().expect("named above").to_string_lossy()
        ));
        std::fs::write(
            &pointer,
            generation.file_name().expect("named above").as_encoded_bytes(),
        )
        .map_err(io(&pointer))?;
        std::fs::rename(&pointer, dir.join("current")).map_err(io(dir))?;
        Ok(pki)
    }

    /// Reads a generation directory and checks it is complete, for `tenant`, and valid long enough.
    fn open(generation: &Path, tenant: &DevTenant, now: SystemTime) -> Result<DevPki, DevPkiError> {
        let manifest = std::fs::read_to_string(generation.join("tenant.txt")).map_err(io(generation))?;
        if manifest != tenant.manifest() {
            return Err(DevPkiError::Pki(PkiError::Fields {
                file: generation.join("tenant.txt"),
                reason: "issued for another tenant".into(),
            }));
        }
        let ca_file = generation.join("ca.pem");
        let ca_certificate = read_certificates(&ca_file, None)?.remove(0);
        let ca_key = read_private_key(&generation.join("ca.key"), None)?;
        let ca = Authority::from_parts(ca_certificate.clone(), ca_key);
        let anchors = TrustAnchors::new(vec![ca_certificate.clone()]);
        let horizon = now + RENEW_BEFORE;
        anchors.verify(
            &ca_certificate,
            &[],
            CertificateUse::CertificateAuthority,
            horizon,
            &ca_file,
        )?;
        let mut issued = Vec::new();
        for (stem, usage, _) in LEAVES {
            let certificate_file = generation.join(format!("{stem}.pem"));
            let key_file = generation.join(format!("{stem}.key"));
            let identity = read_identity(&certificate_file, Some(&key_file), None)?;
            anchors.verify(identity.certificate(), &[], usage, horizon, &certificate_file)?;
            issued.push(Issued {
                identity,
                certificate_file,
                key_file,
            });
        }
        let anpr_pkcs12_file = generation.join(anpr_pkcs12_name(tenant));
        read_identity(&anpr_pkcs12_file, None, Some(PKCS12_PASSWORD))?;
        let mut issued = issued.into_iter();
        let mut next = || issued.next().expect("one per LEAVES entry");
        Ok(DevPki {
            directory: generation.to_owned(),
            ca,
            ca_file,
            tls_server: next(),
            tls_client: next(),
            sp_signing: next(),
            idp_signing: next(),
            anpr_client: next(),
            anpr_pkcs12_file,
        })
    }

    fn generate(generation: &Path, tenant: &DevTenant, now: SystemTime) -> Result<DevPki, DevPkiError> {
        std::fs::create_dir_all(generation).map_err(io(generation))?;
        // The CA outlives its leaves, so a set is always renewed because of a leaf first.
        let ca = Authority::self_signed(
            "Snodo DEVELOPMENT CA",
            &cached_key("ca", 2048)?,
            Validity::days_from(now, VALIDITY_DAYS + 30),
            &[],
        )?;
        let ca_file = generation.join("ca.pem");
        write_file(&ca_file, &pem(ca.certificate()), false)?;
        write_file(
            &generation.join("ca.key"),
            &ca.key().private_key_to_pem_pkcs8().map_err(ssl)?,
            true,
        )?;
        let validity = Validity::days_from(now, VALIDITY_DAYS);
        let profiles = [
            LeafProfile::TlsServer {
                common_name: "localhost".into(),
                dns_names: vec!["localhost".into()],
                ip_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            },
            LeafProfile::TlsClient {
                common_name: "Snodo DEVELOPMENT client".into(),
            },
            LeafProfile::SpidPublicSp {
                name: tenant.name.clone(),
                ipa_code: tenant.ipa_code.clone(),
                entity_id: tenant.sp_entity_id.clone(),
                locality: tenant.locality.clone(),
            },
            LeafProfile::IdpSigning {
                common_name: "Snodo DEVELOPMENT SPID and CIE IdP".into(),
            },
            LeafProfile::AnprMunicipality {
                istat: tenant.istat.clone(),
                name: tenant.name.clone(),
            },
        ];
        let mut issued = Vec::new();
        for ((stem, _, bits), profile) in LEAVES.iter().zip(&profiles) {
            let key = cached_key(stem, *bits)?;
            let certificate = ca.issue(profile, &key, validity)?;
            let certificate_file = generation.join(format!("{stem}.pem"));
            let key_file = generation.join(format!("{stem}.key"));
            write_file(&certificate_file, &pem(&certificate), false)?;
            write_file(&key_file, &key.private_key_to_pem_pkcs8().map_err(ssl)?, true)?;
            issued.push(Issued {
                identity: Identity::new(certificate, key, Vec::new(), &certificate_file)?,
                certificate_file,
                key_file,
            });
        }
        let anpr_pkcs12_file = generation.join(anpr_pkcs12_name(tenant));
        let anpr = &issued[4].identity;
        let anpr_with_ca = Identity::new(
            anpr.certificate().clone(),
            anpr.key().clone(),
            vec![ca.certificate().clone()],
            &anpr_pkcs12_file,
        )?;
        let p12 = anpr_with_ca.to_pkcs12(&format!("{}-CO-9999", tenant.istat), PKCS12_PASSWORD)?;
        write_file(&anpr_pkcs12_file, &p12, true)?;
        // Written last: `open` refuses a generation without it, so a half-written one is never used.
        write_file(
            &generation.join("tenant.txt"),
            tenant.manifest().as_bytes(),
            false,
        )?;
        let mut issued = issued.into_iter();
        let mut next = || issued.next().expect("one per LEAVES entry");
        Ok(DevPki {
            directory: generation.to_owned(),
            ca,
            ca_file,
            tls_server: next(),
            tls_client: next(),
            sp_signing: next(),
            idp_signing: next(),
            anpr_client: next(),
            anpr_pkcs12_file,
        })
    }

    /// The generation directory the files are in.
    pub fn directory(&self) -> &Path {
        &self.directory
    }
    pub fn ca(&self) -> &Authority {
        &self.ca
    }
    /// The CA certificate, PEM: the trust anchor for everything below.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }
    pub fn trust_anchors(&self) -> TrustAnchors {
        TrustAnchors::new(vec![self.ca.certificate().clone()])
    }
    /// serverAuth for `localhost` and `127.0.0.1`.
    pub fn tls_server(&self) -> &Issued {
        &self.tls_server
    }
    /// clientAuth, for Snodo calling a simulator or a peer calling Snodo.
    pub fn tls_client(&self) -> &Issued {
        &self.tls_client
    }
    /// The tenant's SPID/CIE SP signing certificate (Avviso SPID n.29 v3 public-sector profile).
    pub fn sp_signing(&self) -> &Issued {
        &self.sp_signing
    }
    /// The simulated IdP's signing certificate.
    pub fn idp_signing(&self) -> &Issued {
        &self.idp_signing
    }
    /// The ANPR municipality certificate (`<ISTAT>-CO-9999`), PEM.
    pub fn anpr_client(&self) -> &Issued {
        &self.anpr_client
    }
    /// The same ANPR identity as the Ministry delivers it: PKCS#12 with the CA, [`PKCS12_PASSWORD`].
    pub fn anpr_pkcs12_file(&self) -> &Path {
        &self.anpr_pkcs12_file
    }
}

/// A development PKI shared by every test of a process (and, through the disk cache, across test
/// binaries): created on first use in the system temporary directory, for the demo tenant.
pub fn shared_for_tests() -> &'static DevPki {
    static SHARED: OnceLock<DevPki> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = std::env::temp_dir().join("snodo-devpki-tests");
        DevPki::ensure(&dir, &DevTenant::default()).expect("the shared development PKI can be created")
    })
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An RSA key per role and size, generated once per process: RSA 3072 generation costs up to a second
/// here, and a regenerated set (or a test's extra certificate) does not need fresh keys.
pub fn cached_key(role: &str, bits: u32) -> Result<PKey<Private>, DevPkiError> {
    type Keys = Mutex<HashMap<(String, u32), PKey<Private>>>;
    static KEYS: OnceLock<Keys> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    if let Some(key) = keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(role.to_owned(), bits))
    {
        return Ok(key.clone());
    }
    let key = PKey::from_rsa(Rsa::generate(bits).map_err(ssl)?).map_err(ssl)?;
    Ok(keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((role.to_owned(), bits))
        .or_insert(key)
        .clone())
}

fn anpr_pkcs12_name(tenant: &DevTenant) -> String {
    format!("{}-CO-9999.p12", tenant.istat)
}

fn pem(certificate: &X509) -> Vec<u8> {
    certificate.to_pem().expect("an issued certificate serializes")
}

fn ssl(e: openssl::error::ErrorStack) -> DevPkiError {
    DevPkiError::OpenSsl {
        doing: "generating or encoding a key",
        reason: e.to_string(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DevPkiError + '_ {
    move |source| DevPkiError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a new file; `secret` files (private keys, PKCS#12) are created with mode 0600 so they are
/// never readable by others, not even briefly.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), DevPkiError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if secret {
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}
