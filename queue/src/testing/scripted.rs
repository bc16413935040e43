//! A connector whose "platform" is a script: it fails, stalls or answers as a test says, and records every
//! call with the idempotency key it carried. The runtime cases use it, and it is the reference subject of
//! the connector compliance suite.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::runtime::{Command, CommandError, CommandHandler};

/// What the script does on one call.
#[derive(Debug, Clone)]
pub enum Step {
    Fail(CommandError),
    Stall(Duration),
}

/// One call the platform saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub message_id: String,
    pub attempt: u32,
    pub external_key: Option<String>,
}

#[derive(Default)]
pub struct ScriptedPlatform {
    steps: Mutex<VecDeque<Step>>,
    calls: Mutex<Vec<Call>>,
    keys: AtomicU64,
    /// Calls being answered now, and the most there ever were at once.
    active: AtomicU64,
    most_active: AtomicU64,
    /// Every call takes at least this long (milliseconds).
    latency_ms: AtomicU64,
}

impl ScriptedPlatform {
    /// The next `n` calls fail with `error`.
    pub fn fail_next(&self, n: usize, error: CommandError) {
        let mut steps = self.steps.lock();
        for _ in 0..n {
            steps.push_back(Step::Fail(error.clone()));
        }
    }

    /// The next call takes `d` before answering successfully.
    pub fn stall_next(&self, d: Duration) {
        self.steps.lock().push_back(Step::Stall(d));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    pub fn keys_allocated(&self) -> u64 {
        self.keys.load(Ordering::SeqCst)
    }

    /// Every call from now on takes at least `d`.
    pub fn set_latency(&self, d: Duration) {
        self.latency_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// The most calls that were ever in progress at the same time.
    pub fn most_concurrent_calls(&self) -> u64 {
        self.most_active.load(Ordering::SeqCst)
    }
}

/// The connector `scripted` handling family `scripted`: echoes the body on success.
#[derive(Clone)]
pub struct ScriptedConnector {
    pub platform: Arc<ScriptedPlatform>,
}

impl ScriptedConnector {
    pub fn new() -> Self {
        ScriptedConnector {
            platform: Arc::default(),
        }
    }
}

impl Default for ScriptedConnector {
    fn default() -> Self {
        ScriptedConnector::new()
    }
}

#[async_trait]
impl CommandHandler for ScriptedConnector {
    fn name(&self) -> &str {
        "scripted"
    }

    fn families(&self) -> Vec<String> {
        vec!["scripted".into()]
    }

    async fn external_key(&self, _command: &Command) -> Result<Option<String>, CommandError> {
        let n = self.platform.keys.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Some(format!("K{n:08}")))
    }

    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Echo {
            echo: serde_json::Value,
        }
        let body: Echo = command.parse_body()?;
        self.platform.calls.lock().push(Call {
            message_id: command.envelope.message_id.to_string(),
            attempt: command.envelope.attempt,
            external_key: command.envelope.external_key.clone(),
        });
        let platform = &self.platform;
        let now_active = platform.active.fetch_add(1, Ordering::SeqCst) + 1;
        platform.most_active.fetch_max(now_active, Ordering::SeqCst);
        let latency = platform.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        platform.active.fetch_sub(1, Ordering::SeqCst);
        let step = self.platform.steps.lock().pop_front();
        match step {
            Some(Step::Fail(e)) => Err(e),
            Some(Step::Stall(d)) => {
                tokio::time::sleep(d).await;
                Ok(serde_json::json!({ "echo": body.echo }))
            }
            None => Ok(serde_json::json!({ "echo": body.echo })),
        }
    }
}
