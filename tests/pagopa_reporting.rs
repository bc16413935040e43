//! The REST FdR feed against a scripted FdR API: every published flow since the cursor becomes one
//! `pagopa.reporting.flow` item with all its payment pages, the subscription key is sent, the cursor
//! is the last flow's `published`, and two flows published at the same instant never straddle a poll.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use parking_lot::Mutex;
use snodo_connectors::pagopa::aca::{NodeApi, SUBSCRIPTION_KEY_HEADER};
use snodo_connectors::pagopa::reporting::FdrFeed;
use snodo_connectors::schedule::{Feed, FeedError};
use tokio::net::TcpListener;

const ORG: &str = "01199250158";
const KEY: &str = "fdr-key";

#[derive(Clone, Default)]
struct FakeFdr {
    /// (fdr, published)
    flows: Arc<Vec<(String, String)>>,
    published_gt_seen: Arc<Mutex<Vec<Option<String>>>>,
}

type Q = Query<std::collections::HashMap<String, String>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers.get(SUBSCRIPTION_KEY_HEADER).and_then(|v| v.to_str().ok()) == Some(KEY)
}

async fn list(State(f): State<FakeFdr>, headers: HeaderMap, Query(q): Q) -> (StatusCode, String) {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    let gt = q.get("publishedGt").cloned();
    f.published_gt_seen.lock().push(gt.clone());
    let data: Vec<serde_json::Value> = f
        .flows
        .iter()
        .filter(|(_, p)| gt.as_ref().is_none_or(|g| p > g))
        .map(|(fdr, published)| serde_json::json!({"fdr": fdr, "pspId": "BCITITMM", "revision": 1, "published": published}))
        .collect();
    let body = serde_json::json!({
        "metadata": {"pageSize": 100, "pageNumber": 1, "totPage": 1},
        "count": data.len(),
        "data": data,
    });
    (StatusCode::OK, body.to_string())
}

async fn flow(
    Path((_org, fdr, _rev, _psp)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    let body = serde_json::json!({
        "fdr": fdr, "revision": 1, "fdrDate": "2025-07-04T10:00:00Z", "regulation": "SEPA-TRN-1",
        "regulationDate": "2025-07-04",
        "sender": {"type": "ABI_CODE", "id": "03069", "pspId": "BCITITMM", "pspName": "Banca Test",
                   "pspBrokerId": "BCITITMM", "channelId": "BCITITMM_01"},
        "receiver": {"id": "01199250158", "organizationId": ORG, "organizationName": "Comune di Milano"},
        "totPayments": 3, "sumPayments": 200.95,
    });
    (StatusCode::OK, body.to_string())
}

/// Three payments over two pages of size 2.
async fn payments(headers: HeaderMap, Query(q): Q) -> (StatusCode, String) {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let all = [
        ("01000000000000144", 100.5),
        ("01000000000000245", 0.45),
        ("01000000000000346", 100.0),
    ];
    let data: Vec<serde_json::Value> = all
        .iter()
        .enumerate()
        .skip(((page - 1) * 2) as usize)
        .take(2)
        .map(|(i, (iuv, pay))| {
            serde_json::json!({"index": i + 1, "iuv": iuv, "iur": format!("IUR{i}"),
            "idTransfer": 1, "pay": pay, "payStatus": "EXECUTED", "payDate": "2025-07-03T21:02:48Z"})
        })
        .collect();
    let body = serde_json::json!({
        "metadata": {"pageSize": 2, "pageNumber": page, "totPage": 2},
        "count": 3,
        "data": data,
    });
    (StatusCode::OK, body.to_string())
}

async fn start(flows: Vec<(&str, &str)>, key: &str) -> (FakeFdr, FdrFeed) {
    let fake = FakeFdr {
        flows: Arc::new(
            flows
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
        ),
        ..FakeFdr::default()
    };
    let base = "/fdr-org/service/v1/organizations/{org}/fdrs";
    let app = Router::new()
        .route(base, get(list))
        .route(
            &format!("{base}/{{fdr}}/revisions/{{rev}}/psps/{{psp}}"),
            get(flow),
        )
        .route(
            &format!("{base}/{{fdr}}/revisions/{{rev}}/psps/{{psp}}/payments"),
            get(payments),
        )
        .with_state(fake.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let node = NodeApi::new(reqwest::Client::builder().build().unwrap(), url, key);
    (fake, FdrFeed::new(node, "015146", ORG))
}

#[tokio::test]
async fn every_published_flow_becomes_one_item_with_all_its_payments() {
    let (fake, feed) = start(
        vec![
            ("2025-07-04BCITITMM-0002", "2025-07-04T10:00:00Z"),
            ("2025-07-04BCITITMM-0001", "2025-07-04T09:00:00Z"),
        ],
        KEY,
    )
    .await;
    let poll = feed.poll(None).await.unwrap();
    assert_eq!(poll.items.len(), 2);
    // In published order, whatever order the API listed them in.
    assert_eq!(poll.items[0].body["flow_id"], "2025-07-04BCITITMM-0001");
    assert_eq!(poll.items[0].kind.as_str(), "pagopa.reporting.flow");
    assert_eq!(poll.items[0].tenant.as_deref(), Some("015146"));
    assert_eq!(
        poll.items[0].platform_id,
        format!("{ORG}/2025-07-04BCITITMM-0001/1")
    );
    let payments = poll.items[0].body["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 3, "both payment pages");
    assert_eq!(payments[1]["amount_cents"], 45);
    assert_eq!(poll.items[0].body["total_amount_cents"], 20095);
    assert_eq!(poll.next_cursor, "2025-07-04T10:00:00Z");

    // The next poll asks only for what was published after the cursor.
    let again = feed.poll(Some(&poll.next_cursor)).await.unwrap();
    assert!(again.items.is_empty());
    assert_eq!(
        again.next_cursor, "2025-07-04T10:00:00Z",
        "an empty poll keeps the cursor"
    );
    assert_eq!(
        fake.published_gt_seen.lock().last().cloned().flatten().as_deref(),
        Some("2025-07-04T10:00:00Z")
    );
}

#[tokio::test]
async fn flows_published_at_one_instant_are_never_split_between_polls() {
    // 25 flows, the 20th to the 22nd published at the same instant.
    let names: Vec<String> = (1..=25).map(|i| format!("2025-07-04BCITITMM-{i:04}")).collect();
    let stamps: Vec<String> = (1..=25)
        .map(|i| {
            let second = if (20..=22).contains(&i) { 20 } else { i };
            format!("2025-07-04T10:00:{second:02}Z")
        })
        .collect();
    let flows: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(stamps.iter().map(String::as_str))
        .collect();
    let (_fake, feed) = start(flows, KEY).await;
    let first = feed.poll(None).await.unwrap();
    assert_eq!(
        first.items.len(),
        22,
        "the batch runs to the end of the shared instant"
    );
    assert!(first.more);
    let second = feed.poll(Some(&first.next_cursor)).await.unwrap();
    assert_eq!(second.items.len(), 3);
    assert!(!second.more);
}

#[tokio::test]
async fn a_wrong_subscription_key_is_an_unusable_answer_not_an_outage() {
    let (_fake, feed) = start(vec![], "wrong").await;
    assert!(matches!(feed.poll(None).await, Err(FeedError::Invalid(_))));
}

/// The scheduler stores an empty cursor for a feed that never saw an item, and FdR refuses an empty
/// `publishedGt` (found by `tests/pagopa_e2e.rs` against the node simulator).
#[tokio::test]
async fn an_empty_cursor_asks_for_every_flow_without_published_gt() {
    let (fake, feed) = start(vec![("2025-07-04BCITITMM-0001", "2025-07-04T09:00:00Z")], KEY).await;
    let empty = feed.poll(None).await.unwrap();
    let poll = feed.poll(Some("")).await.unwrap();
    assert_eq!(poll.items.len(), empty.items.len());
    assert_eq!(poll.items.len(), 1);
    assert_eq!(*fake.published_gt_seen.lock(), [None, None]);
}
