//! `snodo bench pagopa`: complete payments — paVerifyPaymentNotice, paGetPaymentV2, paSendRTV2 —
//! driven by the node simulator (in process, as its scenario runner drives them: mutual TLS, every
//! answer judged against `paForNode.xsd` and the node's semantic checks) against the pagoPA connector
//! built as `snodo up` builds it, with a backend stub answering `pagopa.position.get` over RabbitMQ
//! and consuming the receipt events. Prints complete payments per second and, per primitive, latency
//! percentiles as the node measured them; counts the receipt events the backend received, so a run
//! that loses one says so.
//!
//! Issue 6's aim on this 2-core machine (broker, simulator, connector and load generator sharing it):
//! at least 200 complete payments per second, p99 per primitive under 200 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use snodo_mappings::pagopa::NoticeNumber;
use snodo_mappings::pagopa::contract::{
    Credit, EntityType, Payable, PaymentPosition, PositionRequest, Subject, Transfer,
};
use snodo_queue::envelope::{Envelope, MessageType, Outcome};
use snodo_queue::request::reply_to;
use snodo_queue::topology::SubscriberQueue;
use snodo_queue::{ConsumeOptions, SharedTransport, Topology};
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_simulators::framework::{Instance, SimClock, Transport, serve};
use snodo_simulators::pagopa::payment::{PayRequest, StandIn, Version, pay};
use snodo_simulators::pagopa::settings::{EcTarget, EcTls};
use snodo_simulators::pagopa::{NodeSettings, PagopaNode};
use tokio_util::sync::CancellationToken;

use super::platform::BenchBase;
use super::report::{Report, Row};

const TENANT: &str = "015146";
const EC: &str = "01199250158";
const STATION: &str = "01199250158_01";

#[derive(clap::Args)]
pub struct PagopaBenchArgs {
    /// Complete payments to make.
    #[arg(long, default_value_t = 3_000)]
    payments: u64,
    /// Payments in progress at once (PSPs paying at the same time). 16 keep both cores busy here;
    /// more add queueing latency, not throughput.
    #[arg(long, default_value_t = 16)]
    concurrency: u64,
    /// The RabbitMQ the connector and the backend stub use.
    #[arg(
        long,
        env = "SNODO_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp: String,
}

/// Latencies of one primitive, in microseconds.
struct Primitive {
    name: &'static str,
    latency: Histogram<u64>,
}

pub async fn measure(args: PagopaBenchArgs) -> anyhow::Result<Report> {
    println!(
        "snodo bench pagopa — {} cores, {} payments, {} at once, RabbitMQ {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.payments,
        args.concurrency,
        args.amqp
    );
    let base = BenchBase::connect("pagopa", &args.amqp).await?;
    let (transport, names, pki, stop) = (
        base.transport.clone(),
        base.names.clone(),
        base.pki.clone(),
        base.stop.clone(),
    );

    // The inbound listener first: the node must know the station's URL.
    let inbound = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let inbound_port = inbound.local_addr()?.port();

    // The node simulator, served for the connector's REST calls, driven directly for payments.
    let settings = NodeSettings {
        ec: EcTarget {
            url: format!("https://127.0.0.1:{inbound_port}/pagopa/{STATION}"),
            tls: EcTls::DevelopmentPki,
            ..EcTarget::development()
        },
        dev_pki_dir: crate::simulate::default_pki_dir(),
        ..NodeSettings::default()
    };
    let clock = SimClock::new();
    let node = PagopaNode::new(clock.clone(), settings);
    let core = node.core().clone();
    let node_tls = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Optional(pki.trust_anchors()),
    ))?;
    let simulator = serve(
        Arc::new(Instance::new(Arc::new(node), clock.clone())),
        "127.0.0.1:0".parse()?,
        Transport::Https(node_tls),
        stop.clone(),
    )
    .await?;

    // The connector as `snodo up` builds it, reporting off (nothing to report in a benchmark).
    let mut config = BenchBase::config_with_endpoint("pagopa", simulator.url());
    config.pagopa.reporting.enabled = false;
    let config = Arc::new(config);
    let context = base.context(config.clone()).await?;
    let parts = (snodo_connectors::pagopa::REGISTRATION.build)(&context)
        .map_err(|e| anyhow::anyhow!("building the pagoPA connector: {e}"))?;
    let events_queue = format!("{}.bench.events", names.prefix);
    let requests_queue = format!("{}.bench.requests", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[],
        &[SubscriberQueue {
            queue: events_queue.clone(),
            patterns: vec!["pagopa.#".into()],
        }],
        &[SubscriberQueue {
            queue: requests_queue.clone(),
            patterns: vec!["pagopa.#".into()],
        }],
    );
    transport
        .declare(&topology)
        .await
        .context("declaring the bench topology")?;
    let router = parts.inbound.context("the pagoPA connector has no EC endpoint")?;
    let inbound_tls = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Optional(pki.trust_anchors()),
    ))?;
    let inbound_stop = stop.clone();
    tokio::spawn(async move {
        inbound_tls
            .serve(inbound, router, inbound_stop.cancelled_owned())
            .await
    });

    let receipts = Arc::new(AtomicU64::new(0));
    tokio::spawn(answer_positions(
        transport.clone(),
        requests_queue.clone(),
        stop.clone(),
    ));
    tokio::spawn(count_receipts(
        transport.clone(),
        events_queue.clone(),
        receipts.clone(),
        stop.clone(),
    ));

    // One warm-up payment: TLS sessions, the PKI, libxml2's schema.
    let base = 3_000_000_000 + u64::from(uuid::Uuid::new_v4().as_u128() as u32) * 1_000;
    let warm = pay_one(&core, base).await;
    if warm.result != "paid" {
        bail!("the warm-up payment failed: {}", serde_json::to_string(&warm)?);
    }

    let primitives = Arc::new(Mutex::new(vec![
        Primitive {
            name: "paVerifyPaymentNotice",
            latency: Histogram::new(3)?,
        },
        Primitive {
            name: "paGetPaymentV2",
            latency: Histogram::new(3)?,
        },
        Primitive {
            name: "paSendRTV2",
            latency: Histogram::new(3)?,
        },
    ]));
    let whole = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (core, next, primitives, whole, failures) = (
            core.clone(),
            next.clone(),
            primitives.clone(),
            whole.clone(),
            failures.clone(),
        );
        let n = args.payments;
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let began = Instant::now();
                let report = pay_one(&core, base + 1 + i).await;
                let ended = core.clock.now();
                whole.lock().record(began.elapsed().as_micros() as u64).ok();
                if report.result != "paid" || report.steps.len() != 3 {
                    failures
                        .lock()
                        .push(serde_json::to_string(&report).unwrap_or_default());
                    continue;
                }
                let s = &report.steps;
                let spans = [s[1].at - s[0].at, s[2].at - s[1].at, ended - s[2].at];
                let mut p = primitives.lock();
                for (k, span) in spans.iter().enumerate() {
                    let micros = span.num_microseconds().unwrap_or(i64::MAX).max(0) as u64;
                    p[k].latency.record(micros).ok();
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let failed = failures.lock().len() as u64;
    let paid = args.payments - failed;

    // Every paid payment's receipt must reach the backend (plus the warm-up's).
    let expected = paid + 1;
    let waiting = Instant::now();
    while receipts.load(Ordering::Relaxed) < expected && waiting.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = receipts.load(Ordering::Relaxed);

    let q = |h: &Histogram<u64>, p: f64| Duration::from_micros(h.value_at_quantile(p));
    println!(
        "{paid} complete payments in {elapsed:.2?}: {:.0} payments/s   (aim: at least 200)",
        paid as f64 / elapsed.as_secs_f64()
    );
    let w = whole.lock().clone();
    println!(
        "{:<24} p50 {:>9.2?}   p99 {:>9.2?}   p99.9 {:>9.2?}   max {:>9.2?}",
        "whole payment",
        q(&w, 0.5),
        q(&w, 0.99),
        q(&w, 0.999),
        Duration::from_micros(w.max())
    );
    let primitives: Vec<(&str, Histogram<u64>)> = primitives
        .lock()
        .iter()
        .map(|p| (p.name, p.latency.clone()))
        .collect();
    for (name, latency) in &primitives {
        println!(
            "{:<24} p50 {:>9.2?}   p99 {:>9.2?}   p99.9 {:>9.2?}   max {:>9.2?}   (aim: p99 under 200 ms)",
            name,
            q(latency, 0.5),
            q(latency, 0.99),
            q(latency, 0.999),
            Duration::from_micros(latency.max())
        );
    }
    println!("receipt events the backend received: {received} of {expected}");
    let first_failure = failures.lock().first().cloned();
    if let Some(first) = first_failure {
        println!("{failed} payments failed; the first: {first}");
    }
    stop.cancel();
    for queue in topology.queue_names() {
        let _ = transport.delete_queue(queue).await;
    }
    transport.close().await;
    let mut report = Report::new("pagopa");
    report.rows.push(Row::timed(
        "complete payments (verify + activation + receipt), node → connector → node",
        "payments",
        paid,
        failed,
        elapsed,
        &w,
    ));
    for (name, latency) in &primitives {
        let mut row = Row::timed(format!("  {name}"), "calls", paid, failed, elapsed, latency);
        // Each primitive runs once per payment: its rate is the payments', not a throughput of its own.
        row.per_second = None;
        report.rows.push(row);
    }
    if let Some(first) = failures.lock().first() {
        report.fail(first.clone());
    }
    if received < expected {
        report.fail(format!("{received} of {expected} receipt events received"));
    }
    Ok(report)
}

async fn pay_one(
    core: &Arc<snodo_simulators::pagopa::NodeCore>,
    iuv_base: u64,
) -> snodo_simulators::pagopa::payment::PaymentReport {
    let notice = NoticeNumber::aux3(2, iuv_base % 10_000_000_000_000).expect("13 digits at most");
    pay(
        core,
        &PayRequest {
            notice_number: notice.to_string(),
            fiscal_code: None,
            version: Version::V2,
            idempotency_key: None,
            stand_in: StandIn::Never,
        },
    )
    .await
}

/// The backend stub: every notice is payable, 25.00 € split between the Comune and a second EC.
async fn answer_positions(transport: SharedTransport, queue: String, stop: CancellationToken) {
    let Ok(mut requests) = transport.consume(&queue, ConsumeOptions { prefetch: 256 }).await else {
        eprintln!("bench pagopa: cannot consume {queue}");
        return;
    };
    loop {
        let delivery = tokio::select! {
            _ = stop.cancelled() => return,
            d = requests.next() => match d { Some(d) => d, None => return },
        };
        let transport = transport.clone();
        tokio::spawn(async move {
            let request = delivery.message.clone();
            let kind = request.properties.kind.clone().unwrap_or_default();
            let (outcome, body) = match serde_json::from_slice::<PositionRequest>(&request.body) {
                Ok(r) => (Outcome::Completed, serde_json::to_value(position(&r.iuv))),
                Err(e) => (Outcome::Failed, Ok(serde_json::json!({ "error": e.to_string() }))),
            };
            let reply_kind = kind
                .parse::<MessageType>()
                .map(|k| k.outcome(outcome))
                .unwrap_or_else(|_| "pagopa.position.get.failed".parse().expect("a valid type"));
            let body = serde_json::to_vec(&body.expect("contract types serialize")).expect("JSON");
            let reply = Envelope::command(reply_kind).with_tenant(TENANT).to_message(body);
            if let Err(e) = reply_to(&transport, &request, reply).await {
                eprintln!("bench pagopa: a position reply was not sent: {e}");
            }
            let _ = delivery.ack().await;
        });
    }
}

fn position(iuv: &str) -> PaymentPosition {
    let transfer = |cents: u64, fiscal_code: &str| Transfer {
        amount_cents: cents,
        fiscal_code: fiscal_code.into(),
        company_name: None,
        credit: Credit::Account {
            iban: "IT60X0542811101000000123456".into(),
            postal_iban: None,
        },
        remittance_information: "TARI 2025 benchmark".into(),
        category: "9/0101101IM/".into(),
        metadata: Vec::new(),
    };
    PaymentPosition::Payable(Payable {
        iuv: iuv.to_owned(),
        notice_number: None,
        amount_cents: 2_500,
        due_date: "2030-12-31".into(),
        retention_date: None,
        description: "TARI 2025 benchmark".into(),
        detail_description: None,
        company_name: "Comune di Milano".into(),
        office_name: None,
        debtor: Subject {
            entity_type: EntityType::F,
            unique_identifier: "RSSMRA80A01F205X".into(),
            full_name: "Debitore di prova".into(),
            street_name: None,
            civic_number: None,
            postal_code: None,
            city: None,
            state_province_region: None,
            country: None,
            email: None,
        },
        transfers: vec![transfer(2_375, EC), transfer(125, "08911820960")],
        metadata: Vec::new(),
    })
}

async fn count_receipts(
    transport: SharedTransport,
    queue: String,
    count: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let Ok(mut events) = transport.consume(&queue, ConsumeOptions { prefetch: 512 }).await else {
        eprintln!("bench pagopa: cannot consume {queue}");
        return;
    };
    loop {
        let delivery = tokio::select! {
            _ = stop.cancelled() => return,
            d = events.next() => match d { Some(d) => d, None => return },
        };
        if delivery.message.properties.kind.as_deref() == Some("pagopa.receipt.received") {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let _ = delivery.ack().await;
    }
}
