//! The identity provider the suite plays: its entity ID and endpoints, its signing key, its signed
//! metadata (what an SP must trust before it is judged, `--idp-metadata-out`), and the foreign keys
//! of the catalogue's signature cases.
//!
//! The IdP never has to be reachable: the suite reads the AuthnRequest from the SP's own redirect or
//! auto-post form and posts the Responses to the ACS itself. Its default base URL is therefore in the
//! reserved `.invalid` domain (RFC 2606). Its key must stay the same between the run that writes the
//! metadata and the runs that use it, so it is kept on disk (`--idp-key-dir`, by default
//! `~/.cache/snodo/certify`) or given as PEM files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::X509;
use snodo_security::devpki::{Authority, LeafProfile, Validity};
use snodo_security::dsig::SigningKey;
use snodo_simulators::identity::Profile;
use snodo_simulators::identity::catalogue::Keys;
use snodo_simulators::identity::metadata::{Endpoints, render};

use crate::runner::SuiteError;

/// The base URL the suite's IdP names itself with by default.
pub const DEFAULT_BASE_URL: &str = "https://idp.certify.snodo.invalid";
const KEY_FILE: &str = "idp-signing.key";
const CERT_FILE: &str = "idp-signing.pem";
/// A kept certificate is renewed when it expires within this.
const RENEW_BEFORE: Duration = Duration::from_secs(7 * 86_400);

/// The suite's IdP for one profile.
pub struct SuiteIdp {
    pub profile: Profile,
    base_url: String,
    key: SigningKey,
    /// A key outside the metadata, with its certificate (cases 5, 100) and without (case 4).
    foreign: SigningKey,
    foreign_bare: SigningKey,
}

impl SuiteIdp {
    pub fn new(profile: Profile, base_url: &str, key: SigningKey) -> Result<SuiteIdp, SuiteError> {
        let foreign = generate("Snodo certify foreign signer (in no metadata)", 2048)?;
        let foreign_bare = SigningKey::new(foreign.private_key().clone(), None);
        Ok(SuiteIdp {
            profile,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            foreign,
            foreign_bare,
        })
    }

    /// `<base>/spid` or `<base>/cie`, as the IdP simulator names itself.
    pub fn entity_id(&self) -> String {
        format!("{}/{}", self.base_url, self.profile.path())
    }

    /// The SingleSignOnService Location (both bindings).
    pub fn sso_url(&self) -> String {
        format!("{}/sso", self.entity_id())
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    pub fn keys(&self) -> Keys<'_> {
        Keys {
            idp: &self.key,
            other_bare: &self.foreign_bare,
            other: &self.foreign,
        }
    }

    /// The IdP's signed metadata, as the IdP simulator writes its own.
    pub fn metadata(&self) -> Result<String, SuiteError> {
        let entity_id = self.entity_id();
        let sso = self.sso_url();
        let slo = format!("{entity_id}/slo");
        render(
            self.profile,
            &Endpoints {
                entity_id: &entity_id,
                sso: &sso,
                slo: &slo,
            },
            &self.key,
        )
        .map_err(|e| SuiteError::new(format!("writing the suite IdP's metadata: {e}")))
    }
}

/// Where the IdP key is kept by default: `$XDG_CACHE_HOME/snodo/certify` or `~/.cache/snodo/certify`.
pub fn default_key_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("snodo/certify")
}

/// The IdP signing key: the given PEM files, else the pair kept in `dir` (made there, RSA 3072 with
/// a development certificate valid a year, when missing or about to expire).
pub fn signing_key(files: Option<(&Path, &Path)>, dir: &Path) -> Result<SigningKey, SuiteError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| SuiteError::new(format!("cannot read {}: {e}", path.display())))
    };
    if let Some((key, cert)) = files {
        return SigningKey::from_pem(&read(key)?, Some(&read(cert)?)).map_err(|e| {
            SuiteError::new(format!(
                "{} and {} are not a usable key and certificate: {e}",
                key.display(),
                cert.display()
            ))
        });
    }
    let (key_path, cert_path) = (dir.join(KEY_FILE), dir.join(CERT_FILE));
    if key_path.exists() && cert_path.exists() {
        let kept = SigningKey::from_pem(&read(&key_path)?, Some(&read(&cert_path)?)).map_err(|e| {
            SuiteError::new(format!(
                "the kept IdP key in {} is unusable ({e}); delete it to make a new one",
                dir.display()
            ))
        })?;
        if kept.certificate().is_some_and(still_valid) {
            return Ok(kept);
        }
    }
    let made = generate("Snodo certify SPID and CIE ID IdP (DEVELOPMENT)", 3072)?;
    let write = |path: &Path, bytes: Vec<u8>| {
        std::fs::write(path, bytes)
            .map_err(|e| SuiteError::new(format!("cannot write {}: {e}", path.display())))
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| SuiteError::new(format!("cannot create {}: {e}", dir.display())))?;
    let pem = |r: Result<Vec<u8>, openssl::error::ErrorStack>| {
        r.map_err(|e| SuiteError::new(format!("encoding the IdP key: {e}")))
    };
    write(&key_path, pem(made.private_key().private_key_to_pem_pkcs8())?)?;
    write(
        &cert_path,
        pem(made.certificate().expect("generated with a certificate").to_pem())?,
    )?;
    Ok(made)
}

fn still_valid(certificate: &X509) -> bool {
    let Ok(horizon) = openssl::asn1::Asn1Time::from_unix(
        (SystemTime::now() + RENEW_BEFORE)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    ) else {
        return false;
    };
    certificate.not_after() > horizon
}

/// A fresh RSA key with a development certificate issued by a throwaway CA.
fn generate(common_name: &str, bits: u32) -> Result<SigningKey, SuiteError> {
    let fail = |e: &dyn std::fmt::Display| SuiteError::new(format!("making the IdP's keys: {e}"));
    let key = |bits| Rsa::generate(bits).and_then(PKey::from_rsa).map_err(|e| fail(&e));
    let validity = Validity::days_from(SystemTime::now(), 365);
    let ca = Authority::self_signed("Snodo certify IdP CA (DEVELOPMENT)", &key(2048)?, validity, &[])
        .map_err(|e| fail(&e))?;
    let leaf = key(bits)?;
    let certificate = ca
        .issue(
            &LeafProfile::IdpSigning {
                common_name: common_name.to_owned(),
            },
            &leaf,
            validity,
        )
        .map_err(|e| fail(&e))?;
    Ok(SigningKey::new(leaf, Some(certificate)))
}
