//! Each tenant's platform identities (DESIGN §7): its pagoPA broker and stations, its ANPR workstation
//! and environment, its SPID/CIE Service Provider entity ids and the backend pages a login may return
//! to, its CIE booking offices. A platform a tenant has no section for is simply not used by it.
//!
//! ```toml
//! [[tenants]]
//! istat = "015146"
//! # …
//! [tenants.pagopa]
//! broker_fiscal_code = "01199250158"   # idBrokerPA (the municipality itself when it is its own broker)
//! stations = ["01199250158_01"]        # idStation: the node calls /pagopa/{station}
//! segregation_code = 1                 # the two digits after aux digit 3 in its notice numbers
//! [tenants.anpr]
//! tipo_invio = "TEST"                  # TEST or PROD: must match the environment
//! workstation_id = "pc-001"            # IdPostazione
//! application_id = "snodo"             # IdApplicazione
//! sends_in_flight = 4                  # requests in flight at once, leaving lowest idOperazioneComune first (1–64)
//! [tenants.identity]
//! spid_entity_id = "https://comune.example.it/identity/015146/spid/metadata"
//! cie_entity_id = "https://comune.example.it/identity/015146/cie/metadata"
//! return_urls = ["https://servizi.comune.example.it/"]   # where a login may send the citizen back
//! contact_email = "servizi.online@comune.example.it"    # metadata contact; required outside development
//! ipa_code = "c_f205"                                   # default c_<codice catastale>
//! minimum_level = 2                                     # SPID/CIE level every login must reach (1–3, default 1)
//! spid_idp_metadata_url = "https://registry.spid.gov.it/metadata/idp/spid-entities-idps.xml"
//! cie_idp_metadata_url = "https://idserver.servizicie.interno.gov.it/idp/shibboleth?Metadata"
//! idp_metadata_signers = ["/etc/snodo/agid-metadata-signer.pem"]   # fetched metadata must carry their signature
//! [tenants.cie_booking]
//! offices = ["MI-01"]                  # the offices this tenant books in; empty: all of the comune's
//! ```

use serde::{Deserialize, Serialize};

use super::{Environment, TenantConfig};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPagopa {
    /// `idBrokerPA`: the intermediary's fiscal code (11 digits).
    pub broker_fiscal_code: String,
    /// `idStation`s of this creditor institution; each gets the EC endpoint `/pagopa/{station}`.
    pub stations: Vec<String>,
    /// Segregation code (0–99) of aux digit 3 notice numbers, when the municipality uses several
    /// IUV generators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segregation_code: Option<u8>,
}

/// `tipoInvio` of ANPR's request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AnprSendType {
    Test,
    Prod,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantAnpr {
    pub tipo_invio: AnprSendType,
    /// `IdPostazione` of the WS-Security assertion (the workstation certificate's name, `pc-001`).
    pub workstation_id: String,
    /// `IdApplicazione` of the WS-Security assertion.
    pub application_id: String,
    /// How many of the comune's requests may be in flight at once; they leave lowest
    /// `idOperazioneComune` first (`crate::anpr::send_order`). One keeps them strictly in order at
    /// one round trip each; more lets a remote ANPR's round trip overlap, at the price of an
    /// occasional renumbered request. Unset: `crate::anpr::DEFAULT_SENDS_IN_FLIGHT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sends_in_flight: Option<usize>,
    /// The PDND e-services client (`[tenants.anpr.pdnd]`, see `crate::anpr::PdndConfig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdnd: Option<crate::anpr::PdndConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TenantIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spid_entity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cie_entity_id: Option<String>,
    /// Allowlist of backend URLs (prefixes) a login may redirect the citizen back to.
    #[serde(default)]
    pub return_urls: Vec<String>,
    /// The institutional address in the SP metadata's contact (required outside development).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// Codice IPA in the metadata; default `c_<codice catastale>`, the comuni's convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipa_code: Option<String>,
    /// IdP metadata files trusted besides the federation's (e.g. spid-sp-test's IdP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_idp_metadata: Vec<std::path::PathBuf>,
    /// The lowest SPID/CIE ID level (1–3) any login of this tenant must reach, whatever a login link
    /// asks; absent: 1 (each login's own level decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_level: Option<u8>,
    /// Where SPID's IdP metadata is fetched and refreshed (the AgID registry aggregate); absent: the
    /// `[platforms.identity]` endpoint's `/spid/metadata` (the simulator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spid_idp_metadata_url: Option<String>,
    /// Where CIE ID's IdP metadata is fetched; absent: the endpoint's `/cie/metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cie_idp_metadata_url: Option<String>,
    /// PEM certificates the fetched IdP metadata must be signed with (AgID's for the aggregate); a
    /// document without a valid signature by one of them is refused and the last good list kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idp_metadata_signers: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TenantBooking {
    /// Office codes this tenant books in; empty means every office of the comune.
    #[serde(default)]
    pub offices: Vec<String>,
}

/// Checks one tenant's platform sections; `key` builds the `tenants[i].…` path of a field.
pub(super) fn validate(t: &TenantConfig, key: &dyn Fn(&str) -> String) -> Result<(), (String, String)> {
    let err = |field: &str, reason: String| Err((key(field), reason));
    if let Some(p) = &t.pagopa {
        if !is_digits(&p.broker_fiscal_code, 11) {
            return err(
                "pagopa.broker_fiscal_code",
                format!("{:?} is not an 11-digit fiscal code", p.broker_fiscal_code),
            );
        }
        if p.stations.is_empty() {
            return err(
                "pagopa.stations",
                "at least one station is needed for the node to call".into(),
            );
        }
        for (i, s) in p.stations.iter().enumerate() {
            // stText35 in the XSD, and the path segment of the endpoint: keep it URL-safe.
            if s.is_empty()
                || s.len() > 35
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return err(
                    &format!("pagopa.stations[{i}]"),
                    format!("{s:?} is not a station id (1–35 letters, digits, '_' or '-')"),
                );
            }
        }
        if let Some(code) = p.segregation_code
            && code > 99
        {
            return err("pagopa.segregation_code", format!("{code} is not two digits"));
        }
    }
    if let Some(a) = &t.anpr {
        let expected = match t.environment {
            Environment::Production => AnprSendType::Prod,
            Environment::Development | Environment::Test => AnprSendType::Test,
        };
        if a.tipo_invio != expected {
            return err(
                "anpr.tipo_invio",
                format!(
                    "{:?} does not match the {:?} environment (ANPR rejects a mismatch)",
                    a.tipo_invio, t.environment
                ),
            );
        }
        for (field, value) in [
            ("anpr.workstation_id", &a.workstation_id),
            ("anpr.application_id", &a.application_id),
        ] {
            if value.trim().is_empty() || value.len() > 64 {
                return err(field, "must be 1–64 characters".into());
            }
        }
        if let Some(n) = a.sends_in_flight
            && !(1..=64).contains(&n)
        {
            return err("anpr.sends_in_flight", format!("{n} is not between 1 and 64"));
        }
    }
    if let Some(i) = &t.identity {
        let secure_only = t.environment != Environment::Development;
        for (field, value) in [
            ("identity.spid_entity_id", &i.spid_entity_id),
            ("identity.cie_entity_id", &i.cie_entity_id),
            ("identity.spid_idp_metadata_url", &i.spid_idp_metadata_url),
            ("identity.cie_idp_metadata_url", &i.cie_idp_metadata_url),
        ] {
            if let Some(v) = value
                && !is_url(v, secure_only)
            {
                return err(
                    field,
                    format!(
                        "{v:?} is not an {} URL",
                        if secure_only { "https" } else { "http(s)" }
                    ),
                );
            }
        }
        if i.spid_entity_id.is_none() && i.cie_entity_id.is_none() {
            return err(
                "identity",
                "names neither spid_entity_id nor cie_entity_id".into(),
            );
        }
        let address = |e: &str| {
            e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.contains('@')
            }) && !e.contains(char::is_whitespace)
        };
        if let Some(email) = &i.contact_email
            && !address(email)
        {
            return err(
                "identity.contact_email",
                format!("{email:?} is not an email address"),
            );
        }
        if let Some(code) = &i.ipa_code
            && (code.is_empty()
                || code.len() > 32
                || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return err(
                "identity.ipa_code",
                format!("{code:?} is not a codice IPA (letters, digits and _)"),
            );
        }
        if let Some(level) = i.minimum_level
            && !(1..=3).contains(&level)
        {
            return err(
                "identity.minimum_level",
                format!("{level} is not a SPID/CIE level (1, 2 or 3)"),
            );
        }
        for (n, url) in i.return_urls.iter().enumerate() {
            if !is_url(url, secure_only) {
                return err(
                    &format!("identity.return_urls[{n}]"),
                    format!("{url:?} is not an absolute URL"),
                );
            }
        }
    }
    if let Some(b) = &t.cie_booking {
        for (n, office) in b.offices.iter().enumerate() {
            if office.is_empty() || office.len() > 20 {
                return err(
                    &format!("cie_booking.offices[{n}]"),
                    "must be 1–20 characters".into(),
                );
            }
        }
    }
    Ok(())
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_url(s: &str, https_only: bool) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| {
        if https_only {
            None
        } else {
            s.strip_prefix("http://")
        }
    });
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}
