//! `snodo certify <suite>`: the certification suites of `snodo-certify`, wired to the command line.
//! Each suite is one `SuiteCommand` variant (its target options plus the shared `--list`, `--case`,
//! `--report`) and one arm below; everything else is in the crate (see certify/README.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use snodo_certify::spid_sp::{SpidSp, SpidSpOptions, idp, profile_name, suite_idp};
use snodo_certify::{CommonArgs, Verdict, execute};
use snodo_simulators::identity::Profile;

#[derive(Args)]
pub struct CertifyArgs {
    #[command(subcommand)]
    suite: SuiteCommand,
}

#[derive(Subcommand)]
enum SuiteCommand {
    /// Judge a SPID or CIE ID Service Provider: metadata, AuthnRequests, and its ACS against every
    /// faulty Response of the catalogue, signed foreign elements, comment injection, algorithm
    /// downgrade and replay.
    SpidSp(SpidSpArgs),
    /// Play the pagoPA node against a creditor institution's station: verify, activation, receipts,
    /// duplicates, unknown notices, caller ids, syntax errors and timeouts, each answer judged as the
    /// node does. The run pays the notices it is given.
    PagopaEc(Box<PagopaEcCommand>),
    /// Run the ANPR simulator in judging mode: every request a client sends during the run is judged
    /// on its envelope, WS-Security, client certificate, XSD, header and idOperazioneComune.
    AnprClient(AnprClientCommand),
}

#[derive(Args)]
struct PagopaEcCommand {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    target: snodo_certify::pagopa_ec::PagopaEcArgs,
}

#[derive(Args)]
struct AnprClientCommand {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    run: snodo_certify::anpr_client::AnprClientArgs,
}

#[derive(Args)]
struct SpidSpArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The SP's metadata URL.
    #[arg(long, value_name = "URL", required_unless_present_any = ["list", "idp_metadata_out"])]
    metadata: Option<String>,
    /// The SP's URL that starts a login with the suite's IdP (for Snodo:
    /// https://…/identity/<tenant>/login?federation=spid&idp=<IdP entity ID>&return=…).
    #[arg(long, value_name = "URL", required_unless_present_any = ["list", "idp_metadata_out"])]
    login: Option<String>,
    /// Which federation's rules apply.
    #[arg(long, value_enum, default_value = "spid-sp-public")]
    profile: ProfileArg,
    /// A CA certificate file (PEM) to trust for the SP's HTTPS, beside the system's (repeatable).
    #[arg(long = "ca", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Write the suite IdP's signed metadata here: give it to the SP as a trusted IdP before a run.
    #[arg(long, value_name = "FILE")]
    idp_metadata_out: Option<PathBuf>,
    /// The base URL the suite's IdP names itself with (entity ID <base>/spid or <base>/cie); it is
    /// never contacted.
    #[arg(long, value_name = "URL", default_value = idp::DEFAULT_BASE_URL)]
    idp_base_url: String,
    /// The IdP's signing key (PEM), with --idp-cert; by default a key kept in --idp-key-dir.
    #[arg(long, value_name = "FILE", requires = "idp_cert")]
    idp_key: Option<PathBuf>,
    /// The IdP's signing certificate (PEM), with --idp-key.
    #[arg(long, value_name = "FILE", requires = "idp_key")]
    idp_cert: Option<PathBuf>,
    /// Where the IdP's key is made and kept when --idp-key is not given (default ~/.cache/snodo/certify).
    #[arg(long, value_name = "DIR")]
    idp_key_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    SpidSpPublic,
    CieSpPublic,
}

impl ProfileArg {
    fn profile(self) -> Profile {
        match self {
            ProfileArg::SpidSpPublic => Profile::Spid,
            ProfileArg::CieSpPublic => Profile::Cie,
        }
    }
}

pub async fn run(args: CertifyArgs) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout();
    // One arm per suite.
    let verdict = match args.suite {
        SuiteCommand::SpidSp(args) => {
            let profile = args.profile.profile();
            let key = args.idp_key.clone().zip(args.idp_cert.clone());
            let key_dir = args.idp_key_dir.clone().unwrap_or_else(idp::default_key_dir);
            if let Some(path) = &args.idp_metadata_out {
                let suite_idp = suite_idp(profile, &args.idp_base_url, key.clone(), &key_dir)?;
                std::fs::write(path, suite_idp.metadata()?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!(
                    "{} IdP metadata written to {}; entity ID {} (name it as the IdP in the login URL)",
                    profile_name(profile),
                    path.display(),
                    suite_idp.entity_id()
                );
                if args.metadata.is_none() && !args.common.list {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let options = SpidSpOptions {
                metadata_url: args.metadata.clone().unwrap_or_default(),
                login_url: args.login.clone().unwrap_or_default(),
                profile,
                ca_files: args.ca_files.clone(),
                idp_base_url: args.idp_base_url.clone(),
                idp_key: key,
                idp_key_dir: key_dir,
            };
            execute::<SpidSp>(&args.common, || SpidSp::new(options), &mut stdout).await?
        }
        SuiteCommand::PagopaEc(args) => {
            use snodo_certify::pagopa_ec::PagopaEc;
            execute::<PagopaEc>(&args.common, || PagopaEc::new(&args.target), &mut stdout).await?
        }
        SuiteCommand::AnprClient(args) => {
            use snodo_certify::anpr_client::{AnprClient, interrupted_by_signals};
            // Ctrl-C or SIGTERM ends the listening run early; the reports are still written.
            let interrupted = interrupted_by_signals().context("listening for SIGINT and SIGTERM")?;
            let report_dir = args.common.report.clone();
            execute::<AnprClient>(
                &args.common,
                || Ok(AnprClient::new(&args.run, report_dir, interrupted)),
                &mut stdout,
            )
            .await?
        }
    };
    Ok(match verdict {
        Verdict::Listed | Verdict::Passed => ExitCode::SUCCESS,
        Verdict::Failed => ExitCode::FAILURE,
    })
}
