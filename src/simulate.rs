//! `snodo simulate <system>…` (DESIGN §6): runs platform simulators alone, for integrators pointing
//! their own software at them. Prints each simulator's URL and admin API and, over HTTPS, the
//! development CA to trust and a client certificate the simulators accept; stops on SIGINT/SIGTERM.
//! The work is the simulators crate's ([`snodo_simulators::framework::launch`]).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The program's one default development PKI directory (the simulators crate decides it, since the
/// simulators built outside a launch need it too).
pub(crate) use snodo_simulators::framework::default_pki_dir;
use snodo_simulators::framework::{LaunchOptions, launch, registry};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The systems to simulate; an unknown name is reported with the known ones.
    systems: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Added to every simulator's default port (9441–9444), to run several sets on one machine.
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// Serve plain HTTP instead of HTTPS with the development PKI (the simulators still take their
    /// own certificates and keys from it).
    #[arg(long)]
    http: bool,
    /// Directory of the development PKI (created when missing). Default: `SNODO_DEV_PKI_DIR`, else
    /// the user's cache directory (`~/.cache/snodo/devpki`).
    #[arg(long)]
    pki_dir: Option<PathBuf>,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let options = LaunchOptions {
        host: args.host,
        port_offset: args.port_offset,
        pki_dir: args.pki_dir.unwrap_or_else(default_pki_dir),
        https: !args.http,
    };
    let shutdown = crate::signals::shutdown_on_signal();
    let launched = launch(registry::REGISTERED, &args.systems, &options, shutdown.clone()).await?;
    for running in &launched.simulators {
        println!(
            "{:<12} {}  admin API {}",
            running.name(),
            running.url(),
            running.admin_url()
        );
    }
    if let Some(trust) = &launched.trust {
        println!("trust        CA certificate {}", trust.ca_file.display());
        println!(
            "client       certificate {}  key {}",
            trust.client_certificate_file.display(),
            trust.client_key_file.display()
        );
    }
    eprintln!("snodo simulate: ready; SIGINT or SIGTERM stops it.");
    shutdown.cancelled().await;
    for running in launched.simulators {
        running.stopped().await;
    }
    eprintln!("snodo simulate: stopped.");
    Ok(ExitCode::SUCCESS)
}
