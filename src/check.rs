//! `snodo check`: validates the configuration (file, key and reason on error) and, when a RabbitMQ URL is
//! configured, that the broker answers. Exits non-zero when anything is wrong.

use std::path::Path;
use std::process::ExitCode;

use snodo_connectors::config;

pub async fn run(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = match config::load(file) {
        Ok(c) => c,
        Err(e) => {
            println!("configuration: INVALID\n  {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "configuration: ok ({})",
        file.map(|f| f.display().to_string())
            .unwrap_or_else(|| "development defaults".into())
    );
    for t in &config.tenants {
        println!(
            "  tenant {} {} (codice fiscale {}, {}; {:?})",
            t.istat, t.name, t.fiscal_code, t.cadastral_code, t.environment
        );
    }
    for b in &config.backends {
        println!("  backend {}: events → {} {:?}", b.name, b.events_queue, b.events);
    }
    match &config.transport.amqp_url {
        None => println!("transport: embedded (development only)"),
        Some(_) => match crate::transport::connect(&config, "snodo check").await {
            Ok(t) => {
                println!("transport: RabbitMQ reachable");
                t.close().await;
            }
            Err(e) => {
                println!("transport: RabbitMQ UNREACHABLE: {e:#}");
                return Ok(ExitCode::FAILURE);
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
