//! Shared by the `cie_booking_*` tests: the booking simulator served in-process over HTTP (its
//! instance at hand for faults, recordings and the clock), the real connector's handler on the SOAP
//! adapter in front of it, the change-feed scheduler on the same broker, and a consumer runtime on
//! RabbitMQ with a tap on the events (`Flow`).

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
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{
    Event, EventTap, Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};
use snodo_queue::testing::rabbit::RabbitTestBroker;
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
        self.handler_for(&Config::development())
    }

    /// The connector's handler for the tenants of `config`, on the SOAP adapter.
    pub fn handler_for(&self, config: &Config) -> SharedHandler {
        Arc::new(BookingHandler::new(
            self.adapter.clone(),
            Arc::new(Tenants::from_config(config)),
        ))
    }

    /// Calls one of the simulator's own admin calls (`/admin/cie_booking/…`), as a test of a
    /// separate process would; the status and the JSON answer.
    pub async fn admin(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/cie_booking/{path}", self.running.admin_url()))
            .json(&body)
            .send()
            .await
            .expect("the admin API answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
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

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Flow {
    pub transport: SharedTransport,
    pub names: Names,
    pub tap: EventTap,
    pub running: Running,
}

/// The connector for the development tenants on `broker`, `concurrency` commands at a time.
pub async fn flow(broker: &RabbitTestBroker, service: &BookingService, concurrency: usize) -> Flow {
    flow_with(broker, service.handler(), concurrency).await
}

pub async fn flow_with(broker: &RabbitTestBroker, handler: SharedHandler, concurrency: usize) -> Flow {
    let transport = broker.connect().await;
    let names = unique_names();
    let mut settings = test_settings(&names, &[Duration::from_millis(50), Duration::from_millis(100)]);
    settings.concurrency = concurrency;
    settings.prefetch = concurrency as u16;
    let runtime = new_runtime(&transport, handler, settings);
    let tap = declare_for(&transport, &names, &runtime).await;
    Flow {
        transport,
        names,
        tap,
        running: Running::start(runtime),
    }
}

impl Flow {
    /// Sends one command and returns its terminal event.
    pub async fn run(&mut self, kind: &str, body: serde_json::Value) -> Event {
        let (envelope, message) = command(kind, body);
        send(&self.transport, &self.names, message).await;
        let event = self.tap.next(WAIT).await.expect("a terminal event");
        assert_eq!(event.envelope.correlation_id, Some(envelope.message_id));
        event
    }

    pub async fn completed(&mut self, kind: &str, body: serde_json::Value) -> serde_json::Value {
        let event = self.run(kind, body).await;
        assert_eq!(
            event.envelope.kind.as_str(),
            format!("{kind}.completed"),
            "{}",
            event.body
        );
        event.body
    }

    /// The next `cie_booking.appointment.changed` event, skipping others.
    pub async fn changed(&mut self) -> Event {
        loop {
            let e = self.tap.next(WAIT).await.expect("a change event");
            if e.envelope.kind.as_str() == "cie_booking.appointment.changed" {
                return e;
            }
        }
    }
}
