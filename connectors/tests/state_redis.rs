//! The coordination-store conformance suite against Redis (`SNODO_TEST_REDIS_URL`, default the local
//! one), plus what only a networked store can do: be unreachable, go away and come back.

use std::time::Duration;

use snodo_connectors::state::testing::TestBackend;
use snodo_connectors::state::{RedisStore, StateError, StateSettings, StateStore};

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

/// A private Redis on a free port, killed when dropped. Never the shared test Redis.
struct PrivateRedis {
    child: tokio::process::Child,
}

impl PrivateRedis {
    async fn start(port: u16) -> PrivateRedis {
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        PrivateRedis { child }
    }

    async fn stop(mut self) {
        self.child.kill().await.expect("stop the private Redis");
    }
}

/// While Redis is down every operation is `Unavailable` (retryable, nothing decided); once it is back the
/// same store value works again without being rebuilt.
#[tokio::test]
async fn store_reports_unavailable_while_redis_is_down_and_recovers() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}");
    let redis = PrivateRedis::start(port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let store = loop {
        match RedisStore::connect(&url, StateSettings::default()).await {
            Ok(store) => break store,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(e.is_retryable(), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the private Redis did not start: {e}"),
        }
    };
    let id = uuid::Uuid::new_v4();
    assert_eq!(store.allocate("anpr-op", "015146", id).await.unwrap(), 1);

    redis.stop().await;
    let error = store
        .allocate("anpr-op", "015146", uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(matches!(error, StateError::Unavailable { .. }), "{error}");

    let redis = PrivateRedis::start(port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match store.cursor("feed").await {
            Ok(cursor) => {
                // This Redis keeps nothing across a restart: production needs persistence (DESIGN §1).
                assert_eq!(cursor, None);
                break;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(e.is_retryable(), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not recover after Redis came back: {e}"),
        }
    }
    redis.stop().await;
}
