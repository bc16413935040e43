//! The processes of a no-loss run: `snodo up --no-simulators` instances and one `snodo simulate`, each a
//! real child process, so that a SIGKILL is a real crash (nothing flushed, no shutdown code run) and a
//! panic anywhere shows as a non-zero exit. Everything a child prints goes to a log file the report
//! names, and is scanned for panics at the end.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How an instance is started; kept so that a restart (after a kill, or a rolling restart with a
/// changed setting) starts the same instance again.
#[derive(Clone)]
pub struct InstanceSpec {
    pub name: String,
    pub env: Vec<(String, String)>,
    pub listener_offset: u16,
    pub log_dir: PathBuf,
}

/// One running `snodo up`.
pub struct Instance {
    pub spec: InstanceSpec,
    child: Child,
    pub ops: String,
    pub inbound: String,
    pub log: PathBuf,
}

impl Instance {
    /// Starts `snodo up --no-simulators` and waits until it says it is ready; an error with what it
    /// printed when it exits first (it refuses to start while the broker is down, as it should).
    pub fn start(spec: &InstanceSpec, generation: u32) -> Result<Instance, String> {
        let log = spec.log_dir.join(format!("{}-{generation}.log", spec.name));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_snodo"));
        cmd.args(["up", "--no-simulators", "--listener-offset"])
            .arg(spec.listener_offset.to_string())
            .env_remove("SNODO_AMQP_URL")
            .env("SNODO_LISTENERS__OPS", "127.0.0.1:0")
            .env("SNODO_LISTENERS__INBOUND", "127.0.0.1:0")
            // SNODO_NO_LOSS_LOG=info shows each component starting and stopping, to find one that hangs.
            .env(
                "SNODO_LOG",
                std::env::var("SNODO_NO_LOSS_LOG").unwrap_or_else(|_| "warn,lapin=error".into()),
            );
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let (child, lines) = spawn_logged(cmd, &log);
        let mut ops = None;
        let mut inbound = None;
        let seen = wait_for(&lines, &log, Duration::from_secs(90), |line| {
            if let Some(rest) = line.split("operations  ").nth(1) {
                ops = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.split("inbound     ").nth(1) {
                inbound = rest.split_whitespace().next().map(str::to_owned);
            }
            line.contains("snodo up: ready")
        })?;
        Ok(Instance {
            spec: spec.clone(),
            child,
            ops: ops.unwrap_or_else(|| panic!("{}: no operations address in:\n{seen}", spec.name)),
            inbound: inbound.unwrap_or_else(|| panic!("{}: no inbound address in:\n{seen}", spec.name)),
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The inbound listener as `host:port`, for the load balancer.
    pub fn inbound_addr(&self) -> std::net::SocketAddr {
        self.inbound
            .trim_start_matches("https://")
            .parse()
            .expect("the inbound address snodo up printed")
    }

    /// SIGKILL: the crash the broker must survive (unacknowledged deliveries come back elsewhere).
    pub fn kill(mut self) {
        signal(self.child.id(), "KILL");
        let _ = self.child.wait();
    }

    /// SIGTERM and a clean exit within `limit`; panics with the log's tail otherwise.
    pub fn stop(mut self, limit: Duration) -> ExitStatus {
        signal(self.child.id(), "TERM");
        let status = wait_within(&mut self.child, limit);
        assert!(
            status.success(),
            "{} exited with {status} on SIGTERM; log {}:\n{}",
            self.spec.name,
            self.log.display(),
            tail(&self.log, 40)
        );
        status
    }

    /// Whether it is still running (a crash ends it on its own).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `snodo simulate` with every platform simulator, in its own process.
pub struct Simulators {
    child: Child,
    /// Simulator name → admin base URL (`https://127.0.0.1:<port>`).
    pub admin: Vec<(String, String)>,
    pub log: PathBuf,
}

impl Simulators {
    pub fn start(names: &[&str], port_offset: u16, pki_dir: &Path, log_dir: &Path) -> Simulators {
        let log = log_dir.join("simulate.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_snodo"));
        cmd.arg("simulate")
            .args(names)
            .arg("--port-offset")
            .arg(port_offset.to_string())
            .arg("--pki-dir")
            .arg(pki_dir)
            .env("SNODO_DEV_PKI_DIR", pki_dir)
            .env("SNODO_LOG", "warn");
        let (child, lines) = spawn_logged(cmd, &log);
        let mut admin = Vec::new();
        let mut ready = false;
        // The listing is on standard output and the ready line on standard error: either may come first.
        wait_for(&lines, &log, Duration::from_secs(60), |line| {
            // `<name> <url>  admin API <url>/admin`: the base URL, to which the harness adds `/admin/…`.
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, _url, "admin", "API", url] = words.as_slice() {
                let base = url.trim_end_matches('/').trim_end_matches("/admin");
                admin.push(((*name).to_owned(), base.to_owned()));
            }
            ready |= line.contains("snodo simulate: ready");
            ready && admin.len() == names.len()
        })
        .unwrap_or_else(|e| panic!("snodo simulate: {e}"));
        assert_eq!(admin.len(), names.len(), "every simulator printed its admin API");
        Simulators { child, admin, log }
    }

    pub fn admin_url(&self, name: &str) -> &str {
        &self
            .admin
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no simulator {name}"))
            .1
    }

    pub fn stop(mut self) {
        signal(self.child.id(), "TERM");
        let status = wait_within(&mut self.child, Duration::from_secs(30));
        assert!(
            status.success(),
            "snodo simulate exited with {status}:\n{}",
            tail(&self.log, 40)
        );
    }
}

impl Drop for Simulators {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with both outputs appended to `log`, and a channel of their lines.
fn spawn_logged(mut cmd: Command, log: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn snodo");
    let file = std::sync::Arc::new(parking_lot::Mutex::new(
        std::fs::File::create(log).expect("create the process log"),
    ));
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    for stream in [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ] {
        let tx = tx.clone();
        let file = file.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = writeln!(file.lock(), "{line}");
                // The receiver is dropped once start-up is over; the log keeps everything.
                let _ = tx.send(line);
            }
        });
    }
    (child, rx)
}

/// Reads lines until `done` says so; panics with what was seen after `limit`.
fn wait_for(
    lines: &mpsc::Receiver<String>,
    log: &Path,
    limit: Duration,
    mut done: impl FnMut(&str) -> bool,
) -> Result<String, String> {
    let until = Instant::now() + limit;
    let mut seen = String::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if done(&line) {
                    return Ok(seen);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "exited before it was ready (log {}):\n{seen}",
                    log.display()
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("not ready within {limit:?} (log {}):\n{seen}", log.display())
            }
        }
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

fn wait_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("a snodo process did not stop within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `n` lines of a log.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Lines of a log that show a panic: none may appear in any process of a run.
pub fn panics_in(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("panicked") || l.contains("A component panicked"))
        .map(str::to_owned)
        .collect()
}
