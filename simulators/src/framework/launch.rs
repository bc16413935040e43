//! Running named simulators alone, for `snodo simulate`: resolve every name first (an unknown one is
//! reported with the known ones before anything starts), prepare the development PKI for HTTPS, and
//! serve each simulator on its default port plus an offset, each with its own clock.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use snodo_security::devpki::{DevPki, DevPkiError, DevTenant};
use snodo_security::tls::{ClientAuth, TlsError, TlsServer, TlsServerConfig};
use tokio_util::sync::CancellationToken;

use super::registry::{Registration, UnknownSimulator, find};
use super::{Instance, RunningSimulator, ServeError, SimClock, Transport, serve};

/// How to run the simulators.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub host: IpAddr,
    /// Added to every default port, so that several sets can run on one machine.
    pub port_offset: u16,
    /// The development PKI directory for HTTPS; `None` serves plain HTTP.
    pub pki_dir: Option<PathBuf>,
}

/// What an integrator needs to trust the simulators and be recognised by them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustMaterial {
    /// The development CA (PEM): trust it to accept the simulators' server certificate.
    pub ca_file: PathBuf,
    /// A client certificate and key (PEM) the simulators accept for mutual TLS.
    pub client_certificate_file: PathBuf,
    pub client_key_file: PathBuf,
}

#[derive(Debug)]
pub struct Launched {
    pub simulators: Vec<RunningSimulator>,
    /// `None` over plain HTTP.
    pub trust: Option<TrustMaterial>,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("name at least one simulator to run; {}", known(.registered))]
    NothingNamed { registered: Vec<String> },
    #[error(transparent)]
    Unknown(#[from] UnknownSimulator),
    #[error("simulator {name} is named twice")]
    Duplicate { name: String },
    #[error("simulator {name}: port {port} + offset {offset} is past 65535")]
    PortOverflow { name: String, port: u16, offset: u16 },
    #[error("the development PKI for HTTPS: {0}")]
    DevPki(#[from] DevPkiError),
    #[error("the HTTPS server: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

fn known(registered: &[String]) -> String {
    if registered.is_empty() {
        "no platform simulator is registered in this build yet".to_owned()
    } else {
        format!("the known ones are: {}", registered.join(", "))
    }
}

/// Starts the simulators `names` from `registered`; they stop when `shutdown` is cancelled.
pub async fn launch(
    registered: &[Registration],
    names: &[String],
    options: &LaunchOptions,
    shutdown: CancellationToken,
) -> Result<Launched, LaunchError> {
    if names.is_empty() {
        return Err(LaunchError::NothingNamed {
            registered: registered.iter().map(|r| r.name.to_owned()).collect(),
        });
    }
    let mut chosen = Vec::new();
    for name in names {
        let registration = find(registered, name)?;
        if chosen.iter().any(|r: &&Registration| r.name == registration.name) {
            return Err(LaunchError::Duplicate { name: name.clone() });
        }
        chosen.push(registration);
    }
    let (transport, trust) = match &options.pki_dir {
        None => (Transport::Http, None),
        Some(dir) => https(dir)?,
    };
    let mut simulators = Vec::new();
    for registration in chosen {
        let clock = SimClock::new();
        let simulator = (registration.build)(clock.clone());
        let port = match simulator.default_port() {
            0 => 0,
            port => port
                .checked_add(options.port_offset)
                .ok_or_else(|| LaunchError::PortOverflow {
                    name: registration.name.to_owned(),
                    port,
                    offset: options.port_offset,
                })?,
        };
        let instance = Arc::new(Instance::new(simulator, clock));
        let running = serve(
            instance,
            SocketAddr::new(options.host, port),
            transport.clone(),
            shutdown.clone(),
        )
        .await?;
        simulators.push(running);
    }
    Ok(Launched { simulators, trust })
}

/// The development PKI's server certificate (for `localhost` and `127.0.0.1`), accepting client
/// certificates of the development CA when presented (optional: not every platform asks for one).
fn https(dir: &Path) -> Result<(Transport, Option<TrustMaterial>), LaunchError> {
    let pki = DevPki::ensure(dir, &DevTenant::default())?;
    let server = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Optional(pki.trust_anchors()),
    ))?;
    let trust = TrustMaterial {
        ca_file: pki.ca_file().to_owned(),
        client_certificate_file: pki.tls_client().certificate_file.clone(),
        client_key_file: pki.tls_client().key_file.clone(),
    };
    Ok((Transport::Https(server), Some(trust)))
}
