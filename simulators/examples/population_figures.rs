//! Measures the synthetic population at city scale: build time, what it stores, the process's resident
//! memory, and lookup rates. The figures in `simulators/README.md` come from here:
//!
//! ```sh
//! cargo run --release -p snodo-simulators --example population_figures -- 1400000
//! ```

use std::time::Instant;

use snodo_simulators::population::person::PersonId;
use snodo_simulators::population::{Population, PopulationConfig};

/// A line of `/proc/self/status` in kB (Linux); `None` elsewhere.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let residents: u32 = std::env::args().nth(1).map_or(Ok(1_400_000), |a| a.parse())?;
    let rss_before = status_kb("VmRSS:").unwrap_or(0);

    let started = Instant::now();
    let population = Population::build(PopulationConfig::development(1, residents))?;
    let build = started.elapsed();
    let footprint = population.footprint();
    let rss_after = status_kb("VmRSS:").unwrap_or(0);
    let peak = status_kb("VmHWM:").unwrap_or(0);
    println!(
        "built {} people ({} residents, {} households, {} streets) in {:.2} s on {} threads",
        footprint.people,
        population.residents(),
        footprint.households,
        footprint.streets,
        build.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
    );
    println!(
        "stored: {:.1} MB ({:.1} bytes a person); process RSS {:.1} MB -> {:.1} MB, peak {:.1} MB",
        footprint.heap_bytes as f64 / 1e6,
        footprint.heap_bytes as f64 / f64::from(footprint.people),
        rss_before as f64 / 1e3,
        rss_after as f64 / 1e3,
        peak as f64 / 1e3
    );

    let n = 200_000u32;
    let step = (population.len() / n).max(1);
    let started = Instant::now();
    let codes: Vec<String> = (0..n)
        .map(|i| PersonId((i * step) % population.len()))
        .filter_map(|id| population.person(id))
        .map(|p| p.codice_fiscale.to_string())
        .collect();
    let by_index = started.elapsed();
    let started = Instant::now();
    let found = codes.iter().filter(|c| population.find(c).is_some()).count();
    let by_code = started.elapsed();
    assert_eq!(found, codes.len(), "every generated code is found");
    println!(
        "person by index: {:.0}/s; person by codice fiscale: {:.0}/s",
        codes.len() as f64 / by_index.as_secs_f64(),
        codes.len() as f64 / by_code.as_secs_f64()
    );

    let started = Instant::now();
    let omocodic = population.omocodic_people().count();
    let alive = population.iter().filter(|p| p.death_date.is_none()).count();
    println!(
        "iterated everyone in {:.2} s; {omocodic} omocodic codes; {alive} never die in the window",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
