//! The EC SOAP endpoint the node calls, `/pagopa/{station}` on the inbound listener: the shared SOAP
//! endpoint (size cap, SOAP 1.1, mustUnderstand) behind a check that the caller is the node, then
//! dispatch on the payload's expanded name (never on `SOAPAction` or prefixes, pagopa.md §1), the
//! XSD-strict read, the caller-configuration checks against the station's tenant, and the answer.
//!
//! Every application error is HTTP 200 with `outcome` KO and a complete fault (SANP: never a SOAP
//! Fault, never a KO without fault); only a payload that is no `paForNode` operation at all gets a
//! SOAP Client fault, since no pagoPA answer exists for it.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use snodo_mappings::pagopa::{FaultBean, PaFaultCode, PaRequest, RequestError, Station, ko, read_request};
use snodo_mappings::soap::EnvelopeBuilder;
use snodo_security::tls::PeerCertificate;

use super::config::{NodeClientConfig, normalize_fingerprint};
use super::positions::PositionSource;
use super::receipts::ReceiptSink;
use crate::soap::{Fault, FaultCode, SoapEndpoint, SoapEndpointConfig, SoapHandler, SoapReply, SoapRequest};
use crate::tenants::Tenants;

/// The route path.
pub const PATH: &str = "/pagopa/{station}";

/// What the endpoint answers with.
pub struct EcEndpoint {
    pub tenants: Arc<Tenants>,
    pub positions: PositionSource,
    pub receipts: ReceiptSink,
}

impl EcEndpoint {
    /// The inbound routes: the SOAP endpoint behind the node-client check.
    pub fn router(self, node_client: NodeClientConfig) -> Router {
        SoapEndpoint::router(PATH, Arc::new(self), SoapEndpointConfig::default()).layer(
            axum::middleware::from_fn_with_state(Arc::new(node_client), require_node),
        )
    }

    async fn answer(&self, station_id: &str, read: Result<PaRequest, RequestError>) -> String {
        let tenant = self.tenants.by_station(station_id).ok();
        let broker_id = tenant
            .and_then(|t| t.pagopa.as_ref())
            .map(|p| p.broker_fiscal_code.clone())
            .unwrap_or_default();
        let parsed = match read {
            Ok(p) => p,
            Err(error) => {
                tracing::info!(%error, "pagoPA: request refused.");
                return error
                    .ko_response(&broker_id)
                    .expect("unknown operations are answered before");
            }
        };
        let Some(tenant) = tenant else {
            // The path names no configured station: whatever the request says, it is not ours.
            return ko(
                parsed.operation(),
                &FaultBean::new(PaFaultCode::StazioneIntErrata, parsed.header().id_pa),
            );
        };
        let fiscal_codes = [tenant.fiscal_code.as_str()];
        let station = Station {
            fiscal_codes: &fiscal_codes,
            broker_id: &broker_id,
            station_id,
        };
        if let Err(ko) = parsed.check_station(&station) {
            return ko;
        }
        match &parsed {
            PaRequest::SendRt(receipt) => {
                self.receipts
                    .accept(&tenant.istat, parsed.operation(), receipt)
                    .await
            }
            _ => self.positions.answer(&tenant.istat, &parsed).await,
        }
    }
}

#[async_trait]
impl SoapHandler for EcEndpoint {
    async fn handle(&self, request: SoapRequest) -> SoapReply {
        let read = read_request(&request.envelope);
        if let Err(RequestError::UnknownOperation(name)) = &read {
            return SoapReply::Fault(Fault::new(
                FaultCode::Client,
                format!("{name} is not a paForNode operation"),
            ));
        }
        let station_id = request
            .path
            .get("station")
            .map(String::as_str)
            .unwrap_or_default();
        SoapReply::Payload(payload_of(self.answer(station_id, read).await))
    }
}

/// The mappings write whole envelopes; the shared endpoint wraps a payload in its own. Both come
/// from the one [`EnvelopeBuilder`] without header blocks, so the envelope's frame is known exactly.
fn payload_of(envelope: String) -> String {
    let frame = EnvelopeBuilder::new().body("\u{0}");
    let (head, tail) = frame.split_once('\u{0}').expect("the marker is in the frame");
    envelope
        .strip_prefix(head)
        .and_then(|rest| rest.strip_suffix(tail))
        .map(str::to_owned)
        .expect("the mappings write envelopes with EnvelopeBuilder")
}

/// Only the node may call (pagopa.md §6): a client certificate verified by the TLS layer (with an
/// allowed subject, when configured), or — behind a TLS-terminating proxy — a trusted fingerprint in
/// the header the proxy sets. Anything else is 403 before a byte of the body is read.
async fn require_node(State(config): State<Arc<NodeClientConfig>>, request: Request, next: Next) -> Response {
    let by_certificate = request.extensions().get::<PeerCertificate>().is_some_and(|peer| {
        config.subjects.is_empty()
            || peer
                .subject
                .common_name
                .as_ref()
                .is_some_and(|cn| config.subjects.iter().any(|s| s == cn))
    });
    let by_proxy = config.fingerprint_header.as_ref().is_some_and(|header| {
        request
            .headers()
            .get(header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(normalize_fingerprint)
            .is_some_and(|seen| {
                !seen.is_empty()
                    && config
                        .trusted_fingerprints
                        .iter()
                        .any(|t| normalize_fingerprint(t) == seen)
            })
    });
    if by_certificate || by_proxy {
        return next.run(request).await;
    }
    tracing::warn!("pagoPA: a call without the node's client certificate was refused.");
    (
        StatusCode::FORBIDDEN,
        "the pagoPA EC endpoint answers only the node's client certificate\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_of_takes_the_body_out_of_a_mapping_envelope() {
        let envelope = EnvelopeBuilder::new().body("<a:x xmlns:a=\"urn:x\"/>");
        assert_eq!(payload_of(envelope), "<a:x xmlns:a=\"urn:x\"/>");
    }
}
