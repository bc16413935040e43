//! The "echo" simulator the framework tests run: a tiny protocol with seeded state (a list of items),
//! a JSON endpoint and a SOAP endpoint, so that every part of the framework is exercised through a
//! real listener without depending on any platform simulator. Test-only: never registered.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use snodo_mappings::soap::{EnvelopeBuilder, SOAP11_CONTENT_TYPE, escape_text, read_envelope};
use snodo_simulators::framework::{
    Instance, PlatformError, Recorder, RequestView, RunningSimulator, SimClock, Simulator, Transport, serve,
};
use tokio_util::sync::CancellationToken;

const SEED: [&str; 2] = ["alpha", "beta"];

#[derive(Clone)]
pub struct Echo {
    clock: SimClock,
    items: Arc<Mutex<Vec<String>>>,
}

impl Echo {
    pub fn new(clock: SimClock) -> Echo {
        Echo {
            clock,
            items: Arc::new(Mutex::new(SEED.map(str::to_owned).to_vec())),
        }
    }
}

impl Simulator for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    fn default_port(&self) -> u16 {
        0
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/echo", post(echo_json))
            .route("/soap", post(echo_soap))
            .route("/items", get(items).post(add_item))
            .route("/now", get(now))
            .with_state(self.clone())
    }

    fn reset(&self) {
        *self.items.lock() = SEED.map(str::to_owned).to_vec();
    }

    /// JSON: the `operation` member; SOAP: the payload's local name.
    fn operation(&self, request: &RequestView<'_>) -> Option<String> {
        if let Some(op) = request
            .json()
            .and_then(|j| j.get("operation"))
            .and_then(|o| o.as_str())
        {
            return Some(op.to_owned());
        }
        request.soap_operation()
    }

    /// The pagoPA way: HTTP 200, outcome KO.
    fn render_platform_error(&self, operation: Option<&str>, error: &PlatformError) -> Response {
        axum::Json(serde_json::json!({
            "operation": operation,
            "outcome": "KO",
            "code": error.code,
            "message": error.message,
        }))
        .into_response()
    }
}

async fn echo_json(State(echo): State<Echo>, body: Bytes) -> Response {
    let received: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    axum::Json(serde_json::json!({
        "outcome": "OK",
        "received": received,
        "now": echo.clock.now(),
    }))
    .into_response()
}

async fn echo_soap(body: Bytes) -> Response {
    let Ok(envelope) = read_envelope(&body, &Default::default()) else {
        return (StatusCode::BAD_REQUEST, "not a SOAP envelope").into_response();
    };
    let name = envelope.payload_name().local_name().to_owned();
    let payload = format!(
        "<e:echoResponse xmlns:e=\"urn:snodo:echo\"><request>{}</request><padding>{}</padding></e:echoResponse>",
        escape_text(&name),
        "x".repeat(200)
    );
    (
        [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
        EnvelopeBuilder::new().body(&payload),
    )
        .into_response()
}

async fn items(State(echo): State<Echo>) -> Response {
    axum::Json(echo.items.lock().clone()).into_response()
}

async fn add_item(State(echo): State<Echo>, body: String) -> Response {
    echo.items.lock().push(body);
    StatusCode::CREATED.into_response()
}

async fn now(State(echo): State<Echo>) -> Response {
    axum::Json(serde_json::json!({ "now": echo.clock.now() })).into_response()
}

/// A running echo simulator on an ephemeral port, stopped on drop.
pub struct Running {
    pub url: String,
    pub client: reqwest::Client,
    pub instance: Arc<Instance>,
    shutdown: CancellationToken,
    _running: RunningSimulator,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves an echo simulator over plain HTTP, with `recorder` if given.
pub async fn start(recorder: Option<Recorder>) -> Running {
    let clock = SimClock::new();
    let mut instance = Instance::new(Arc::new(Echo::new(clock.clone())), clock);
    if let Some(recorder) = recorder {
        instance = instance.with_recorder(recorder);
    }
    let instance = Arc::new(instance);
    let shutdown = CancellationToken::new();
    let running = serve(
        instance.clone(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Transport::Http,
        shutdown.clone(),
    )
    .await
    .expect("the echo simulator starts");
    Running {
        url: running.url(),
        client: reqwest::Client::new(),
        instance,
        shutdown,
        _running: running,
    }
}

impl Running {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Adds fault rules through the admin API, asserting they were accepted.
    pub async fn add_faults(&self, rules: serde_json::Value) -> serde_json::Value {
        let response = self
            .client
            .post(self.at("/admin/faults"))
            .json(&rules)
            .send()
            .await
            .expect("admin API reachable");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("admin answers JSON");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// POSTs a JSON call naming `operation`.
    pub async fn call(
        &self,
        operation: &str,
        extra: serde_json::Value,
    ) -> reqwest::Result<reqwest::Response> {
        let mut body = serde_json::json!({ "operation": operation });
        if let (Some(b), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        self.client.post(self.at("/echo")).json(&body).send().await
    }

    /// POSTs a SOAP call whose payload is `<e:{operation}>{inner}</e:{operation}>`.
    pub async fn soap(&self, operation: &str, inner: &str) -> reqwest::Result<reqwest::Response> {
        let payload = format!("<e:{operation} xmlns:e=\"urn:snodo:echo\">{inner}</e:{operation}>");
        self.client
            .post(self.at("/soap"))
            .header(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)
            .body(EnvelopeBuilder::new().body(&payload))
            .send()
            .await
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.client
            .get(self.at(path))
            .send()
            .await
            .expect("reachable")
            .json()
            .await
            .expect("JSON")
    }
}
