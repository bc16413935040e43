//! Running the `snodo` binary from tests: a `snodo up` child process whose listener address is read from
//! what it prints, and one-shot commands.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `snodo up`, stopped with SIGTERM on drop.
pub struct SnodoUp {
    child: Option<Child>,
    ops: String,
    stderr: mpsc::Receiver<String>,
}

impl SnodoUp {
    /// Starts `snodo up` with extra arguments and environment, on an ephemeral operations port, and waits
    /// until it says it is ready.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> SnodoUp {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_snodo"));
        cmd.arg("up").args(args);
        // Several instances (and a developer's own `snodo up`) may run at once: the listeners take
        // free ports, and the simulators' fixed ports move by an offset found free.
        if !args.contains(&"--listener-offset") {
            cmd.args(["--listener-offset", &free_simulator_offset().to_string()]);
        }
        cmd.env("SNODO_LISTENERS__OPS", "127.0.0.1:0")
            .env("SNODO_LISTENERS__INBOUND", "127.0.0.1:0")
            .env("SNODO_LOG", "info,lapin=error");
        cmd.env_remove("SNODO_AMQP_URL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn snodo up");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = String::new();
        let mut ops = None;
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if let Some(rest) = line.split("operations  ").nth(1) {
                        ops = rest.split_whitespace().next().map(str::to_owned);
                    }
                    if line.contains("snodo up: ready") {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("snodo up did not become ready:\n{seen}");
                }
            }
        }
        SnodoUp {
            child: Some(child),
            ops: ops.unwrap_or_else(|| panic!("no operations address in:\n{seen}")),
            stderr: rx,
        }
    }

    pub fn ops_url(&self) -> String {
        self.ops.clone()
    }

    /// SIGTERM, wait for a clean exit, return what it printed after start-up.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let status = wait_with_timeout(&mut child, Duration::from_secs(40));
        let mut rest = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            rest.push_str(&line);
            rest.push('\n');
        }
        assert!(status.success(), "snodo up exited with {status}:\n{rest}");
        rest
    }
}

impl Drop for SnodoUp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("snodo up did not stop within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

pub struct Invocation(Command);

/// A one-shot `snodo` command.
pub fn snodo(args: &[&str]) -> Invocation {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snodo"));
    cmd.args(args)
        .env_remove("SNODO_AMQP_URL")
        .env("SNODO_LOG", "warn");
    Invocation(cmd)
}

impl Invocation {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.0.env(k, v);
        self
    }

    pub fn run(mut self) -> Output {
        let out = self.0.stdin(Stdio::null()).output().expect("run snodo");
        Output {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    /// Runs with `-` as the body file and `json` on standard input.
    pub fn stdin_json(mut self, json: &str) -> Output {
        self.0.arg("-");
        let mut child = self
            .0
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(json.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        Output {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }
}

/// A plain HTTP/1.1 GET on loopback, body as text.
pub fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

pub fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snodo-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// An offset at which the four simulator ports (9441–9444 + offset) are free now. The ports are
/// released before `snodo up` binds them, so a race with another process is possible but unlikely;
/// each test process starts its search elsewhere.
pub fn free_simulator_offset() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let start = 100 + (std::process::id() % 400) as u16 * 50;
    for attempt in 0..400u16 {
        let step = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let offset = start.wrapping_add(step.wrapping_add(attempt).wrapping_mul(10)) % 50_000 + 100;
        let free = (9441..=9444u16).all(|p| std::net::TcpListener::bind(("127.0.0.1", p + offset)).is_ok());
        if free {
            return offset;
        }
    }
    panic!("no free port offset for the simulators");
}
