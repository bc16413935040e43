//! Citizens logging in with SPID and CIE ID while the faults run: each login walks as a browser does,
//! through the load balancer to whichever instance answers — the SP's login link, the IdP simulator
//! of `snodo simulate` (its JSON face), the signed Response posted back to the ACS — and is recorded
//! with what the browser finally saw. The ledger holds these records against the `identity.login.*`
//! events the backend received (`Ledger::verify_logins`).
//!
//! The citizen behaves as the SP's pages invite: a login link that does not answer is clicked again,
//! and an ACS that answers "try again" (503) or drops the connection gets the same form posted again
//! (the SP gives the request back for that retry). Every fifth citizen refuses consent at the IdP,
//! so that failed logins are in the mix too.
//!
//! Logins arrive steadily ([`drive`]), and in bursts around the faults ([`Burst`]): forms prepared
//! up to the IdP's answer and posted to the ACS together just as an instance is killed, or spread
//! over a RabbitMQ restart — a steady trickle alone would rarely be in flight at the instant a
//! fault strikes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_security::saml::redirect::url_encode;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::workloads::TENANT;

/// Where the development tenant lets a login return (`[tenants.identity] return_urls`); the harness
/// adds a path and the login's key, so that every event names the login it is about.
const RETURN_PREFIX: &str = "http://127.0.0.1:9400/demo";
/// The SPID code of a refused consent, which the SP's courtesy page explains.
pub const CONSENT_DENIED: u64 = 22;
/// How often the citizen tries again, and how long between tries.
const TRIES: u32 = 8;
const PAUSE: Duration = Duration::from_secs(1);

/// The federation of a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Federation {
    Spid,
    Cie,
}

impl Federation {
    pub fn name(self) -> &'static str {
        match self {
            Federation::Spid => "spid",
            Federation::Cie => "cie",
        }
    }
}

/// What the citizen does at the IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Authenticates and consents: the login should succeed.
    Consent,
    /// Refuses consent: the IdP answers SPID error 22, the SP refuses the login.
    RefuseConsent,
}

/// What the browser finally saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserSaw {
    /// 303 to the backend's page, with a ticket.
    LoggedIn { ticket: String },
    /// The SP's courtesy page explaining the IdP's refusal (the ACS judged the Response).
    Refused,
    /// A failure the citizen gave up on: the first word says where, the rest what.
    Failed(String),
}

/// One login, as the browser lived it.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub key: String,
    /// The burst it was posted in (`None`: the steady stream).
    pub burst: Option<&'static str>,
    pub federation: Federation,
    pub intent: Intent,
    pub saw: BrowserSaw,
    /// ACS POSTs made (1 unless the citizen had to post again).
    pub acs_posts: u32,
    /// From the first ACS POST sent to the last answered (None when the login never reached the ACS).
    pub acs_window: Option<(Instant, Instant)>,
}

/// Figures of the driver, for the report.
#[derive(Default, Debug)]
pub struct Logins {
    pub records: Mutex<Vec<LoginRecord>>,
}

/// The login key in a return URL or a Location (`…?login=<key>[&…]`).
pub fn key_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("login=")?;
    Some(rest.split('&').next().unwrap_or(rest))
}

/// The ticket in a Location (`…&ticket=<ticket>`).
fn ticket_of(location: &str) -> Option<&str> {
    let (_, rest) = location.split_once("ticket=")?;
    Some(rest.split('&').next().unwrap_or(rest))
}

/// A browser: trusts the development CA, follows no redirect (each hop is looked at), and keeps no
/// connection, so that every request is balanced anew (a login started on one instance often ends
/// on the other, through the shared coordination store).
fn browser() -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_backend_native()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30));
    let anchors = snodo_security::devpki::shared_for_tests().trust_anchors();
    let mut roots = Vec::new();
    for ca in anchors.certificates() {
        roots.push(
            reqwest::Certificate::from_pem(&ca.to_pem().expect("a CA certificate as PEM"))
                .expect("reqwest reads the CA"),
        );
    }
    builder = builder.tls_certs_only(roots);
    builder.build().expect("a browser client")
}

/// The IdPs the SP lists (what a backend page builds its buttons from), once every instance lists
/// both federations; panics after a minute.
async fn idps(http: &reqwest::Client, origin: &str) -> (String, String) {
    let until = Instant::now() + Duration::from_secs(60);
    let mut agreed = 0;
    let mut last = String::new();
    loop {
        let listing: Option<Value> = match http.get(format!("{origin}/identity/{TENANT}/idps")).send().await {
            Ok(r) if r.status() == 200 => r.json().await.ok(),
            Ok(r) => {
                last = format!("HTTP {}", r.status());
                None
            }
            Err(e) => {
                last = e.to_string();
                None
            }
        };
        let find = |federation: &str| {
            listing.as_ref().and_then(|l| {
                l.as_array()?
                    .iter()
                    .find(|i| i["federation"] == federation)
                    .and_then(|i| i["entity_id"].as_str())
                    .map(str::to_owned)
            })
        };
        if let (Some(spid), Some(cie)) = (find("spid"), find("cie")) {
            // The balancer alternates: a few answers in a row reach every instance.
            agreed += 1;
            if agreed >= 4 {
                return (spid, cie);
            }
        } else {
            agreed = 0;
        }
        assert!(
            Instant::now() < until,
            "the instances did not list both federations' IdPs within a minute: {last} {listing:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What every citizen of a run shares: the browser, the balancer's address, the IdPs the SP lists,
/// and the IdP simulator's test users.
pub struct Citizens {
    http: reqwest::Client,
    /// The balancer, as `https://host:port`.
    origin: String,
    spid_idp: String,
    cie_idp: String,
    people: Vec<String>,
    prefix: String,
}

impl Citizens {
    /// Waits until every instance trusts the IdP simulator, and learns its test users.
    pub async fn meet(cluster: &Cluster) -> Citizens {
        let http = browser();
        let origin = format!("https://127.0.0.1:{}", cluster.balancer.addr.port());
        let (spid_idp, cie_idp) = idps(&http, &origin).await;
        let listing: Value = http
            .get(format!("{spid_idp}/people?limit=50"))
            .send()
            .await
            .expect("the IdP simulator lists its people")
            .json()
            .await
            .expect("people as JSON");
        let people: Vec<String> = listing["people"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["fiscal_code"].as_str().map(str::to_owned))
            .collect();
        assert!(!people.is_empty(), "the IdP simulator has no test users");
        Citizens {
            http,
            origin,
            spid_idp,
            cie_idp,
            people,
            prefix: cluster.prefix.clone(),
        }
    }

    /// The `n`-th citizen of a group: SPID and CIE ID alike, every fifth refusing consent.
    fn walk(&self, burst: Option<&'static str>, n: u32) -> Walk {
        let (federation, intent) = match n % 5 {
            0 | 2 => (Federation::Spid, Intent::Consent),
            1 | 3 => (Federation::Cie, Intent::Consent),
            _ if n % 10 == 4 => (Federation::Spid, Intent::RefuseConsent),
            _ => (Federation::Cie, Intent::RefuseConsent),
        };
        Walk {
            http: self.http.clone(),
            origin: self.origin.clone(),
            idp: match federation {
                Federation::Spid => self.spid_idp.clone(),
                Federation::Cie => self.cie_idp.clone(),
            },
            fiscal_code: self.people[n as usize % self.people.len()].clone(),
            key: format!("{}-{}-{n}", self.prefix, burst.unwrap_or("steady")),
            burst,
            federation,
            intent,
        }
    }
}

/// Drives `count` logins through the balancer, one every `pace`, at most `parallel` at once, until
/// `stop`; every login started is finished (recorded) before this returns.
pub async fn drive(
    citizens: Arc<Citizens>,
    count: u32,
    pace: Duration,
    parallel: usize,
    logins: Arc<Logins>,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(parallel));
    let mut running = tokio::task::JoinSet::new();
    for n in 0..count {
        if stop.is_cancelled() {
            break;
        }
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore stays open");
        let walk = citizens.walk(None, n);
        let logins = logins.clone();
        running.spawn(async move {
            let record = walk.run().await;
            logins.records.lock().push(record);
            drop(permit);
        });
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(pace) => {}
        }
    }
    while let Some(done) = running.join_next().await {
        done.expect("a login task");
    }
}

/// Logins walked up to the IdP's answer, their ACS POSTs held back until [`Burst::fire`].
pub struct Burst {
    ready: Vec<(Walk, Result<Value, String>)>,
}

impl Burst {
    /// `size` citizens through the login link and the IdP, a few at a time.
    pub async fn prepare(citizens: &Citizens, label: &'static str, size: u32) -> Burst {
        let mut ready = Vec::new();
        let walks: Vec<Walk> = (0..size).map(|n| citizens.walk(Some(label), n)).collect();
        for chunk in walks.chunks(4) {
            let forms = futures::future::join_all(chunk.iter().map(Walk::to_idp_and_back)).await;
            ready.extend(chunk.iter().cloned().zip(forms));
        }
        Burst { ready }
    }

    /// Posts every form to the ACS, one every `spacing`, each then going on as a citizen does; the
    /// task ends when every login of the burst is recorded.
    pub fn fire(self, spacing: Duration, logins: Arc<Logins>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut running = tokio::task::JoinSet::new();
            for (walk, form) in self.ready {
                let logins = logins.clone();
                running.spawn(async move {
                    let record = match form {
                        Ok(form) => walk.post_to_acs(&form).await,
                        Err(why) => walk.record(BrowserSaw::Failed(why), 0, None),
                    };
                    logins.records.lock().push(record);
                });
                tokio::time::sleep(spacing).await;
            }
            while let Some(done) = running.join_next().await {
                done.expect("a login task");
            }
        })
    }
}

/// One citizen's way through a login.
#[derive(Clone)]
struct Walk {
    http: reqwest::Client,
    /// The balancer, as `https://host:port`.
    origin: String,
    idp: String,
    fiscal_code: String,
    key: String,
    burst: Option<&'static str>,
    federation: Federation,
    intent: Intent,
}

impl Walk {
    fn record(&self, saw: BrowserSaw, acs_posts: u32, acs_window: Option<(Instant, Instant)>) -> LoginRecord {
        LoginRecord {
            key: self.key.clone(),
            burst: self.burst,
            federation: self.federation,
            intent: self.intent,
            saw,
            acs_posts,
            acs_window,
        }
    }

    fn return_url(&self) -> String {
        format!("{RETURN_PREFIX}/no-loss?login={}", self.key)
    }

    async fn run(&self) -> LoginRecord {
        let form = match self.to_idp_and_back().await {
            Ok(form) => form,
            Err(why) => return self.record(BrowserSaw::Failed(why), 0, None),
        };
        self.post_to_acs(&form).await
    }

    /// The login link (clicked again while no instance answers it), the IdP's SSO and login: the form
    /// the IdP's page would auto-submit to the ACS.
    async fn to_idp_and_back(&self) -> Result<Value, String> {
        let link = format!(
            "{}/identity/{TENANT}/login?federation={}&idp={}&level=2&return={}",
            self.origin,
            self.federation.name(),
            url_encode(&self.idp),
            url_encode(&self.return_url())
        );
        let mut last = String::new();
        let mut location = None;
        for _ in 0..TRIES {
            match self.http.get(&link).send().await {
                Ok(r) if r.status() == 302 => {
                    location = r
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .map(str::to_owned);
                    break;
                }
                Ok(r) if r.status().is_server_error() => last = format!("HTTP {}", r.status()),
                Ok(r) => {
                    return Err(format!(
                        "login-link HTTP {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ));
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(PAUSE).await;
        }
        let location = location.ok_or_else(|| format!("login-link unanswered: {last}"))?;
        let json = "application/json";
        let sso = self
            .http
            .get(&location)
            .header("accept", json)
            .send()
            .await
            .map_err(|e| format!("idp-sso {e}"))?;
        if sso.status() != 200 {
            return Err(format!("idp-sso HTTP {}", sso.status()));
        }
        let sso: Value = sso.json().await.map_err(|e| format!("idp-sso {e}"))?;
        let ticket = sso["ticket"].as_str().ok_or("idp-sso without a ticket")?;
        let consent = match self.intent {
            Intent::Consent => "given",
            Intent::RefuseConsent => "refused",
        };
        let answer = self
            .http
            .post(format!("{}/login", self.idp))
            .header("accept", json)
            .json(&json!({
                "ticket": ticket,
                "fiscal_code": self.fiscal_code,
                "level": "2",
                "outcome": "success",
                "consent": consent,
            }))
            .send()
            .await
            .map_err(|e| format!("idp-login {e}"))?;
        if answer.status() != 200 {
            return Err(format!("idp-login HTTP {}", answer.status()));
        }
        answer.json().await.map_err(|e| format!("idp-login {e}"))
    }

    /// Posts the IdP's form to the ACS through the balancer (the Response names the tenant's public
    /// ACS URL; the balancer is where that address leads), again while the SP says "try again".
    async fn post_to_acs(&self, form: &Value) -> LoginRecord {
        let Some(path) = form["acs_url"]
            .as_str()
            .and_then(|url| url.find("/identity/").map(|at| url[at..].to_owned()))
        else {
            return self.record(
                BrowserSaw::Failed(format!("idp-login without an ACS URL: {form}")),
                0,
                None,
            );
        };
        let mut body = format!(
            "SAMLResponse={}",
            url_encode(form["SAMLResponse"].as_str().unwrap_or_default())
        );
        if let Some(relay) = form["RelayState"].as_str() {
            body.push_str(&format!("&RelayState={}", url_encode(relay)));
        }
        let url = format!("{}{path}", self.origin);
        let mut last = String::new();
        let mut window = None;
        let first_sent = Instant::now();
        for post in 1..=TRIES {
            let answer = self
                .http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await;
            window = Some((first_sent, Instant::now()));
            match answer {
                Ok(r) if r.status() == 303 => {
                    let location = r
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let saw = match ticket_of(&location) {
                        Some(ticket) if location.starts_with(&self.return_url()) => BrowserSaw::LoggedIn {
                            ticket: ticket.to_owned(),
                        },
                        _ => BrowserSaw::Failed(format!("acs 303 elsewhere: {location}")),
                    };
                    return self.record(saw, post, window);
                }
                Ok(r) if r.status() == 503 => last = "HTTP 503".into(),
                Ok(r) => {
                    let status = r.status();
                    let page = r.text().await.unwrap_or_default();
                    let saw = if status == 403 && page.contains(&format!("(codice {CONSENT_DENIED})")) {
                        BrowserSaw::Refused
                    } else {
                        BrowserSaw::Failed(format!(
                            "acs HTTP {status} after {post} posts: {}",
                            courtesy(&page)
                        ))
                    };
                    return self.record(saw, post, window);
                }
                Err(e) => last = format!("connection: {e}"),
            }
            tokio::time::sleep(PAUSE).await;
        }
        self.record(
            BrowserSaw::Failed(format!("acs still failing after {TRIES} posts: {last}")),
            TRIES,
            window,
        )
    }
}

/// The explanation on the SP's courtesy page (its first paragraph), for the report.
fn courtesy(page: &str) -> &str {
    page.split_once("<p>")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map(|(text, _)| text)
        .unwrap_or(page)
}
