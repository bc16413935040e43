//! The coordination-store conformance suite against Redis (`SNODO_TEST_REDIS_URL`, default the local
//! one), plus what only a networked store can do: be unreachable.

use snodo_connectors::state::testing::TestBackend;
use snodo_connectors::state::{RedisStore, StateError, StateSettings};

snodo_connectors::state_conformance_tests!(TestBackend::redis());

/// An unreachable Redis is "unavailable, try again", never a logic error, and the message names the
/// address without the credentials of the URL.
#[tokio::test]
async fn unreachable_redis_is_unavailable_and_retryable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("redis://snodo:hunter2@127.0.0.1:{port}/0");
    let error = match RedisStore::connect(&url, StateSettings::default()).await {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e,
    };
    assert!(matches!(error, StateError::Unavailable { .. }), "{error}");
    assert!(error.is_retryable());
    let text = error.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// A URL Redis cannot use is a logic error (retrying will not help), and its credentials stay out of the
/// message.
#[tokio::test]
async fn unusable_redis_url_is_not_retryable_and_not_echoed() {
    let url = "redis://snodo:hunter2@127.0.0.1:notaport/0";
    let error = match RedisStore::connect(url, StateSettings::default()).await {
        Ok(_) => panic!("connected with a malformed URL"),
        Err(e) => e,
    };
    assert!(!error.is_retryable(), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
