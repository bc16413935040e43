//! Shared by the `cie_booking_*` tests: the booking simulator served in-process over HTTP (its
//! instance at hand for faults, recordings and the clock), the real connector's handler on the SOAP
//! adapter in front of it, and the change-feed scheduler on the same broker.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use snodo_connectors::cie_booking::{BookingAdapter, BookingHandler, ChangeFeed, soap_adapter};
use snodo_connectors::config::Config;
use snodo_connectors::schedule::{Scheduler, SchedulerSettings};
use snodo_connectors::state::{MemoryStore, StateSettings};
use snodo_connectors::tenants::Tenants;
use snodo_queue::runtime::SharedHandler;
use snodo_queue::{Names, SharedTransport};
use snodo_simulators::cie_booking::{CieBookingSimulator, in_rome, population};
use snodo_simulators::framework::{
    ExchangeFilter, Fault, FaultRuleSpec, Instance, RunningSimulator, SimClock, Transport, serve,
};
use tokio_util::sync::{CancellationToken, DropGuard};

pub struct BookingService {
    pub instance: Arc<Instance>,
    pub running: RunningSimulator,
    pub adapter: Arc<dyn BookingAdapter>,
    _stop: DropGuard,
}

pub async fn start_service() -> BookingService {
    let clock = SimClock::new();
    let simulator = CieBookingSimulator::new(clock.clone()).expect("the booking simulator");
    let instance = Arc::new(Instance::new(Arc::new(simulator), clock));
    let stop = CancellationToken::new();
    let running = serve(
        instance.clone(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Transport::Http,
        stop.clone(),
    )
    .await
    .expect("serve the booking simulator");
    let adapter = soap_adapter(reqwest::Client::new(), &running.url());
    BookingService {
        instance,
        running,
        adapter,
        _stop: stop.drop_guard(),
    }
}

impl BookingService {
    /// The connector's handler for the development tenants (Milano), on the SOAP adapter.
    pub fn handler(&self) -> SharedHandler {
        Arc::new(BookingHandler::new(
            self.adapter.clone(),
            Arc::new(Tenants::from_config(&Config::development())),
        ))
    }

    /// The next `times` calls of `operation` (every operation when `None`) meet `fault`.
    pub fn fault(&self, operation: Option<&str>, times: u32, fault: Fault) {
        self.instance
            .faults()
            .add(vec![FaultRuleSpec {
                operation: operation.map(str::to_owned),
                field: None,
                times: Some(times),
                fault,
            }])
            .expect("a valid rule");
    }

    /// The `idOperazione` of every recorded call of `operation` (all when `None`), oldest first.
    pub fn operation_ids(&self, operation: Option<&str>) -> Vec<String> {
        self.instance
            .recorder()
            .query(&ExchangeFilter {
                operation: operation.map(str::to_owned),
                ..ExchangeFilter::default()
            })
            .exchanges
            .iter()
            .filter_map(|e| {
                let text = &e.request.text;
                let start = text.find("<idOperazione>")? + "<idOperazione>".len();
                let end = text[start..].find('<')? + start;
                Some(text[start..end].to_owned())
            })
            .collect()
    }

    /// Today in Rome on the simulator's clock.
    pub fn today(&self) -> chrono::NaiveDate {
        in_rome(self.instance.clock().now()).date_naive()
    }

    /// Moves the simulator's clock through its admin API, as a test of a separate process would.
    pub async fn advance_clock(&self, by: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/clock", self.running.admin_url()))
            .json(&serde_json::json!({ "advance": by }))
            .send()
            .await
            .expect("the admin API answers");
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }

    /// Runs the change feed of tenant `tenant` on `transport` until the returned guard drops.
    pub fn run_feed(&self, transport: &SharedTransport, names: &Names, tenant: &str) -> DropGuard {
        let mut settings = SchedulerSettings::new(names.clone());
        settings.interval = Duration::from_millis(100);
        settings.acquire_every = Duration::from_millis(100);
        settings.backoff_min = Duration::from_millis(100);
        settings.backoff_max = Duration::from_millis(500);
        let store = Arc::new(MemoryStore::new(StateSettings::with_prefix(names.prefix.clone())));
        let scheduler = Scheduler::new(
            Arc::new(ChangeFeed::new(self.adapter.clone(), tenant)),
            store,
            transport.clone(),
            settings,
        )
        .expect("scheduler settings");
        let stop = CancellationToken::new();
        tokio::spawn(scheduler.run(stop.clone()));
        stop.drop_guard()
    }
}

/// Codici fiscali of `n` residents of the shared population.
pub fn people(n: usize) -> Vec<String> {
    population()
        .iter()
        .take(n)
        .map(|p| p.codice_fiscale.as_str().to_owned())
        .collect()
}

/// The first `day` of the week at least `after` days after `from`.
pub fn next(from: chrono::NaiveDate, day: chrono::Weekday, after: i64) -> chrono::NaiveDate {
    use chrono::Datelike;
    (from + chrono::Duration::days(after))
        .iter_days()
        .find(|d| d.weekday() == day)
        .expect("a week has every day")
}

pub fn slot(office: &str, day: chrono::NaiveDate, hhmm: &str) -> String {
    format!("{office}-{}-{hhmm}", day.format("%Y%m%d"))
}

pub fn book_body(slot: &str, cf: &str) -> serde_json::Value {
    serde_json::json!({
        "schema": 1, "slot_id": slot, "reason": "first_document",
        "citizen": {"codice_fiscale": cf, "surname": "Rossi", "given_name": "Maria",
                    "email": "maria.rossi@example.it"}
    })
}
