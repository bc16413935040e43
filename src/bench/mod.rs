//! `snodo bench …`: load generators that print figures. Timing thresholds never go in tests on this noisy
//! 2-core machine; a benchmark prints numbers and, where it has one, the ratio to a baseline measured in
//! the same run.

use std::process::ExitCode;

mod all;
mod anpr;
mod anpr_bulk;
mod cie_booking;
mod identity;
mod load;
mod pagopa;
mod platform;
mod raw_lapin;
mod report;
mod transport;
mod xml;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(clap::Subcommand)]
enum Bench {
    /// Every benchmark below with modest sizes, each in its own process, and one table of the figures (throughput, p50/p99, ratio to each baseline, peak memory).
    All(all::AllBenchArgs),
    /// `snodo.ping` commands through the consumer runtime on each transport, beside a raw lapin baseline.
    Transport(transport::TransportBenchArgs),
    /// Parse, canonicalization, signing and verification of a SPID Response and an ANPR request, beside the xmlsec1 CLI.
    Xml(xml::XmlBenchArgs),
    /// Complete pagoPA payments (verify, activation, receipt) driven by the node simulator against the connector over RabbitMQ.
    Pagopa(pagopa::PagopaBenchArgs),
    /// SPID logins through the ACS (signed Response → event confirmed by RabbitMQ → 303) with the IdP simulator.
    Identity(identity::IdentityBenchArgs),
    /// CIE booking searches and bookings end to end: RabbitMQ → connector → booking simulator → event.
    CieBooking(cie_booking::CieBookingBenchArgs),
    /// Signed ANPR resident lookups (3002) end to end: RabbitMQ → connector → ANPR simulator → event.
    Anpr(anpr::AnprBenchArgs),
    /// A whole city (1.4 million residents) re-read through ANPR bulk jobs: 4002 chunks of ≤ 2,000, 4005 pages polled on the scheduler.
    AnprBulk(anpr_bulk::AnprBulkBenchArgs),
}

/// Benchmarks log at `warn` unless `SNODO_LOG` says otherwise: they measure the work, not the log
/// formatting (`snodo up` pays for its per-message spans at `info`).
pub fn default_log_filter() -> &'static str {
    "warn,lapin=error"
}

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.bench {
        Bench::All(a) => all::run(a).await,
        Bench::Transport(a) => report::finish(transport::measure(a).await?),
        Bench::Xml(a) => report::finish(xml::measure(a)?),
        Bench::Pagopa(a) => report::finish(pagopa::measure(a).await?),
        Bench::Identity(a) => report::finish(identity::measure(a).await?),
        Bench::CieBooking(a) => report::finish(cie_booking::measure(a).await?),
        Bench::Anpr(a) => report::finish(anpr::measure(a).await?),
        Bench::AnprBulk(a) => report::finish(anpr_bulk::measure(a).await?),
    }
}
