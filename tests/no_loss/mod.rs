//! The no-loss harness (issue 10): several real `snodo up --no-simulators` processes on one private
//! RabbitMQ node and one Redis, `snodo simulate` in its own process, a TCP load balancer in front of
//! the instances' inbound listeners, and a test backend answering the pagoPA position questions. The
//! fault test (`tests/no_loss_faults.rs`) and the scale-out test (`tests/scale_out.rs`) both run on it.
//!
//! - [`workloads`]: one command generator per connector, behind the `Workload` trait;
//! - [`logins`]: SPID and CIE ID logins walked as a browser walks them, through the balancer;
//! - [`ledger`]: what was sent, what came back, and the proof;
//! - [`process`], [`balancer`]: the processes and the load balancer;
//! - [`faults`]: fault windows through the simulators' admin API, and the payments the node drives.

#![allow(dead_code)]

pub mod balancer;
pub mod faults;
pub mod ledger;
pub mod logins;
pub mod process;
pub mod workloads;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_mappings::pagopa::contract::{
    Credit, EntityType, MapEntry, Payable, PaymentPosition, Subject, Transfer,
};
use snodo_queue::envelope::{Envelope, MessageType, Outcome};
use snodo_queue::request::reply_to;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::{ConsumeOptions, SharedTransport};
use tokio_util::sync::CancellationToken;

use balancer::Balancer;
use process::{Instance, InstanceSpec, Simulators};

/// The queues of the development configuration's `demo` backend, which `snodo up` declares even with
/// `--no-simulators` (the demo backend itself does not run then): the harness plays that backend.
pub const EVENTS_QUEUE: &str = "demo.events";
pub const REQUESTS_QUEUE: &str = "demo.requests";
pub const STATION: &str = "01199250158_01";
pub const SIMULATORS: [&str; 4] = ["anpr", "cie_booking", "identity", "pagopa"];

/// Settings of one cluster.
pub struct ClusterSettings {
    pub instances: usize,
    /// `SNODO_RUNTIME__RETRY`, e.g. `["100ms","300ms"]`.
    pub retry: String,
    /// Extra environment for every instance.
    pub env: Vec<(String, String)>,
}

pub struct Cluster {
    pub broker: RabbitTestBroker,
    pub transport: SharedTransport,
    pub prefix: String,
    pub simulators: Option<Simulators>,
    pub instances: Mutex<Vec<Option<Instance>>>,
    generations: Mutex<Vec<u32>>,
    pub specs: Vec<InstanceSpec>,
    pub balancer: Balancer,
    pub admin: reqwest::Client,
    pub ops: reqwest::Client,
    pub payable: Arc<Mutex<HashSet<String>>>,
    pub log_dir: PathBuf,
    pub stop: CancellationToken,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.cancel();
        // The run's coordination state and journal in the shared Redis, best effort.
        let redis = redis_url();
        let host_port = redis.trim_start_matches("redis://").trim_end_matches('/');
        let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "6379"));
        let script = format!(
            "redis-cli -h {host} -p {port} --scan --pattern '{}:*' | xargs -r -n 500 redis-cli -h {host} -p {port} del >/dev/null",
            self.prefix
        );
        let _ = std::process::Command::new("sh").args(["-c", &script]).status();
    }
}

pub fn redis_url() -> String {
    std::env::var("SNODO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl Cluster {
    pub async fn start(settings: ClusterSettings, simulator_offset: u16) -> Cluster {
        let broker = RabbitTestBroker::private()
            .await
            .with_publish_timeout(Duration::from_secs(5));
        let transport = broker.connect().await;
        let prefix = format!("nl{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let log_dir = std::env::temp_dir().join(format!("snodo-no-loss-{prefix}"));
        std::fs::create_dir_all(&log_dir).expect("create the log directory");
        // The test PKI's directory holds the generations `DevPki::ensure` picks from; every process
        // of the run uses it, so they all trust each other.
        let pki = snodo_security::devpki::shared_for_tests();
        let pki_dir = pki
            .directory()
            .parent()
            .expect("a generation's parent")
            .to_owned();
        let simulators = Simulators::start(&SIMULATORS, simulator_offset, &pki_dir, &log_dir);
        let admin = snodo_security::tls::build_client(&snodo_security::tls::TlsClientConfig::new(
            pki.trust_anchors(),
        ))
        .expect("an HTTPS client trusting the development CA");
        let mut env = vec![
            ("SNODO_AMQP_URL".to_owned(), broker.url().to_owned()),
            ("SNODO_REDIS_URL".to_owned(), redis_url()),
            ("SNODO_TRANSPORT__PREFIX".to_owned(), prefix.clone()),
            ("SNODO_RUNTIME__RETRY".to_owned(), settings.retry.clone()),
            ("SNODO_TLS__DEV_PKI_DIR".to_owned(), pki_dir.display().to_string()),
            ("SNODO_DEV_PKI_DIR".to_owned(), pki_dir.display().to_string()),
        ];
        env.extend(settings.env.iter().cloned());
        let specs: Vec<InstanceSpec> = (0..settings.instances)
            .map(|i| InstanceSpec {
                name: format!("snodo-{}", (b'a' + i as u8) as char),
                env: env.clone(),
                listener_offset: simulator_offset,
                log_dir: log_dir.clone(),
            })
            .collect();
        let stop = CancellationToken::new();
        let balancer = Balancer::start(stop.clone()).await;
        let cluster = Cluster {
            broker,
            transport,
            prefix,
            simulators: Some(simulators),
            instances: Mutex::new((0..specs.len()).map(|_| None).collect()),
            generations: Mutex::new(vec![0; specs.len()]),
            specs,
            balancer,
            admin,
            ops: reqwest::Client::new(),
            payable: Arc::default(),
            log_dir,
            stop,
        };
        for i in 0..cluster.specs.len() {
            cluster.start_instance(i).await;
        }
        cluster.point_node_at_balancer().await;
        cluster.answer_positions();
        cluster
    }

    /// Starts instance `i` (again), and puts it behind the balancer.
    pub async fn start_instance(&self, i: usize) {
        self.start_instance_with(i, &[]).await;
    }

    /// Starts instance `i` (again) with `changed` settings on top of its own (a rolling restart).
    pub async fn start_instance_with(&self, i: usize, changed: &[(&str, &str)]) {
        let mut spec = self.specs[i].clone();
        for (k, v) in changed {
            spec.env.retain(|(name, _)| name != k);
            spec.env.push(((*k).to_owned(), (*v).to_owned()));
        }
        // As a supervisor would: `snodo up` refuses to start while the broker is away (it may be
        // restarting), so it is started again a few times.
        let mut failures = Vec::new();
        let instance = loop {
            let generation = {
                let mut generations = self.generations.lock();
                generations[i] += 1;
                generations[i] - 1
            };
            let attempt = spec.clone();
            match tokio::task::spawn_blocking(move || Instance::start(&attempt, generation))
                .await
                .expect("start an instance")
            {
                Ok(instance) => break instance,
                Err(e) if failures.len() < 10 => {
                    failures.push(e);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => panic!("{} did not start: {e}\nearlier: {failures:#?}", spec.name),
            }
        };
        self.balancer.set(&instance.spec.name, instance.inbound_addr());
        self.instances.lock()[i] = Some(instance);
    }

    /// SIGKILL of instance `i`, mid-flight.
    pub fn kill_instance(&self, i: usize) {
        let instance = self.instances.lock()[i].take().expect("a running instance");
        instance.kill();
    }

    /// SIGTERM of instance `i`, taken out of the balancer first; it must exit cleanly.
    pub async fn stop_instance(&self, i: usize) {
        let instance = self.instances.lock()[i].take().expect("a running instance");
        self.balancer.remove(&instance.spec.name);
        tokio::task::spawn_blocking(move || {
            instance.stop(Duration::from_secs(60));
        })
        .await
        .expect("stop an instance");
    }

    /// A running instance's operations URL.
    pub fn ops_url(&self) -> String {
        self.instances
            .lock()
            .iter()
            .flatten()
            .next()
            .expect("a running instance")
            .ops
            .clone()
    }

    /// Instance `i`'s operations URL, while it runs.
    pub fn ops_url_of(&self, i: usize) -> Option<String> {
        self.instances.lock()[i]
            .as_ref()
            .map(|instance| instance.ops.clone())
    }

    /// Whether every instance that should run still does (a crash ends one on its own).
    pub fn all_alive(&self) -> bool {
        self.instances.lock().iter_mut().flatten().all(Instance::alive)
    }

    pub fn admin_url(&self, simulator: &str) -> String {
        self.simulators
            .as_ref()
            .expect("the simulators run")
            .admin_url(simulator)
            .to_owned()
    }

    /// SIGTERM to `snodo simulate`; it must exit cleanly.
    pub fn stop_simulators(&mut self) {
        if let Some(simulators) = self.simulators.take() {
            simulators.stop();
        }
    }

    /// POST JSON to a simulator's admin API.
    pub async fn admin_post(&self, simulator: &str, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.admin_url(simulator));
        let response = self
            .admin
            .post(&url)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        response.json().await.unwrap_or(Value::Null)
    }

    pub async fn admin_get(&self, simulator: &str, path: &str) -> Value {
        let url = format!("{}{path}", self.admin_url(simulator));
        let response = self
            .admin
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    pub async fn admin_delete(&self, simulator: &str, path: &str) {
        let url = format!("{}{path}", self.admin_url(simulator));
        let _ = self.admin.delete(&url).send().await;
    }

    /// The node calls the station through the balancer, as the real node calls a deployment's address.
    async fn point_node_at_balancer(&self) {
        let mut ec = self.admin_get("pagopa", "/admin/pagopa/ec").await;
        ec["url"] = json!(format!(
            "https://127.0.0.1:{}/pagopa/{STATION}",
            self.balancer.addr.port()
        ));
        // Left out, the node keeps presenting the development PKI's client certificate (the GET shows
        // it in a form the POST does not take).
        if let Some(fields) = ec.as_object_mut() {
            fields.remove("tls");
        }
        let answer = self.admin_post("pagopa", "/admin/pagopa/ec", &ec).await;
        assert_eq!(
            answer["url"], ec["url"],
            "the node took the balancer as the station: {answer}"
        );
    }

    /// GET an instance's operations API as JSON.
    pub async fn ops_get(&self, ops_url: &str, path: &str) -> Value {
        let url = format!("{ops_url}{path}");
        let response = self
            .ops
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    pub async fn metrics(&self, ops_url: &str) -> String {
        let url = format!("{ops_url}/metrics");
        self.ops
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .text()
            .await
            .expect("metrics text")
    }

    /// The backend's answers to `pagopa.position.get`: payable for the notices the payment driver
    /// registered, unknown otherwise. Redelivered questions are answered again (a reply is best effort).
    fn answer_positions(&self) {
        let transport = self.transport.clone();
        let payable = self.payable.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let Ok(mut requests) = transport
                    .consume(REQUESTS_QUEUE, ConsumeOptions { prefetch: 64 })
                    .await
                else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                };
                loop {
                    let delivery = tokio::select! {
                        _ = stop.cancelled() => return,
                        d = requests.next() => d,
                    };
                    let Some(delivery) = delivery else { break };
                    let request = delivery.message.clone();
                    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                    let notice = body["notice_number"].as_str().unwrap_or_default().to_owned();
                    let position = if payable.lock().contains(&notice) {
                        payable_position(&notice)
                    } else {
                        PaymentPosition::Unknown
                    };
                    if let Some(kind) = request
                        .properties
                        .kind
                        .as_deref()
                        .and_then(|k| k.parse::<MessageType>().ok())
                    {
                        let reply = Envelope::command(kind.outcome(Outcome::Completed))
                            .to_message(serde_json::to_vec(&position).expect("a position serializes"));
                        let _ = reply_to(&transport, &request, reply).await;
                    }
                    let _ = delivery.ack().await;
                }
            }
        });
    }

    /// Restarts the RabbitMQ node (stop_app / start_app: every connection is closed, durable queues
    /// and persistent messages come back).
    pub async fn restart_broker(&self) {
        self.broker.restart().await;
    }

    /// Every process log of the run (instances of every generation, the simulators).
    pub fn logs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.log_dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

fn payable_position(notice: &str) -> PaymentPosition {
    let iuv = notice[1..].to_owned();
    PaymentPosition::Payable(Payable {
        iuv: iuv.clone(),
        notice_number: None,
        amount_cents: 4200,
        due_date: "2030-12-31".into(),
        retention_date: None,
        description: "Sanzione codice della strada".into(),
        detail_description: None,
        company_name: "Comune di Milano".into(),
        office_name: Some("Polizia Locale".into()),
        debtor: Subject {
            entity_type: EntityType::F,
            unique_identifier: "RSSMRA80A01F205X".into(),
            full_name: "Mario Rossi".into(),
            street_name: None,
            civic_number: None,
            postal_code: None,
            city: Some("Milano".into()),
            state_province_region: None,
            country: Some("IT".into()),
            email: None,
        },
        transfers: vec![Transfer {
            amount_cents: 4200,
            fiscal_code: "01199250158".into(),
            company_name: None,
            credit: Credit::Account {
                iban: "IT60X0542811101000000123456".into(),
                postal_iban: None,
            },
            remittance_information: format!("/RFB/{iuv}/TXT/sanzione"),
            category: "9/0101002IM/".into(),
            metadata: vec![MapEntry::new("capitolo", "1234")],
        }],
        metadata: Vec::new(),
    })
}

/// The sum of a metric family's samples whose labels contain `label` (e.g. `connector="core"`).
pub fn metric_sum(metrics: &str, name: &str, label: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

/// The feeds this instance holds the lease of (`snodo_feed_lease_held{feed="…"} 1`), and all it knows.
pub fn feeds(metrics: &str) -> (Vec<String>, Vec<String>) {
    let mut held = Vec::new();
    let mut known = Vec::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("snodo_feed_lease_held{"))
    {
        let Some(feed) = line.split('"').nth(1) else {
            continue;
        };
        known.push(feed.to_owned());
        if line.ends_with(" 1") {
            held.push(feed.to_owned());
        }
    }
    (held, known)
}
