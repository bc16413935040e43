//! Serving an [`Instance`] on a listener, over plain HTTP or over HTTPS with the mutual-TLS accept
//! loop of `snodo_security::tls` (the one HTTPS server of the project; it puts the verified client
//! certificate into request extensions, where the recorder finds it).

use std::net::SocketAddr;
use std::sync::Arc;

use snodo_security::tls::TlsServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Instance;

/// How a simulator is reached.
#[derive(Clone, Debug)]
pub enum Transport {
    /// Plain HTTP: tests, and integrators who terminate TLS elsewhere.
    Http,
    /// HTTPS with the given server configuration (identity, client authentication).
    Https(TlsServer),
}

impl Transport {
    pub fn scheme(&self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https(_) => "https",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("simulator {name}: cannot listen on {addr}: {source}")]
    Bind {
        name: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A simulator being served; stops when the shutdown token given to [`serve`] is cancelled.
#[derive(Debug)]
pub struct RunningSimulator {
    name: String,
    addr: SocketAddr,
    scheme: &'static str,
    task: JoinHandle<()>,
}

impl RunningSimulator {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The base URL, e.g. `https://127.0.0.1:9442`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
    /// The admin API's base URL.
    pub fn admin_url(&self) -> String {
        format!("{}/admin", self.url())
    }
    /// Waits until the server has stopped (after the shutdown token was cancelled).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// Binds `addr` (port 0 for an ephemeral port) and serves `instance` on it until `shutdown`.
pub async fn serve(
    instance: Arc<Instance>,
    addr: SocketAddr,
    transport: Transport,
    shutdown: CancellationToken,
) -> Result<RunningSimulator, ServeError> {
    let name = instance.simulator.name().to_owned();
    let bind_error = |source| ServeError::Bind {
        name: name.clone(),
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let router = instance.router();
    let scheme = transport.scheme();
    let task = match transport {
        Transport::Http => tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "Simulator listener failed.");
            }
        }),
        Transport::Https(server) => tokio::spawn(async move {
            server
                .serve(listener, router, async move { shutdown.cancelled().await })
                .await;
        }),
    };
    Ok(RunningSimulator {
        name,
        addr,
        scheme,
        task,
    })
}
