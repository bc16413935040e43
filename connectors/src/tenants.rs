//! Which municipality a message or a platform's call is for, and the public URLs each one gives the
//! platforms.
//!
//! A command names its tenant in `x-snodo-tenant` (the ISTAT code); a platform's call names it in the
//! path — `/identity/{tenant}/…` and `/anpr/{tenant}/…` by ISTAT code, `/pagopa/{station}` by the pagoPA
//! station, which configuration guarantees belongs to one tenant only. [`Tenants::gaps`] lists what a
//! tenant's configuration lacks for the platforms it uses; `snodo check` fails on any.

use snodo_queue::privacy::mask_personal_data;

use crate::config::{Config, Environment, TenantConfig};

/// The configured tenants, indexed for the lookups of inbound calls.
#[derive(Debug, Clone)]
pub struct Tenants {
    tenants: Vec<TenantConfig>,
    client_ca_configured: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("no tenant named: the x-snodo-tenant header is missing")]
    Missing,
    #[error("tenant {0:?} is not configured")]
    Unknown(String),
    #[error("pagoPA station {0:?} is not configured for any tenant")]
    UnknownStation(String),
}

/// The URLs a tenant gives the platforms (what goes into SP metadata, the pagoPA station
/// registration and ANPR's notification subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    /// `(station, EC endpoint)` for each pagoPA station.
    pub pagopa: Vec<(String, String)>,
    pub spid_metadata: Option<String>,
    pub cie_metadata: Option<String>,
    pub login: String,
    pub acs: String,
    pub slo: String,
    pub anpr_notifications: String,
}

/// Something a tenant's configuration lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub tenant: String,
    pub platform: &'static str,
    pub missing: String,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tenant {} ({}): {}", self.tenant, self.platform, self.missing)
    }
}

impl Tenants {
    pub fn from_config(config: &Config) -> Tenants {
        Tenants {
            tenants: config.tenants.clone(),
            client_ca_configured: !config.tls.client_ca.is_empty(),
        }
    }

    pub fn all(&self) -> &[TenantConfig] {
        &self.tenants
    }

    pub fn get(&self, istat: &str) -> Result<&TenantConfig, TenantError> {
        self.tenants
            .iter()
            .find(|t| t.istat == istat)
            .ok_or_else(|| TenantError::Unknown(mask_personal_data(&shorten(istat))))
    }

    /// The tenant an `x-snodo-tenant` header (or a path's `{tenant}`) names.
    pub fn from_header(&self, value: Option<&str>) -> Result<&TenantConfig, TenantError> {
        match value.map(str::trim) {
            None | Some("") => Err(TenantError::Missing),
            Some(istat) => self.get(istat),
        }
    }

    /// The tenant a pagoPA station belongs to (the `{station}` of `/pagopa/{station}`).
    pub fn by_station(&self, station: &str) -> Result<&TenantConfig, TenantError> {
        self.tenants
            .iter()
            .find(|t| {
                t.pagopa
                    .as_ref()
                    .is_some_and(|p| p.stations.iter().any(|s| s == station))
            })
            .ok_or_else(|| TenantError::UnknownStation(shorten(station)))
    }

    pub fn public_urls(tenant: &TenantConfig) -> PublicUrls {
        let base = tenant.public_base_url.trim_end_matches('/');
        let istat = &tenant.istat;
        let identity = tenant.identity.as_ref();
        PublicUrls {
            pagopa: tenant
                .pagopa
                .iter()
                .flat_map(|p| p.stations.iter())
                .map(|s| (s.clone(), format!("{base}/pagopa/{s}")))
                .collect(),
            spid_metadata: identity
                .and_then(|i| i.spid_entity_id.as_ref())
                .map(|_| format!("{base}/identity/{istat}/spid/metadata")),
            cie_metadata: identity
                .and_then(|i| i.cie_entity_id.as_ref())
                .map(|_| format!("{base}/identity/{istat}/cie/metadata")),
            login: format!("{base}/identity/{istat}/login"),
            acs: format!("{base}/identity/{istat}/acs"),
            slo: format!("{base}/identity/{istat}/slo"),
            anpr_notifications: format!("{base}/anpr/{istat}/notifications"),
        }
    }

    /// What each tenant's configuration lacks for the platforms it uses. Development tenants run on
    /// the simulators with the development PKI, so certificates are not required of them.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for t in &self.tenants {
            let mut gap = |platform: &'static str, missing: &str| {
                gaps.push(Gap {
                    tenant: t.istat.clone(),
                    platform,
                    missing: missing.to_owned(),
                })
            };
            let real = t.environment != Environment::Development;
            if t.pagopa.is_none() && t.anpr.is_none() && t.identity.is_none() && t.cie_booking.is_none() {
                gap(
                    "all",
                    "uses no platform: add a [tenants.pagopa], [tenants.anpr], [tenants.identity] or [tenants.cie_booking] section",
                );
            }
            if real && t.public_base_url.starts_with("http://") {
                gap(
                    "all",
                    "public_base_url must be https: the platforms call only over TLS",
                );
            }
            if t.pagopa.is_some() && real && !self.client_ca_configured {
                gap(
                    "pagopa",
                    "tls.client_ca is empty: the node's client certificate cannot be verified",
                );
            }
            if let Some(_anpr) = &t.anpr
                && real
                && t.certificates.anpr_client.is_none()
            {
                gap(
                    "anpr",
                    "certificates.anpr_client is missing (the municipality's <ISTAT>-CO-9999 certificate)",
                );
            }
            if let Some(identity) = &t.identity {
                if identity.return_urls.is_empty() {
                    gap(
                        "identity",
                        "identity.return_urls is empty: a login could return the citizen nowhere",
                    );
                }
                if real && identity.spid_entity_id.is_some() && t.certificates.spid_signing.is_none() {
                    gap(
                        "identity",
                        "certificates.spid_signing is missing for the SPID Service Provider",
                    );
                }
                if real && identity.cie_entity_id.is_some() && t.certificates.cie_signing.is_none() {
                    gap(
                        "identity",
                        "certificates.cie_signing is missing for the CIE Service Provider",
                    );
                }
            }
        }
        gaps
    }
}

/// A value from outside, cut short for an error message.
fn shorten(value: &str) -> String {
    value.chars().take(40).collect()
}
