//! What `snodo certify anpr-client` is told: where the judging ANPR simulator listens, which comuni
//! it trusts (the development PKI's `015146-CO-9999` always; a vendor's certificates besides), the
//! environment it stands for and how long the run lasts.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct AnprClientArgs {
    /// Address the simulator listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port (HTTPS, mutual TLS); 0 takes a free one. `snodo up --listener-offset N` calls 9441 + N.
    #[arg(long, default_value_t = snodo_simulators::anpr::DEFAULT_PORT)]
    pub port: u16,
    /// How long the run listens; it ends sooner on `POST /admin/certify/done` or Ctrl-C.
    #[arg(long = "for", value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub run_for: Duration,
    /// A comune certificate (PEM) whose signatures are trusted, besides the development PKI's
    /// `015146-CO-9999`; repeat it.
    #[arg(long = "comune-cert", value_name = "FILE")]
    pub comune_certificates: Vec<PathBuf>,
    /// A CA (PEM) the TLS client certificates may chain to, besides the development CA; repeat it.
    #[arg(long = "client-ca", value_name = "FILE")]
    pub client_cas: Vec<PathBuf>,
    /// The `tipoInvio` this environment accepts (the simulator stands for ANPR's test environment).
    #[arg(long, default_value = "TEST")]
    pub tipo_invio: String,
    /// The official schemas' `soap/comuni` directory (default: `SNODO_ANPR_SPECS`, the specs beside
    /// the source tree, or the copy in the binary).
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
    /// The development PKI directory (default: `snodo up`'s, `SNODO_DEV_PKI_DIR` or
    /// `~/.cache/snodo/devpki`): the server certificate, the CA and the trusted comune.
    #[arg(long, value_name = "DIR")]
    pub pki_dir: Option<PathBuf>,
    /// Base URL the simulator pushes notifications to (e.g. `https://127.0.0.1:7443`); none by default.
    #[arg(long, value_name = "URL")]
    pub push_url: Option<String>,
}
