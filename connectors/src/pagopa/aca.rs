//! Calls Snodo makes to the node's REST APIs, and the one command that needs them:
//! `pagopa.position.publish`, which loads a position into ACA (Archivio Centralizzato Avvisi) with
//! `POST /paCreatePosition`. An EC answering the node synchronously must keep ACA current so that
//! Stand-In can collect while the EC is unreachable (pagopa.md §5); create and update are the same
//! idempotent call, and amount 0 cancels or closes the position — so a retry is always safe.
//!
//! [`NodeApi`] holds what every REST call needs (base URL, TLS trust, the `Ocp-Apim-Subscription-Key`
//! read from its file) and is shared with the reporting feed. Paths are relative to
//! `[platforms.pagopa] url` and follow the node's API gateway: `/aca/paCreatePosition`,
//! `/fdr-org/service/v1/…`, `/nodo-auth/node-for-pa/v1`. Every call is recorded (metrics and journal)
//! with [`finish_node_call`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use snodo_mappings::pagopa::contract::PublishPosition;
use snodo_queue::runtime::{Command, CommandError, CommandHandler, ErrorCode};
use snodo_security::tls::{TlsClientConfig, build_client};

use super::config::DEVELOPMENT_SUBSCRIPTION_KEY;
use super::{NAME, SIMULATOR_PORT, instance_secret};
use crate::ops::PlatformCall;
use crate::ops::calls;
use crate::platform::{PlatformContext, PlatformError};
use crate::tenants::Tenants;

/// ACA's create-or-update, relative to the node's base URL.
pub const ACA_PATH: &str = "/aca/paCreatePosition";
/// The subscription-key header of every node REST API (pagopa.md §6).
pub const SUBSCRIPTION_KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

/// The node's REST APIs, as one EC intermediary reaches them. `Debug` hides the key.
#[derive(Clone)]
pub struct NodeApi {
    http: reqwest::Client,
    base_url: String,
    subscription_key: String,
}

impl std::fmt::Debug for NodeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeApi")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A REST call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum NodeCallError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("no answer from {url} in time")]
    Timeout { url: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("{url} answered something that is not the expected JSON: {reason}")]
    Malformed { url: String, reason: String },
}

impl NodeCallError {
    /// DESIGN §5; every call made through [`NodeApi`] is idempotent (reads, ACA's create-or-update).
    pub fn to_command_error(&self) -> CommandError {
        let message = self.to_string();
        match self {
            NodeCallError::Unreachable { .. } | NodeCallError::Malformed { .. } => {
                CommandError::unavailable(message)
            }
            NodeCallError::Timeout { .. } => CommandError::timeout(message, true),
            NodeCallError::Status { status, body, .. } => match status {
                429 | 500..=599 => CommandError::unavailable(message),
                // 401/403: a wrong or missing subscription key; 4xx: the request itself. Neither
                // improves by repeating it.
                _ => CommandError::new(ErrorCode::Rejected, message)
                    .with_platform(format!("HTTP {status}"), body.clone()),
            },
        }
    }
}

/// Finishes a recorded call (`crate::ops::calls`) made through [`NodeApi`] by its result: a 2xx JSON
/// answer succeeded; otherwise the failure is classified as [`NodeCallError::to_command_error`]
/// classifies it, with `HTTP <status>` as the platform's code for an HTTP error. Every REST call to the
/// node (ACA here, the FdR feed) records this way:
///
/// ```text
/// let call = crate::ops::calls::start(NAME, "getAllPublishedFlows", node.url(path));
/// let result = node.get_json(path, &query).await;
/// finish_node_call(call, &result);
/// ```
pub fn finish_node_call(mut call: PlatformCall, result: &Result<serde_json::Value, NodeCallError>) {
    match result {
        Ok(_) => call.succeeded(),
        Err(error) => {
            if let NodeCallError::Status { status, .. } = error {
                call.status(*status);
            }
            let classified = error.to_command_error();
            call.finish(Err(classified.code), classified.platform_code);
        }
    }
}

impl NodeApi {
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        subscription_key: impl Into<String>,
    ) -> NodeApi {
        NodeApi {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            subscription_key: subscription_key.into(),
        }
    }

    /// From the instance's configuration: the node (or its simulator in development) and the key.
    pub fn from_context(context: &PlatformContext) -> Result<NodeApi, PlatformError> {
        let endpoint = context.endpoint(NAME, SIMULATOR_PORT)?;
        let configuration = |reason: String| PlatformError::Configuration {
            platform: NAME.into(),
            reason,
        };
        let key = instance_secret(
            context,
            "subscription_key_file",
            context.config.pagopa.subscription_key_file.as_deref(),
            DEVELOPMENT_SUBSCRIPTION_KEY,
        )?;
        let mut tls = TlsClientConfig::new(endpoint.trusted);
        tls.timeout = Duration::from_secs(30);
        let http = build_client(&tls).map_err(|e| configuration(e.to_string()))?;
        Ok(NodeApi::new(http, endpoint.url, key))
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `POST` JSON, answer JSON (or nothing).
    pub async fn post_json(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<serde_json::Value, NodeCallError> {
        let url = self.url(path);
        let request = self
            .http
            .post(&url)
            .header(SUBSCRIPTION_KEY_HEADER, &self.subscription_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).expect("contract types serialize"));
        self.exchange(url, request).await
    }

    /// `GET` with query parameters, answer JSON.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<serde_json::Value, NodeCallError> {
        let mut url = self.url(path);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        let request = self
            .http
            .get(&url)
            .header(SUBSCRIPTION_KEY_HEADER, &self.subscription_key);
        self.exchange(url, request).await
    }

    /// The raw client, for the legacy SOAP calls (which carry no subscription key in the body).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn subscription_key(&self) -> &str {
        &self.subscription_key
    }

    async fn exchange(
        &self,
        url: String,
        request: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, NodeCallError> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                NodeCallError::Timeout { url: url.clone() }
            } else {
                NodeCallError::Unreachable {
                    url: url.clone(),
                    reason: error_chain(&e),
                }
            }
        })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| NodeCallError::Unreachable {
            url: url.clone(),
            reason: error_chain(&e),
        })?;
        if !(200..300).contains(&status) {
            let body: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(NodeCallError::Status { url, status, body });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| NodeCallError::Malformed {
            url,
            reason: e.to_string(),
        })
    }
}

/// Query values: everything but RFC 3986's unreserved characters escaped (a `+` in an instant's
/// zone would otherwise read as a space).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `pagopa.position.publish` → ACA `paCreatePosition`.
pub struct PublishHandler {
    node: NodeApi,
    tenants: Arc<Tenants>,
}

impl PublishHandler {
    pub fn new(node: NodeApi, tenants: Arc<Tenants>) -> PublishHandler {
        PublishHandler { node, tenants }
    }
}

/// The only command type of the connector.
pub const POSITION_PUBLISH: &str = "pagopa.position.publish";

#[async_trait]
impl CommandHandler for PublishHandler {
    fn name(&self) -> &str {
        NAME
    }

    fn families(&self) -> Vec<String> {
        vec!["pagopa".into()]
    }

    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError> {
        if command.envelope.kind.as_str() != POSITION_PUBLISH {
            return Err(CommandError::new(
                ErrorCode::UnknownType,
                format!(
                    "{} is not a pagoPA command (the pagoPA commands are: {POSITION_PUBLISH})",
                    command.envelope.kind
                ),
            ));
        }
        let position: PublishPosition = command.parse_body()?;
        position
            .validate()
            .map_err(|e| CommandError::invalid_message(e.to_string()))?;
        // A tenant loads its own notices only: ACA trusts the intermediary's key for every EC it serves.
        let tenant = self
            .tenants
            .from_header(command.tenant())
            .map_err(|e| CommandError::invalid_message(e.to_string()))?;
        if tenant.pagopa.is_none() || tenant.fiscal_code != position.fiscal_code {
            return Err(CommandError::invalid_message(format!(
                "fiscal_code: tenant {} publishes only its own positions (fiscal code {})",
                tenant.istat, tenant.fiscal_code
            )));
        }
        let mut call = calls::start(NAME, "paCreatePosition", self.node.url(ACA_PATH));
        call.business_id(position.iuv.clone());
        let result = self.node.post_json(ACA_PATH, &position.to_aca()).await;
        finish_node_call(call, &result);
        result.map_err(|e| e.to_command_error())?;
        Ok(serde_json::json!({
            "fiscal_code": position.fiscal_code,
            "iuv": position.iuv,
            "amount_cents": position.amount_cents,
            "cancelled": position.amount_cents == 0,
        }))
    }
}
