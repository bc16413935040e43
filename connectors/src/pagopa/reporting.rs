//! Reporting flows (flussi di rendicontazione) polled from the node into `pagopa.reporting.flow`
//! events, one feed per tenant on the shared scheduler (one poller, a durable cursor, event ids
//! derived from the flow: [`ReportingFlow::platform_id`] = receiver, flow id and revision).
//!
//! The REST FdR API is the forward path (the SOAP primitives are deprecated from 30 June 2026,
//! pagopa.md §2.3): `GET …/organizations/{cf}/fdrs?publishedGt=<cursor>` lists the flows published
//! since the cursor, and each flow is read with all its payment pages. The cursor is the `published`
//! instant of the last flow turned into an event; a poll never stops between two flows published at
//! the same instant, since `publishedGt` would skip the second.
//!
//! `[pagopa.reporting] api = "soap"` polls the legacy primitives instead ([`super::reporting_soap`]);
//! both feeds publish the same event, and every call either makes is recorded in the journal.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use snodo_mappings::pagopa::FlowCaller;
use snodo_mappings::pagopa::contract::{FdrFlow, FdrFlowsPage, FdrPayment, FdrPaymentsPage, ReportingFlow};
use snodo_queue::runtime::journal::{PlatformAttempt, record_platform_attempt};
use snodo_security::schema::Schema;

use super::aca::{NodeApi, NodeCallError};
use super::config::{DEVELOPMENT_STATION_PASSWORD, ReportingApi};
use super::reporting_soap::SoapFlowFeed;
use super::{NAME, instance_secret};
use crate::platform::{Background, PlatformContext, PlatformError};
use crate::schedule::{Feed, FeedError, FeedItem, Poll, Scheduler, SchedulerSettings};

/// The event type of a flow.
pub const REPORTING_FLOW: &str = "pagopa.reporting.flow";
/// The FdR organization API, relative to the node's base URL.
pub const FDR_BASE: &str = "/fdr-org/service/v1";
/// Flows fetched in one poll at most (each costs two calls or more); the scheduler polls again at
/// once when there are more.
const FLOWS_PER_POLL: usize = 20;
const PAGE_SIZE: u32 = 100;
const PAYMENTS_PAGE_SIZE: u32 = 1000;

/// The REST FdR feed of one EC (its fiscal code is FdR's `organizationId`).
pub struct FdrFeed {
    name: String,
    node: NodeApi,
    tenant: String,
    organization: String,
}

impl FdrFeed {
    pub fn new(node: NodeApi, tenant: impl Into<String>, organization: impl Into<String>) -> FdrFeed {
        let tenant = tenant.into();
        FdrFeed {
            name: format!("pagopa-fdr.{tenant}"),
            node,
            tenant,
            organization: organization.into(),
        }
    }

    fn organization_path(&self) -> String {
        format!("{FDR_BASE}/organizations/{}/fdrs", self.organization)
    }

    /// One `GET` of the FdR API, recorded in the journal.
    async fn get(
        &self,
        operation: &'static str,
        path: &str,
        query: &[(&str, String)],
        business_ids: Vec<String>,
    ) -> Result<serde_json::Value, NodeCallError> {
        let started = Instant::now();
        let answer = self.node.get_json(path, query).await;
        record_platform_attempt(PlatformAttempt {
            platform: NAME,
            operation: operation.to_owned(),
            endpoint: self.node.url(path),
            status: match &answer {
                Ok(_) => Some(200),
                Err(NodeCallError::Status { status, .. }) => Some(*status),
                Err(_) => None,
            },
            outcome: answer.as_ref().map(|_| ()).map_err(|e| e.to_command_error().code),
            platform_code: match &answer {
                Err(NodeCallError::Status { status, .. }) => Some(format!("HTTP {status}")),
                _ => None,
            },
            elapsed: started.elapsed(),
            request: None,
            response: None,
            business_ids,
        });
        answer
    }

    async fn list(
        &self,
        cursor: Option<&str>,
    ) -> Result<Vec<snodo_mappings::pagopa::contract::FdrPublishedFlow>, FeedError> {
        let mut flows = Vec::new();
        let mut page = 1;
        loop {
            let mut query = vec![("page", page.to_string()), ("size", PAGE_SIZE.to_string())];
            if let Some(c) = cursor {
                query.push(("publishedGt", c.to_owned()));
            }
            let answer: FdrFlowsPage = decode(
                self.get("fdrs", &self.organization_path(), &query, Vec::new())
                    .await,
            )?;
            flows.extend(answer.data);
            if page >= answer.metadata.tot_page || flows.len() > FLOWS_PER_POLL {
                break;
            }
            page += 1;
        }
        Ok(flows)
    }

    async fn read(&self, fdr: &str, revision: u64, psp: &str) -> Result<ReportingFlow, FeedError> {
        let path = format!(
            "{}/{fdr}/revisions/{revision}/psps/{psp}",
            self.organization_path()
        );
        let flow: FdrFlow = decode(self.get("fdr", &path, &[], vec![fdr.to_owned()]).await)?;
        let mut payments: Vec<FdrPayment> = Vec::new();
        let mut page = 1;
        loop {
            let query = [
                ("page", page.to_string()),
                ("size", PAYMENTS_PAGE_SIZE.to_string()),
            ];
            let answer: FdrPaymentsPage = decode(
                self.get(
                    "fdrPayments",
                    &format!("{path}/payments"),
                    &query,
                    vec![fdr.to_owned()],
                )
                .await,
            )?;
            payments.extend(answer.data);
            if page >= answer.metadata.tot_page {
                break;
            }
            page += 1;
        }
        ReportingFlow::from_fdr(&flow, &payments)
            .map_err(|e| FeedError::Invalid(format!("flow {fdr} revision {revision}: {e}")))
    }
}

#[async_trait]
impl Feed for FdrFeed {
    fn name(&self) -> &str {
        &self.name
    }

    async fn poll(&self, cursor: Option<&str>) -> Result<Poll, FeedError> {
        // A feed that has never seen a flow keeps an empty cursor; FdR refuses an empty
        // `publishedGt` (it must be a date-time), so an empty cursor means "from the start".
        let cursor = cursor.filter(|c| !c.is_empty());
        let mut listed = self.list(cursor).await?;
        // The cursor is compared as the API writes it (RFC 3339 in UTC): order by it, then by id.
        listed.sort_by(|a, b| (&a.published, &a.fdr, a.revision).cmp(&(&b.published, &b.fdr, b.revision)));
        let mut take = listed.len().min(FLOWS_PER_POLL);
        while take < listed.len() && take > 0 && listed[take].published == listed[take - 1].published {
            take += 1;
        }
        let more = take < listed.len();
        let mut items = Vec::with_capacity(take);
        for entry in &listed[..take] {
            let flow = self.read(&entry.fdr, entry.revision, &entry.psp_id).await?;
            items.push(FeedItem {
                platform_id: flow.platform_id(),
                kind: REPORTING_FLOW.parse().expect("a valid constant type"),
                tenant: Some(self.tenant.clone()),
                body: serde_json::to_value(&flow).expect("contract types serialize"),
            });
        }
        let next_cursor = listed[..take]
            .last()
            .map(|f| f.published.clone())
            .or_else(|| cursor.map(str::to_owned))
            .unwrap_or_default();
        Ok(Poll {
            items,
            next_cursor,
            more,
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    answer: Result<serde_json::Value, NodeCallError>,
) -> Result<T, FeedError> {
    let value = answer.map_err(|e| match e {
        NodeCallError::Status { status, .. } if !(status == 429 || status >= 500) => {
            FeedError::Invalid(e.to_string())
        }
        e => FeedError::Unavailable(e.to_string()),
    })?;
    serde_json::from_value(value).map_err(|e| FeedError::Invalid(format!("FdR answer: {e}")))
}

/// What the legacy feeds share: the station's password and the compiled flow schema.
struct LegacySetup {
    password: String,
    schema: Arc<Schema>,
}

fn legacy_setup(context: &PlatformContext) -> Result<LegacySetup, PlatformError> {
    let settings = &context.config.pagopa.reporting;
    let configuration = |reason: String| PlatformError::Configuration {
        platform: NAME.into(),
        reason,
    };
    let password = instance_secret(
        context,
        "reporting.password_file",
        settings.password_file.as_deref(),
        DEVELOPMENT_STATION_PASSWORD,
    )?;
    // nodeForPa.xsd: stPassword is 8 to 15 characters; the node would refuse anything else.
    if !(8..=15).contains(&password.chars().count()) {
        return Err(configuration(
            "pagopa.reporting.password_file: the station password must be 8 to 15 characters".into(),
        ));
    }
    let path = settings.flow_schema_path();
    let schema = Schema::compile(&path).map_err(|e| {
        configuration(format!(
            "pagopa.reporting.flow_schema: {} does not compile ({e}); point it at FlussoRiversamento_1_0_4.xsd",
            path.display()
        ))
    })?;
    Ok(LegacySetup {
        password,
        schema: Arc::new(schema),
    })
}

/// One scheduler per tenant with a pagoPA section, when reporting is enabled, on the configured API.
pub fn schedulers(context: &PlatformContext, node: &NodeApi) -> Result<Vec<Background>, PlatformError> {
    let settings = &context.config.pagopa.reporting;
    if !settings.enabled {
        return Ok(Vec::new());
    }
    let legacy = match settings.api {
        ReportingApi::Rest => None,
        ReportingApi::Soap => Some(legacy_setup(context)?),
    };
    let mut tasks: Vec<Background> = Vec::new();
    for tenant in context.tenants.all() {
        let Some(pagopa) = &tenant.pagopa else { continue };
        let feed: Arc<dyn Feed> = match &legacy {
            None => Arc::new(FdrFeed::new(node.clone(), &tenant.istat, &tenant.fiscal_code)),
            Some(legacy) => {
                let caller = FlowCaller {
                    broker_id: pagopa.broker_fiscal_code.clone(),
                    // Validation guarantees at least one; the first is the one the node knows it by.
                    station_id: pagopa.stations[0].clone(),
                    password: legacy.password.clone(),
                    domain_id: None,
                    psp_id: None,
                };
                Arc::new(SoapFlowFeed::new(
                    node.clone(),
                    &tenant.istat,
                    &tenant.fiscal_code,
                    caller,
                    legacy.schema.clone(),
                ))
            }
        };
        let mut scheduler_settings = SchedulerSettings::new(context.names.clone());
        scheduler_settings.app_id = NAME.into();
        scheduler_settings.interval = settings.interval;
        let scheduler = Scheduler::new(
            feed,
            context.store.clone(),
            context.transport.clone(),
            scheduler_settings,
        )
        .map_err(|e| PlatformError::Configuration {
            platform: NAME.into(),
            reason: e.to_string(),
        })?;
        context
            .telemetry
            .register_feed(scheduler.feed_name(), scheduler.metrics());
        let shutdown = context.shutdown.clone();
        tasks.push(Box::pin(async move {
            scheduler.run(shutdown).await;
            Ok(())
        }));
    }
    Ok(tasks)
}
