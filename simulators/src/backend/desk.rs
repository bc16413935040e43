//! What the demo backend's desks (`/demo/anpr`, `/demo/cie`, the login landing page) share: sending
//! a command as the demo tenant and waiting for its outcome in the backend's own inbox — the desks
//! never call a platform, they go through Snodo like a Comune's software would — and the frame and
//! escaping of their server-rendered pages.

use std::time::Duration;

use axum::response::Html;
use serde_json::Value;
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::transport::Publish;

use super::DemoBackend;

/// How often a desk looks in the inbox for the outcome it waits for (an in-memory list).
const OUTCOME_POLL: Duration = Duration::from_millis(20);

impl DemoBackend {
    /// Publishes command `kind` with `body` for `tenant` on `exchange`, then waits up to `wait` for
    /// its outcome: the event correlated with the command whose type starts with `kind`. Returns
    /// that event's type and body; an error is one line for the page.
    pub(super) async fn command_outcome(
        &self,
        tenant: &str,
        exchange: &str,
        kind: &str,
        body: &Value,
        wait: Duration,
    ) -> Result<(String, Value), String> {
        let message_type: MessageType = kind.parse().map_err(|e| format!("{kind}: {e}"))?;
        let mut envelope = Envelope::command(message_type).with_tenant(tenant);
        envelope.app_id = Some("snodo-demo-backend".into());
        let message = envelope.to_message(serde_json::to_vec(body).expect("JSON"));
        self.transport
            .publish(Publish::new(exchange, kind, message))
            .await
            .map_err(|e| format!("the command could not be sent: {e}"))?;
        let id = envelope.message_id.to_string();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let outcome = self.log.lock().iter().rev().find_map(|e| {
                (e.correlation_id.as_deref() == Some(id.as_str()) && e.kind.starts_with(kind))
                    .then(|| (e.kind.clone(), e.body.clone()))
            });
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("no outcome of {kind} within {wait:?}"));
            }
            tokio::time::sleep(OUTCOME_POLL).await;
        }
    }
}

/// A desk's page: `title` after "Snodo demo — " in the window title, `heading` above `body`.
pub(super) fn desk_page(title: &str, heading: &str, body: String) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Snodo demo — {title}</title>\
         <style>body {{ font-family: system-ui, sans-serif; margin: 2rem; }} td, th {{ padding: .2rem .5rem; \
         border-bottom: 1px solid #ddd; text-align: left; }} table {{ border-collapse: collapse; }} \
         .outcome {{ background: #eef6ee; padding: .5rem; }}</style></head>\
         <body><p><a href=\"/demo\">Demo backend</a></p><h1>{heading}</h1>{body}</body></html>"
    ))
}

/// Text and attribute values into HTML: every desk shows data that came through the queues.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
