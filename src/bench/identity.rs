//! `snodo bench identity`: SPID logins through the Assertion Consumer Service, end to end — the POST of
//! a signed Response, every check of the checklist (signature against the IdP's metadata key, the
//! pending request found and consumed in the coordination store, the assertion replay cache), the
//! `identity.login.succeeded` event confirmed by RabbitMQ, and the 303 to the return URL with a ticket.
//! The SP is the identity connector built as `snodo up` builds it, served on the inbound HTTPS
//! listener as `snodo up` serves it (`crate::inbound::serve`: OpenSSL, the development PKI's server
//! certificate, client certificates requested); the IdP is the simulator in process.
//!
//! Three series, each with its own Responses, prepared before the clock starts (each needs its own
//! AuthnRequest: login, SSO, simulator login), so the figures are the ACS alone:
//! - plain HTTP, the same routes on a second listener: the reference, what the ACS costs without TLS;
//! - HTTPS over kept-alive connections: a reverse proxy or a browser reusing its connection;
//! - HTTPS with a new connection, so a full TLS handshake, per login: citizens' browsers coming
//!   back from the IdP each on their own — the figure the aim is about.
//!
//! Issue 7's aim on this 2-core machine (broker, simulator, SP and load generator sharing it): at least
//! 500 logins per second, p99 under 50 ms.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_queue::topology::SubscriberQueue;
use snodo_queue::{ConsumeOptions, SharedTransport, Topology};
use snodo_security::devpki::DevPki;
use snodo_security::saml::redirect::url_encode;
use snodo_simulators::framework::{Instance, SimClock, Transport, serve};
use snodo_simulators::identity::IdentityProvider;
use tokio_util::sync::CancellationToken;

use super::platform::BenchBase;
use super::report::{Report, Row};

const TENANT: &str = "015146";

#[derive(clap::Args)]
pub struct IdentityBenchArgs {
    /// Logins per series (each a fresh AuthnRequest and signed Response, prepared before timing).
    #[arg(long, default_value_t = 2_000)]
    logins: u64,
    /// ACS POSTs in flight at once (browsers coming back from the IdP at the same time).
    #[arg(long, default_value_t = 16)]
    concurrency: u64,
    /// The RabbitMQ the SP publishes its events on.
    #[arg(
        long,
        env = "SNODO_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp: String,
}

/// What the browser posts back to the ACS.
struct Prepared {
    acs_url: String,
    body: String,
}

pub async fn measure(args: IdentityBenchArgs) -> anyhow::Result<Report> {
    println!(
        "snodo bench identity — {} cores, {} logins per series, {} at once, RabbitMQ {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.logins,
        args.concurrency,
        args.amqp
    );
    let bench = BenchBase::connect("identity", &args.amqp).await?;
    let (transport, names, pki, stop) = (
        bench.transport.clone(),
        bench.names.clone(),
        bench.pki.clone(),
        bench.stop.clone(),
    );

    // The IdP simulator, in process.
    let clock = SimClock::new();
    let idp = IdentityProvider::new(clock.clone());
    let simulator = serve(
        Arc::new(Instance::new(Arc::new(idp.clone()), clock)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Transport::Http,
        stop.clone(),
    )
    .await?;
    idp.set_base_url(&simulator.url());

    // The SP as `snodo up` builds it, its public URLs pointing at the inbound listener of this run
    // (a free port, found before the connector is built: its metadata names the ACS).
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let base = format!("https://127.0.0.1:{port}");
    let return_url = format!("{base}/bench/landing");
    let mut config = BenchBase::config_with_endpoint("identity", simulator.url());
    config.listeners.inbound = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let tenant = config
        .tenants
        .first_mut()
        .context("the development configuration has a tenant")?;
    tenant.public_base_url = base.clone();
    if let Some(identity) = tenant.identity.as_mut() {
        identity.return_urls = vec![return_url.clone()];
    }
    let config = Arc::new(config);
    let context = bench.context(config.clone()).await?;
    let parts = (snodo_connectors::identity::REGISTRATION.build)(&context)
        .map_err(|e| anyhow::anyhow!("building the identity connector: {e}"))?;
    // The IdP metadata refresh, which also registers our SP metadata with the simulator.
    for task in parts.background {
        tokio::spawn(async move {
            if let Err(e) = task.await {
                eprintln!("bench identity: a background task ended: {e}");
            }
        });
    }
    let events_queue = format!("{}.bench.events", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[],
        &[SubscriberQueue {
            queue: events_queue.clone(),
            patterns: vec!["identity.#".into()],
        }],
        &[],
    );
    transport
        .declare(&topology)
        .await
        .context("declaring the bench topology")?;
    let router = parts
        .inbound
        .context("the identity connector has no inbound router")?;
    crate::inbound::serve(&config, Some(&pki), router.clone(), stop.clone())
        .await
        .context("serving the inbound HTTPS listener")?;
    let plain = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let plain_base = format!("http://{}", plain.local_addr()?);
    let serve_stop = stop.clone();
    tokio::spawn(async move {
        axum::serve(plain, router)
            .with_graceful_shutdown(serve_stop.cancelled_owned())
            .await
    });
    let succeeded = Arc::new(AtomicU64::new(0));
    tokio::spawn(count_logins(
        transport.clone(),
        events_queue,
        succeeded.clone(),
        stop.clone(),
    ));

    let kept_alive = https_client(&pki, Some(args.concurrency as usize * 2))?;
    let walk = Walk {
        http: kept_alive.clone(),
        login_url: format!("{base}/identity/{TENANT}/login"),
        idp_entity_id: format!("{}/spid", simulator.url()),
        idp_login: format!("{}/spid/login", simulator.url()),
        return_url: return_url.clone(),
        fiscal_code: String::new(),
    };
    let walk = Arc::new(Walk {
        fiscal_code: walk.ready(&simulator.url()).await?,
        ..walk
    });

    let series = [
        Series {
            subject: "SPID logins over plain HTTP (reference), ACS POST → event confirmed → 303",
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(args.concurrency as usize * 2)
                .build()?,
            origin: Some(plain_base),
        },
        Series {
            subject: "SPID logins over HTTPS, kept-alive connections, ACS POST → event confirmed → 303",
            client: kept_alive,
            origin: None,
        },
        Series {
            subject: "SPID logins over HTTPS, a new TLS connection each, ACS POST → event confirmed → 303",
            client: https_client(&pki, None)?,
            origin: None,
        },
    ];

    // Prepare every Response (one warm-up per series besides), a few at a time: the simulator signs each.
    let prep_started = Instant::now();
    let wanted = (args.logins + 1) * series.len() as u64;
    let prepared = Arc::new(Mutex::new(Vec::with_capacity(wanted as usize)));
    let mut workers = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicU64::new(0));
    for _ in 0..args.concurrency.min(8) {
        let (walk, next, prepared) = (walk.clone(), next.clone(), prepared.clone());
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < wanted {
                let p = walk.prepare().await?;
                prepared.lock().push(p);
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let mut prepared = std::mem::take(&mut *prepared.lock());
    println!(
        "prepared {} signed Responses in {:.2?} (not timed)",
        prepared.len(),
        prep_started.elapsed()
    );

    let mut report = Report::new("identity");
    let mut expected = 0;
    let mut baseline: Option<f64> = None;
    for s in &series {
        let batch: Vec<Prepared> = prepared
            .drain(..(args.logins as usize + 1).min(prepared.len()))
            .map(|p| Prepared {
                acs_url: match &s.origin {
                    Some(origin) => p.acs_url.replacen(&base, origin, 1),
                    None => p.acs_url,
                },
                body: p.body,
            })
            .collect();
        let outcome = run_series(&s.client, batch, &return_url, args.concurrency).await?;
        expected += outcome.logged_in + 1;
        let h = &outcome.latency;
        let q = |p: f64| Duration::from_micros(h.value_at_quantile(p));
        let rate = outcome.logged_in as f64 / outcome.elapsed.as_secs_f64();
        println!("{}", s.subject);
        println!(
            "  {} logins in {:.2?}: {rate:.0} logins/s{}   p50 {:>9.2?}   p99 {:>9.2?}   p99.9 {:>9.2?}   max {:>9.2?}",
            outcome.logged_in,
            outcome.elapsed,
            baseline
                .map(|b| format!(" ({:.2}× plain HTTP)", rate / b))
                .unwrap_or_default(),
            q(0.5),
            q(0.99),
            q(0.999),
            Duration::from_micros(h.max())
        );
        let mut row = Row::timed(
            s.subject,
            "logins",
            outcome.logged_in,
            outcome.failures.len() as u64,
            outcome.elapsed,
            h,
        );
        match baseline {
            Some(b) => row = row.with_ratio("plain HTTP", rate / b),
            None => baseline = Some(rate),
        }
        report.rows.push(row);
        if let Some(first) = outcome.failures.first() {
            println!("  {} logins failed; the first: {first}", outcome.failures.len());
            report.fail(first.clone());
        }
    }
    println!("aim, for HTTPS with a new connection per login: at least 500 logins/s, p99 under 50 ms");

    // Every login's event must be in the backend's queue (warm-ups included).
    let waiting = Instant::now();
    while succeeded.load(Ordering::Relaxed) < expected && waiting.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = succeeded.load(Ordering::Relaxed);
    println!("identity.login.succeeded events the backend received: {received} of {expected}");
    if received < expected {
        report.fail(format!("{received} of {expected} login events received"));
    }
    stop.cancel();
    for queue in topology.queue_names() {
        let _ = transport.delete_queue(queue).await;
    }
    transport.close().await;
    Ok(report)
}

/// One measured series: how the browser reaches the ACS.
struct Series {
    subject: &'static str,
    client: reqwest::Client,
    /// Posts to this origin instead of the Response's ACS URL's (the plain HTTP listener).
    origin: Option<String>,
}

struct SeriesOutcome {
    logged_in: u64,
    failures: Vec<String>,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// A warm-up login (the first of `batch`: connections, the registry's key, the broker channel), then
/// the rest, `concurrency` at a time, timed.
async fn run_series(
    http: &reqwest::Client,
    mut batch: Vec<Prepared>,
    return_url: &str,
    concurrency: u64,
) -> anyhow::Result<SeriesOutcome> {
    let warm = batch.pop().context("nothing prepared")?;
    if let Err(e) = post_to_acs(http, &warm, return_url).await {
        bail!("the warm-up login failed: {e}");
    }
    let count = batch.len() as u64;
    let queue = Arc::new(Mutex::new(batch));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, queue, latency, failures, return_url) = (
            http.clone(),
            queue.clone(),
            latency.clone(),
            failures.clone(),
            return_url.to_owned(),
        );
        workers.spawn(async move {
            loop {
                let Some(p) = queue.lock().pop() else { return };
                let began = Instant::now();
                let outcome = post_to_acs(&http, &p, &return_url).await;
                latency.lock().record(began.elapsed().as_micros() as u64).ok();
                if let Err(e) = outcome {
                    failures.lock().push(e);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let failures = std::mem::take(&mut *failures.lock());
    let latency = latency.lock().clone();
    Ok(SeriesOutcome {
        logged_in: count - failures.len() as u64,
        failures,
        elapsed,
        latency,
    })
}

/// A browser's HTTPS client: trusts the development CA only, follows no redirect (the 303 is the
/// answer measured); `keep` idle connections per host, or none (every login its own handshake).
fn https_client(pki: &DevPki, keep: Option<usize>) -> anyhow::Result<reqwest::Client> {
    let mut roots = Vec::new();
    for ca in pki.trust_anchors().certificates() {
        roots.push(reqwest::Certificate::from_pem(&ca.to_pem()?)?);
    }
    Ok(reqwest::Client::builder()
        .tls_backend_native()
        .tls_certs_only(roots)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(keep.unwrap_or(0))
        .build()?)
}

/// A browser's way from the SP's login to the form the IdP posts back, through the simulator's JSON face.
struct Walk {
    http: reqwest::Client,
    login_url: String,
    idp_entity_id: String,
    idp_login: String,
    return_url: String,
    fiscal_code: String,
}

impl Walk {
    /// Waits until the SP trusts the simulator and the simulator knows the SP (the connector's first
    /// metadata refresh does both), and picks a test user; returns its codice fiscale.
    async fn ready(&self, simulator: &str) -> anyhow::Result<String> {
        let people: Value = self
            .http
            .get(format!("{simulator}/spid/people?limit=1"))
            .send()
            .await?
            .json()
            .await?;
        let fiscal_code = people["people"][0]["fiscal_code"]
            .as_str()
            .context("the simulator lists no test user")?
            .to_owned();
        let probe = Walk {
            http: self.http.clone(),
            login_url: self.login_url.clone(),
            idp_entity_id: self.idp_entity_id.clone(),
            idp_login: self.idp_login.clone(),
            return_url: self.return_url.clone(),
            fiscal_code: fiscal_code.clone(),
        };
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            match probe.prepare().await {
                Ok(_) => return Ok(fiscal_code),
                Err(e) if Instant::now() > until => {
                    bail!("the SP and the IdP simulator did not get to know each other: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn prepare(&self) -> anyhow::Result<Prepared> {
        let login = self
            .http
            .get(format!(
                "{}?federation=spid&idp={}&level=2&return={}",
                self.login_url,
                url_encode(&self.idp_entity_id),
                url_encode(&self.return_url)
            ))
            .send()
            .await?;
        if login.status() != 302 {
            bail!(
                "the SP's login answered {}: {}",
                login.status(),
                login.text().await?
            );
        }
        let location = login
            .headers()
            .get("location")
            .context("a redirect without Location")?
            .to_str()?
            .to_owned();
        let sso = self
            .http
            .get(location)
            .header("accept", "application/json")
            .send()
            .await?;
        if sso.status() != 200 {
            bail!(
                "the simulator's SSO answered {}: {}",
                sso.status(),
                sso.text().await?
            );
        }
        let sso: Value = sso.json().await?;
        let ticket = sso["ticket"].as_str().context("no login ticket")?;
        let answer = self
            .http
            .post(&self.idp_login)
            .header("accept", "application/json")
            .json(&json!({
                "ticket": ticket,
                "fiscal_code": self.fiscal_code,
                "level": "2",
                "outcome": "success",
            }))
            .send()
            .await?;
        if answer.status() != 200 {
            bail!("the simulator's login answered {}", answer.status());
        }
        let answer: Value = answer.json().await?;
        let mut body = format!(
            "SAMLResponse={}",
            url_encode(answer["SAMLResponse"].as_str().context("no SAMLResponse")?)
        );
        if let Some(relay) = answer["RelayState"].as_str() {
            body.push_str(&format!("&RelayState={}", url_encode(relay)));
        }
        Ok(Prepared {
            acs_url: answer["acs_url"].as_str().context("no acs_url")?.to_owned(),
            body,
        })
    }
}

/// One login: the ACS must answer 303 to the return URL with a ticket.
async fn post_to_acs(http: &reqwest::Client, p: &Prepared, return_url: &str) -> Result<(), String> {
    let reply = http
        .post(&p.acs_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(p.body.clone())
        .send()
        .await
        .map_err(|e| format!("the ACS did not answer: {e}"))?;
    let location = reply
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if reply.status() != 303 || !location.starts_with(return_url) || !location.contains("ticket=") {
        return Err(format!(
            "the ACS answered {} (Location {location:?}): {}",
            reply.status(),
            reply.text().await.unwrap_or_default()
        ));
    }
    Ok(())
}

async fn count_logins(
    transport: SharedTransport,
    queue: String,
    count: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let Ok(mut events) = transport.consume(&queue, ConsumeOptions { prefetch: 512 }).await else {
        eprintln!("bench identity: cannot consume {queue}");
        return;
    };
    loop {
        let delivery = tokio::select! {
            _ = stop.cancelled() => return,
            d = events.next() => match d { Some(d) => d, None => return },
        };
        if delivery.message.properties.kind.as_deref() == Some("identity.login.succeeded") {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let _ = delivery.ack().await;
    }
}
