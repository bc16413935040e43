//! Running named simulators, for `snodo simulate` and `snodo up`: resolve every name first (an unknown
//! one is reported with the known ones before anything starts), prepare the development PKI for
//! HTTPS, build each simulator from what the launch knows ([`BuildContext`]: its own clock, the PKI
//! directory, the port offset) and serve it on its default port plus the offset.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use snodo_security::devpki::{DevPki, DevPkiError, DevTenant};
use snodo_security::tls::{ClientAuth, TlsError, TlsServer, TlsServerConfig};
use tokio_util::sync::CancellationToken;

use super::registry::{Registration, UnknownSimulator, find};
use super::{BuildContext, BuildError, Instance, RunningSimulator, ServeError, SimClock, Transport, serve};

/// How to run the simulators.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub host: IpAddr,
    /// Added to every default port, so that several sets can run on one machine.
    pub port_offset: u16,
    /// The development PKI directory: the simulators' own certificates and keys (whom they trust,
    /// what they present when they call out) and, over HTTPS, their server certificate.
    pub pki_dir: PathBuf,
    /// Serve HTTPS with the development PKI's server certificate; false serves plain HTTP.
    pub https: bool,
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
    #[error("simulator {name} could not be built: {source}")]
    Build {
        name: String,
        #[source]
        source: BuildError,
    },
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
    let (transport, trust) = match options.https {
        false => (Transport::Http, None),
        true => https(&options.pki_dir)?,
    };
    let mut simulators = Vec::new();
    for registration in chosen {
        let context = BuildContext {
            clock: SimClock::new(),
            pki_dir: options.pki_dir.clone(),
            port_offset: options.port_offset,
        };
        let simulator = (registration.build)(&context).map_err(|source| LaunchError::Build {
            name: registration.name.to_owned(),
            source,
        })?;
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
        let instance = Arc::new(Instance::new(simulator, context.clock));
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Mutex;

    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};

    use super::*;
    use crate::framework::{PlatformError, RequestView, Simulator};

    /// The contexts the probe registration was built with.
    static BUILT_WITH: Mutex<Vec<(PathBuf, u16)>> = Mutex::new(Vec::new());

    /// A simulator with nothing to serve: only how it was built matters here.
    struct Probe;

    impl Simulator for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn default_port(&self) -> u16 {
            0
        }
        fn router(&self) -> Router {
            Router::new()
        }
        fn reset(&self) {}
        fn operation(&self, _: &RequestView<'_>) -> Option<String> {
            None
        }
        fn render_platform_error(&self, _: Option<&str>, error: &PlatformError) -> Response {
            (StatusCode::INTERNAL_SERVER_ERROR, error.message.clone()).into_response()
        }
    }

    const REGISTRY: &[Registration] = &[
        Registration {
            name: "probe",
            summary: "records its build context",
            build: |context| {
                BUILT_WITH
                    .lock()
                    .unwrap()
                    .push((context.pki_dir.clone(), context.port_offset));
                Ok(Arc::new(Probe))
            },
        },
        Registration {
            name: "broken",
            summary: "cannot be built",
            build: |_| {
                Err(BuildError::new(std::io::Error::other(
                    "the PKI directory is read-only",
                )))
            },
        },
    ];

    fn options(pki_dir: &str, port_offset: u16) -> LaunchOptions {
        LaunchOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_offset,
            pki_dir: PathBuf::from(pki_dir),
            https: false,
        }
    }

    #[tokio::test]
    async fn every_simulator_is_built_with_the_launchs_pki_directory_and_offset() {
        let shutdown = CancellationToken::new();
        let launched = launch(
            REGISTRY,
            &["probe".to_owned()],
            &options("/elsewhere/devpki", 1234),
            shutdown.clone(),
        )
        .await
        .expect("launched");
        assert_eq!(
            *BUILT_WITH.lock().unwrap(),
            vec![(PathBuf::from("/elsewhere/devpki"), 1234)]
        );
        assert!(launched.trust.is_none(), "plain HTTP has no trust material");
        shutdown.cancel();
        for running in launched.simulators {
            running.stopped().await;
        }
    }

    #[tokio::test]
    async fn a_simulator_that_cannot_be_built_is_named_in_the_error() {
        let err = launch(
            REGISTRY,
            &["broken".to_owned()],
            &options("/elsewhere/devpki", 0),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, LaunchError::Build { name, .. } if name == "broken"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "simulator broken could not be built: the PKI directory is read-only"
        );
    }
}
