//! Building the identity connector for `snodo up` from configuration: each tenant's SP (entity IDs,
//! URLs, signing key, signed metadata) and its IdP registry, plus the background refresh of IdP
//! metadata fetched by URL.
//!
//! Where the pieces come from:
//! - entity IDs, return URLs, the metadata's contact address and codice IPA: `[tenants.identity]`
//!   (`contact_email` is required outside development; `ipa_code` defaults to the comuni's
//!   convention `c_<codice catastale>`); ACS/SLO: `Tenants::public_urls`;
//! - signing key: `[tenants.certificates.spid_signing]` / `cie_signing`, or for development tenants
//!   the development PKI `snodo up` prepared ([`PlatformContext::development_pki`]) — its SP
//!   certificate's `uri` is the demo entity ID, as Avviso 29 wants;
//! - IdPs: per federation `[tenants.identity] spid_idp_metadata_url` / `cie_idp_metadata_url` (the
//!   AgID registry aggregate, CIE ID's IdP) or else the identity simulator's `/spid/metadata` and
//!   `/cie/metadata` (at `[platforms.identity]`'s URL when set), fetched over TLS pinned to the
//!   endpoint's CAs, refreshed every 10 minutes, and refused unless signed by one of
//!   `idp_metadata_signers` when some are configured (AgID signs the aggregate);
//!   and every file of `[tenants.identity] trusted_idp_metadata` and of
//!   `SNODO_IDENTITY_TRUSTED_IDP_METADATA` (comma-separated), added to both federations (how the
//!   conformance tool's IdP is trusted).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use snodo_security::dsig::{SigningKey, TrustedKeys};
use snodo_security::pki::read_identity;
use snodo_security::saml::sp_metadata::SpMetadata;
use snodo_security::saml::{Federation, SpidAttribute, SpidLevel};
use snodo_security::tls::{TlsClientConfig, build_client};

use super::registry::{IdpRegistry, read_metadata};
use super::ticket::TicketRedeemer;
use super::{FederationSp, IdentityService, IdentitySettings, TenantSp, system_clock};
use crate::config::{CertificateFiles, Environment, TenantConfig};
use crate::inbound::InboundPublisher;
use crate::platform::{Background, PlatformContext, PlatformError, PlatformParts};
use crate::tenants::Tenants;

/// The IdP simulator's default port (DESIGN §6).
pub const SIMULATOR_PORT: u16 = 9443;
/// Extra IdP metadata files trusted by both federations.
pub const TRUSTED_IDP_METADATA_ENV: &str = "SNODO_IDENTITY_TRUSTED_IDP_METADATA";
const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// The attributes a municipality's services ask SPID for.
pub const SPID_ATTRIBUTES: [SpidAttribute; 8] = [
    SpidAttribute::Name,
    SpidAttribute::FamilyName,
    SpidAttribute::FiscalNumber,
    SpidAttribute::DateOfBirth,
    SpidAttribute::PlaceOfBirth,
    SpidAttribute::Gender,
    SpidAttribute::Email,
    SpidAttribute::MobilePhone,
];

fn configuration(reason: impl Into<String>) -> PlatformError {
    PlatformError::Configuration {
        platform: "identity".into(),
        reason: reason.into(),
    }
}

/// The registration's `build`.
pub fn build(context: &PlatformContext) -> Result<PlatformParts, PlatformError> {
    let trusted_from_env: Vec<PathBuf> = std::env::var(TRUSTED_IDP_METADATA_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    let endpoint = context.endpoint("identity", SIMULATOR_PORT).ok();
    let mut tenants = Vec::new();
    let mut background: Vec<Background> = Vec::new();
    for tenant in context.tenants.all() {
        let Some(identity) = &tenant.identity else {
            continue;
        };
        let registry = Arc::new(IdpRegistry::new());
        let trusted_files: Vec<PathBuf> = identity
            .trusted_idp_metadata
            .iter()
            .chain(&trusted_from_env)
            .cloned()
            .collect();
        for path in &trusted_files {
            let bytes = std::fs::read(path).map_err(|e| {
                configuration(format!(
                    "tenant {}: trusted IdP metadata {}: {e}",
                    tenant.istat,
                    path.display()
                ))
            })?;
            let idps = read_metadata(&path.display().to_string(), &bytes, None)
                .map_err(|e| configuration(e.to_string()))?;
            registry.extend(Federation::Spid, idps.clone());
            registry.extend(Federation::CieId, idps);
        }
        let signers = metadata_signers(tenant.istat.as_str(), &identity.idp_metadata_signers)?;
        let urls = Tenants::public_urls(tenant);
        let minimum_level = match identity.minimum_level {
            None | Some(1) => SpidLevel::L1,
            Some(2) => SpidLevel::L2,
            Some(3) => SpidLevel::L3,
            Some(other) => {
                return Err(configuration(format!(
                    "tenant {}: identity.minimum_level {other} is not 1, 2 or 3",
                    tenant.istat
                )));
            }
        };
        let mut sp = TenantSp {
            tenant: tenant.istat.clone(),
            acs_url: urls.acs.clone(),
            slo_url: urls.slo.clone(),
            return_urls: identity.return_urls.clone(),
            spid: None,
            cie: None,
            registry: registry.clone(),
            minimum_level,
        };
        for (federation, entity_id, files) in [
            (
                Federation::Spid,
                &identity.spid_entity_id,
                &tenant.certificates.spid_signing,
            ),
            (
                Federation::CieId,
                &identity.cie_entity_id,
                &tenant.certificates.cie_signing,
            ),
        ] {
            let Some(entity_id) = entity_id else { continue };
            let key = signing_key(context, tenant, files.as_ref())?;
            let metadata = sp_metadata(tenant, federation, entity_id, &urls.acs, &urls.slo)?
                .sign(&key)
                .map_err(|e| configuration(e.to_string()))?;
            // A development tenant's IdP is the simulator, which learns SPs as real IdPs do from
            // AgID: from their signed metadata, which the refresh task hands it.
            let register = (tenant.environment == Environment::Development).then(|| metadata.clone());
            let federation_sp = FederationSp {
                federation,
                entity_id: entity_id.clone(),
                key,
                metadata: Arc::new(metadata),
            };
            match federation {
                Federation::Spid => sp.spid = Some(federation_sp),
                Federation::CieId => sp.cie = Some(federation_sp),
            }
            let configured_url = match federation {
                Federation::Spid => identity.spid_idp_metadata_url.clone(),
                Federation::CieId => identity.cie_idp_metadata_url.clone(),
            };
            if let Some(endpoint) = &endpoint {
                let path = if federation == Federation::Spid {
                    "spid"
                } else {
                    "cie"
                };
                let simulator = format!("{}/{path}", endpoint.url.trim_end_matches('/'));
                let client = build_client(&TlsClientConfig::new(endpoint.trusted.clone()))
                    .map_err(|e| configuration(e.to_string()))?;
                // Our metadata goes to the simulator only when the simulator is the IdP.
                let (metadata_url, register) = match configured_url {
                    Some(url) => (url, None),
                    None => (
                        format!("{simulator}/metadata"),
                        register.map(|document| (format!("{simulator}/sp-metadata"), document)),
                    ),
                };
                background.push(Box::pin(refresh(
                    client,
                    metadata_url,
                    register,
                    federation,
                    registry.clone(),
                    trusted_files.clone(),
                    signers.clone(),
                    context.shutdown.clone(),
                )));
            } else if let Some(url) = configured_url {
                return Err(configuration(format!(
                    "tenant {}: fetching {url} needs the CAs of [platforms.identity] (url and ca)",
                    tenant.istat
                )));
            }
        }
        tenants.push(sp);
    }
    if tenants.is_empty() {
        return Ok(PlatformParts::default());
    }
    let service = Arc::new(IdentityService {
        tenants,
        store: context.store.clone(),
        publisher: InboundPublisher::new(context.transport.clone(), &context.names, "identity"),
        clock: system_clock(),
        settings: IdentitySettings::default(),
    });
    Ok(PlatformParts {
        handler: Some(Arc::new(TicketRedeemer {
            store: context.store.clone(),
        })),
        inbound: Some(service.router()),
        background,
    })
}

/// Fetches one federation's IdP metadata from `url` now and every [`REFRESH_EVERY`]; until the first
/// success (the simulator may start after us) every few seconds. A failed refresh — unreachable, or
/// not signed by one of `signers` when there are some — keeps the last good list. With `register`
/// (development: the IdP is the simulator; its URL and our signed SP metadata), first posts our
/// metadata there, until the simulator accepts it.
#[allow(clippy::too_many_arguments)]
async fn refresh(
    client: reqwest::Client,
    url: String,
    mut register: Option<(String, String)>,
    federation: Federation,
    registry: Arc<IdpRegistry>,
    trusted_files: Vec<PathBuf>,
    signers: Option<Arc<TrustedKeys>>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), String> {
    let mut loaded = false;
    loop {
        if let Some((register_url, document)) = &register {
            match client.post(register_url).body(document.clone()).send().await {
                Ok(answer) if answer.status().is_success() => register = None,
                Ok(answer) => {
                    tracing::warn!(url = %register_url, status = %answer.status(), "the IdP simulator refused our SP metadata")
                }
                Err(e) => {
                    tracing::debug!(url = %register_url, error = %e, "the IdP simulator is not reachable yet")
                }
            }
        }
        let outcome = async {
            let response = client.get(&url).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            let bytes = response.bytes().await.map_err(|e| e.to_string())?;
            read_metadata(&url, &bytes, signers.as_deref()).map_err(|e| e.to_string())
        }
        .await;
        match outcome {
            Ok(mut idps) => {
                // The operator's trusted files stay, whatever the fetched document says.
                for path in &trusted_files {
                    if let Ok(bytes) = std::fs::read(path)
                        && let Ok(extra) = read_metadata(&path.display().to_string(), &bytes, None)
                    {
                        idps.extend(extra);
                    }
                }
                registry.replace(federation, idps);
                loaded = true;
            }
            Err(e) => tracing::warn!(url = %url, error = %e, "IdP metadata not refreshed"),
        }
        let wait = if loaded && register.is_none() {
            REFRESH_EVERY
        } else {
            Duration::from_secs(3)
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The certificates fetched IdP metadata must be signed with; `None` when none are configured.
fn metadata_signers(tenant: &str, files: &[PathBuf]) -> Result<Option<Arc<TrustedKeys>>, PlatformError> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut pem = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| {
            configuration(format!(
                "tenant {tenant}: identity.idp_metadata_signers {}: {e}",
                path.display()
            ))
        })?;
        pem.extend(bytes);
        pem.push(b'\n');
    }
    TrustedKeys::from_pem(&pem)
        .map(|keys| Some(Arc::new(keys)))
        .map_err(|e| configuration(format!("tenant {tenant}: identity.idp_metadata_signers: {e}")))
}

fn signing_key(
    context: &PlatformContext,
    tenant: &TenantConfig,
    files: Option<&CertificateFiles>,
) -> Result<SigningKey, PlatformError> {
    let identity = match files {
        Some(files) => {
            let password = match &files.password_file {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| configuration(format!("{}: {e}", p.display())))?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                ),
                None => None,
            };
            read_identity(&files.certificate, files.key.as_deref(), password.as_deref())
                .map_err(|e| configuration(e.to_string()))?
        }
        None if tenant.environment == Environment::Development => context
            .development_pki
            .as_ref()
            .ok_or_else(|| {
                configuration(format!(
                    "tenant {}: a development tenant without an SP signing certificate needs the development PKI, and this instance has none",
                    tenant.istat
                ))
            })?
            .sp_signing()
            .identity
            .clone(),
        None => {
            return Err(configuration(format!(
                "tenant {}: no SP signing certificate (certificates.spid_signing / cie_signing)",
                tenant.istat
            )));
        }
    };
    Ok(SigningKey::new(
        identity.key().clone(),
        Some(identity.certificate().clone()),
    ))
}

fn sp_metadata(
    tenant: &TenantConfig,
    federation: Federation,
    entity_id: &str,
    acs: &str,
    slo: &str,
) -> Result<SpMetadata, PlatformError> {
    let identity = tenant.identity.clone().unwrap_or_default();
    let contact_email = match identity.contact_email {
        Some(email) => email,
        // Reserved `.invalid` domain (RFC 2606): obviously not an address, only for development.
        None if tenant.environment == Environment::Development => "sviluppo@snodo.invalid".to_owned(),
        None => {
            return Err(configuration(format!(
                "tenant {}: identity.contact_email is required outside development: SPID and CIE metadata must name an institutional address",
                tenant.istat
            )));
        }
    };
    let ipa_code = identity
        .ipa_code
        .unwrap_or_else(|| format!("c_{}", tenant.cadastral_code.to_ascii_lowercase()));
    Ok(SpMetadata {
        federation,
        entity_id: entity_id.to_owned(),
        acs_url: acs.to_owned(),
        slo_url: slo.to_owned(),
        organization_name: tenant.name.clone(),
        organization_display_name: tenant.name.clone(),
        organization_url: tenant.public_base_url.clone(),
        ipa_code,
        contact_email,
        municipality: tenant.cadastral_code.clone(),
        service_name: format!("Servizi online del {}", tenant.name),
        attributes: match federation {
            Federation::Spid => SPID_ATTRIBUTES.to_vec(),
            Federation::CieId => snodo_security::saml::sp_metadata::CIE_ATTRIBUTES.to_vec(),
        },
    })
}
