//! `snodo certify anpr-client`: runs the ANPR simulator in judging mode and reports, for every
//! request a client (a comune's software, Snodo's ANPR connector) sends during the run, whether its
//! SOAP envelope, WS-Security header, TLS client certificate, XSD, header and operation id would pass
//! ANPR — and for every PDND voucher request and e-service call, whether its ModI tokens and digests
//! would pass PDND and GovWay.
//!
//! - [`args`]: listener, trust, environment, duration;
//! - [`simulator`]: the simulator wrapped with the judging layer and the `/admin/certify/…` calls;
//! - [`judge`]: one request on every check; [`wssec`] the WS-Security part on the security crate's
//!   verifier; [`testata`] the header and the id sequence; [`pdnd`] the PDND requests;
//! - [`checks`]: the catalogue — one case per check, failed when any request fails it;
//! - [`handshakes`]: the TLS handshakes refused before any request (a chain ANPR does not trust),
//!   which fail `client-certificate`.
//!
//! The run is the suite's set-up: it listens until `--for` elapses, the client posts
//! `/admin/certify/done`, or the process is interrupted; then the cases are judged over what was
//! received, and with `--report DIR` every request's verdict is written to
//! `DIR/anpr-client.requests.json` beside the suite's reports.

mod args;
mod checks;
mod handshakes;
mod judge;
mod pdnd;
mod simulator;
mod testata;
mod wssec;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use openssl::x509::X509;
use snodo_security::devpki::{DevPki, DevTenant};
use snodo_security::pki::TrustAnchors;
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_simulators::anpr::{AnprSettings, AnprSimulator, default_schema_dir, population};
use snodo_simulators::framework::{Instance, SimClock, Transport, serve};
use snodo_simulators::pagopa::settings::default_pki_dir;
use tokio_util::sync::CancellationToken;

pub use args::AnprClientArgs;
pub use checks::Status;
use handshakes::{HandshakeRecorder, HandshakeVerdict};
use judge::RequestJudge;
pub use judge::RequestVerdict;
use pdnd::PdndJudge;
pub use pdnd::PdndVerdict;
use simulator::{Judging, JudgingAnpr};

use crate::case::CaseInfo;
use crate::outcome::Outcome;
use crate::runner::{Suite, SuiteError};

/// A token cancelled at the first SIGINT or SIGTERM, for [`AnprClient::new`]. Both listeners are
/// registered before this returns: the run's set-up keeps a thread busy for seconds, and a signal
/// arriving before a lazily registered listener would kill the process without its reports.
pub fn interrupted_by_signals() -> std::io::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("anpr-client: interrupted, ending the run");
        cancel.cancel();
    });
    Ok(token)
}

/// How many failing requests a case names before referring to the per-request report.
const NAMED: usize = 5;

/// The suite: a listening run, then the cases over its verdicts.
pub struct AnprClient {
    args: AnprClientArgs,
    report_dir: Option<PathBuf>,
    interrupted: CancellationToken,
    verdicts: Vec<RequestVerdict>,
    pdnd: Vec<PdndVerdict>,
    others: Vec<String>,
    /// The TLS handshakes that failed (at most the recorder's first thousand), and how many in all.
    handshakes: Vec<HandshakeVerdict>,
    handshakes_total: usize,
    listened_at: Option<String>,
}

impl AnprClient {
    /// `report_dir` receives the per-request verdicts; `interrupted` (Ctrl-C) ends the run early,
    /// as `POST /admin/certify/done` does.
    pub fn new(
        args: &AnprClientArgs,
        report_dir: Option<PathBuf>,
        interrupted: CancellationToken,
    ) -> AnprClient {
        AnprClient {
            args: args.clone(),
            report_dir,
            interrupted,
            verdicts: Vec::new(),
            pdnd: Vec::new(),
            others: Vec::new(),
            handshakes: Vec::new(),
            handshakes_total: 0,
            listened_at: None,
        }
    }

    /// Every request's verdict, after the run.
    pub fn verdicts(&self) -> &[RequestVerdict] {
        &self.verdicts
    }

    /// The TLS handshakes that failed during the run (a client chain not trusted, a timeout…).
    pub fn handshake_failures(&self) -> &[HandshakeVerdict] {
        &self.handshakes
    }

    /// Every PDND request's verdict (voucher requests, e-service calls), after the run.
    pub fn pdnd_verdicts(&self) -> &[PdndVerdict] {
        &self.pdnd
    }

    fn trusted_comuni(&self, pki: &DevPki) -> Result<Vec<X509>, SuiteError> {
        let mut trusted = vec![pki.anpr_client().identity.certificate().clone()];
        for file in &self.args.comune_certificates {
            let pem = std::fs::read(file)
                .map_err(|e| SuiteError::new(format!("--comune-cert {}: {e}", file.display())))?;
            let certificates = X509::stack_from_pem(&pem).map_err(|e| {
                SuiteError::new(format!(
                    "--comune-cert {}: not PEM certificates: {e}",
                    file.display()
                ))
            })?;
            if certificates.is_empty() {
                return Err(SuiteError::new(format!(
                    "--comune-cert {}: no certificate in it",
                    file.display()
                )));
            }
            trusted.extend(certificates);
        }
        Ok(trusted)
    }

    fn client_anchors(&self, pki: &DevPki) -> Result<TrustAnchors, SuiteError> {
        let mut anchors = pki.trust_anchors().certificates().to_vec();
        if !self.args.client_cas.is_empty() {
            let extra = TrustAnchors::read(&self.args.client_cas)
                .map_err(|e| SuiteError::new(format!("--client-ca: {e}")))?;
            anchors.extend(extra.certificates().iter().cloned());
        }
        Ok(TrustAnchors::new(anchors))
    }

    /// Writes `anpr-client.requests.json` into the report directory.
    fn write_requests(&self) -> Result<(), SuiteError> {
        let Some(dir) = &self.report_dir else {
            return Ok(());
        };
        let path = dir.join("anpr-client.requests.json");
        let document = serde_json::json!({
            "suite": "anpr-client",
            "requests": self.verdicts,
            "pdnd": self.pdnd,
            "not_judged": self.others,
            "tls_handshake_failures": self.handshakes,
            "tls_handshake_failures_total": self.handshakes_total,
        });
        std::fs::create_dir_all(dir)
            .and_then(|()| {
                std::fs::write(
                    &path,
                    serde_json::to_string_pretty(&document).expect("verdicts serialize: strings only") + "\n",
                )
            })
            .map_err(|e| SuiteError::new(format!("writing {}: {e}", path.display())))
    }
}

#[async_trait(?Send)]
impl Suite for AnprClient {
    const NAME: &'static str = "anpr-client";

    fn catalogue() -> Vec<CaseInfo> {
        checks::cases()
    }

    fn target(&self) -> String {
        format!(
            "requests received by the judging ANPR simulator at {} during the run",
            self.listened_at
                .clone()
                .unwrap_or_else(|| format!("https://{}:{}", self.args.host, self.args.port))
        )
    }

    async fn prepare(&mut self) -> Result<(), SuiteError> {
        let pki_dir = self.args.pki_dir.clone().unwrap_or_else(default_pki_dir);
        let pki = DevPki::ensure(&pki_dir, &DevTenant::default())
            .map_err(|e| SuiteError::new(format!("the development PKI in {}: {e}", pki_dir.display())))?;
        let trusted = self.trusted_comuni(&pki)?;
        let schema_dir = self.args.specs.clone().unwrap_or_else(default_schema_dir);
        let judge = Arc::new(
            RequestJudge::new(&schema_dir, trusted.clone(), &self.args.tipo_invio)
                .map_err(|e| SuiteError::new(e.to_string()))?,
        );
        let pdnd = Arc::new(
            PdndJudge::new(&trusted)
                .map_err(|e| SuiteError::new(format!("a trusted comune certificate's key: {e}")))?,
        );
        let mut settings = AnprSettings::development(&pki)
            .map_err(|e| SuiteError::new(format!("the ANPR simulator's settings: {e}")))?;
        settings.schema_dir = schema_dir;
        settings.trusted_comuni = trusted;
        settings.tipo_invio = self.args.tipo_invio.clone();
        settings.push_base_url = self.args.push_url.clone();
        let clock = SimClock::new();
        let inner = AnprSimulator::new(clock.clone(), settings, population())
            .map_err(|e| SuiteError::new(format!("the ANPR simulator: {e}")))?;
        let done = CancellationToken::new();
        let simulator = JudgingAnpr::new(
            inner,
            Judging {
                judge: judge.clone(),
                pdnd: pdnd.clone(),
                done: done.clone(),
                progress: true,
            },
        );
        let handshakes = Arc::new(HandshakeRecorder::default());
        let mut tls = TlsServerConfig::new(
            pki.tls_server().identity.clone(),
            ClientAuth::Optional(self.client_anchors(&pki)?),
        );
        tls.on_handshake_failure = Some(handshakes.observer(true));
        let server = TlsServer::new(tls).map_err(|e| SuiteError::new(format!("the HTTPS server: {e}")))?;
        let stop = CancellationToken::new();
        let running = serve(
            Arc::new(Instance::new(Arc::new(simulator), clock)),
            std::net::SocketAddr::new(self.args.host, self.args.port),
            Transport::Https(server),
            stop.clone(),
        )
        .await
        .map_err(|e| SuiteError::new(e.to_string()))?;
        let url = running.url();
        self.listened_at = Some(url.clone());
        eprintln!(
            "anpr-client: the judging ANPR simulator listens at {url} (service paths as ANPR's, e.g. \
             {url}/ANPR3000ServiziConsultazione/AnprService3000); trust {}; the comune certificate it \
             accepts is {}; the run ends after {}, on POST {url}/admin/certify/done, or on Ctrl-C",
            pki.ca_file().display(),
            pki.anpr_client().certificate_file.display(),
            humantime::format_duration(self.args.run_for),
        );
        tokio::select! {
            _ = tokio::time::sleep(self.args.run_for) => {}
            _ = done.cancelled() => {}
            _ = self.interrupted.cancelled() => {}
        }
        stop.cancel();
        // Idle keep-alive connections of the client must not hold the report back.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), running.stopped()).await;
        self.verdicts = judge.verdicts();
        self.pdnd = pdnd.verdicts();
        self.others = judge.others();
        (self.handshakes, self.handshakes_total) = handshakes.verdicts();
        eprintln!(
            "anpr-client: {} request(s) judged, {} passing; {} PDND request(s), {} passing",
            self.verdicts.len(),
            self.verdicts.iter().filter(|v| v.passes).count(),
            self.pdnd.len(),
            self.pdnd.iter().filter(|v| v.passes).count()
        );
        self.write_requests()
    }

    async fn run_case(&mut self, case: &CaseInfo) -> Outcome {
        let check = case.id.as_str();
        if checks::PDND.contains(&check) {
            return aggregate_pdnd(check, &self.pdnd);
        }
        let outcome = aggregate(check, &self.verdicts, &self.others, self.handshakes_total);
        if check != checks::CERTIFICATE {
            return outcome;
        }
        // A chain refused at the handshake fails the case whatever the requests that got through say.
        match (handshakes::untrusted_chains(&self.handshakes), outcome) {
            (None, outcome) => outcome,
            (Some(refused), Outcome::Fail { reason }) => Outcome::fail(format!("{refused}; {reason}")),
            (Some(refused), _) => Outcome::fail(refused),
        }
    }
}

/// What a case says of one judged request.
trait Judged {
    /// `#3 Richiesta3002`, `PDND #2 C030-…`.
    fn label(&self) -> String;
    fn result(&self, check: &str) -> Option<&checks::CheckResult>;
}

impl Judged for RequestVerdict {
    fn label(&self) -> String {
        format!(
            "#{} {}",
            self.seq,
            self.payload.as_deref().unwrap_or("(no payload)")
        )
    }

    fn result(&self, check: &str) -> Option<&checks::CheckResult> {
        RequestVerdict::result(self, check)
    }
}

impl Judged for PdndVerdict {
    fn label(&self) -> String {
        format!("PDND #{} {}", self.seq, self.what)
    }

    fn result(&self, check: &str) -> Option<&checks::CheckResult> {
        PdndVerdict::result(self, check)
    }
}

/// A PDND check over the requests it applies to (voucher requests or e-service calls).
fn aggregate_pdnd(check: &str, verdicts: &[PdndVerdict]) -> Outcome {
    let concerned: Vec<&PdndVerdict> = verdicts.iter().filter(|v| v.result(check).is_some()).collect();
    if concerned.is_empty() {
        let what = if check == checks::PDND_VOUCHER_REQUEST {
            "no PDND voucher request"
        } else {
            "no PDND e-service call"
        };
        return Outcome::error(format!(
            "{what} reached the simulator during the run ({} PDND request(s) in all)",
            verdicts.len()
        ));
    }
    judge_over(check, &concerned)
}

/// One check over every request: failed when a request fails it. `failed_handshakes` is said when
/// no request arrived, since it is then the likely reason.
fn aggregate(
    check: &str,
    verdicts: &[RequestVerdict],
    others: &[String],
    failed_handshakes: usize,
) -> Outcome {
    if verdicts.is_empty() {
        let others = if others.is_empty() {
            String::new()
        } else {
            format!(
                " ({} request(s) to other paths were not judged: {})",
                others.len(),
                others.join(", ")
            )
        };
        let handshakes = if failed_handshakes == 0 {
            String::new()
        } else {
            format!(
                "; {failed_handshakes} TLS handshake(s) failed (see case {} and anpr-client.requests.json)",
                checks::CERTIFICATE
            )
        };
        return Outcome::error(format!(
            "no request reached an ANPR service path during the run{others}{handshakes}"
        ));
    }
    judge_over(check, &verdicts.iter().collect::<Vec<_>>())
}

/// `check` over `verdicts`: failed naming the requests that fail it, an error when it was judged on
/// none, passed otherwise.
fn judge_over<J: Judged>(check: &str, verdicts: &[&J]) -> Outcome {
    let status_of = |v: &J| v.result(check).map(|r| r.status);
    let failed: Vec<&&J> = verdicts
        .iter()
        .filter(|v| status_of(v) == Some(Status::Fail))
        .collect();
    let passed = verdicts
        .iter()
        .filter(|v| status_of(v) == Some(Status::Pass))
        .count();
    let not_judged = verdicts.len() - failed.len() - passed;
    if !failed.is_empty() {
        let mut named: Vec<String> = failed
            .iter()
            .take(NAMED)
            .map(|v| {
                format!(
                    "{}: {}",
                    v.label(),
                    v.result(check).map(|r| r.detail.as_str()).unwrap_or_default()
                )
            })
            .collect();
        if failed.len() > NAMED {
            named.push(format!(
                "and {} more (every verdict: anpr-client.requests.json)",
                failed.len() - NAMED
            ));
        }
        return Outcome::fail(format!(
            "{} of {} request(s) fail: {}",
            failed.len(),
            verdicts.len(),
            named.join("; ")
        ));
    }
    if passed == 0 {
        let why = verdicts
            .iter()
            .find_map(|v| v.result(check).map(|r| r.detail.clone()))
            .unwrap_or_default();
        return Outcome::error(format!("not judged on any request: {why}"));
    }
    let note = if not_judged > 0 {
        format!("; {not_judged} not judged (an earlier check failed)")
    } else {
        String::new()
    };
    Outcome::pass(format!("{passed} of {} request(s) pass{note}", verdicts.len()))
}
