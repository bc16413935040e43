//! Where a platform connector finds its platform: the configured endpoint, or in development the
//! simulator on its default port with the development CA — never a silent fallback for real tenants.

use std::collections::BTreeMap;
use std::sync::Arc;

use snodo_connectors::config::{Config, Environment, PlatformEndpointConfig};
use snodo_connectors::platform::{PlatformContext, PlatformError};
use snodo_connectors::state::{StateSettings, connect};
use snodo_connectors::tenants::Tenants;
use snodo_queue::Names;
use snodo_queue::request::Requester;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_security::devpki;
use tokio_util::sync::CancellationToken;

async fn context(config: Config, with_dev_ca: bool, offset: u16) -> PlatformContext {
    let transport = EmbeddedTestBroker::new().connect().await;
    let names = Names::new("platform-test");
    PlatformContext {
        tenants: Arc::new(Tenants::from_config(&config)),
        config: Arc::new(config),
        requester: Arc::new(Requester::start(transport.clone(), &names.prefix).await.unwrap()),
        transport,
        names,
        store: connect(None, StateSettings::with_prefix("platform-test"))
            .await
            .unwrap(),
        development_ca: with_dev_ca.then(|| devpki::shared_for_tests().trust_anchors()),
        development_pki: with_dev_ca.then(|| devpki::shared_for_tests().clone()),
        simulator_port_offset: offset,
        shutdown: CancellationToken::new(),
        telemetry: Default::default(),
    }
}

#[tokio::test]
async fn development_instances_use_the_simulator_with_the_development_ca() {
    let ctx = context(Config::development(), true, 100).await;
    let endpoint = ctx.endpoint("anpr", 9441).unwrap();
    assert_eq!(endpoint.url, "https://127.0.0.1:9541");
    assert_eq!(endpoint.trusted.certificates().len(), 1);
}

#[tokio::test]
async fn a_configured_endpoint_wins_and_real_tenants_never_fall_back() {
    let pki = devpki::shared_for_tests();
    let mut config = Config::development();
    config.platforms = BTreeMap::from([(
        "anpr".to_owned(),
        PlatformEndpointConfig {
            url: "https://ws.anpr.example/ws".into(),
            ca: vec![pki.ca_file().to_owned()],
        },
    )]);
    let ctx = context(config.clone(), true, 0).await;
    assert_eq!(
        ctx.endpoint("anpr", 9441).unwrap().url,
        "https://ws.anpr.example/ws"
    );

    config.tenants[0].environment = Environment::Test;
    let ctx = context(config, false, 0).await;
    assert_eq!(
        ctx.endpoint("anpr", 9441).unwrap().url,
        "https://ws.anpr.example/ws"
    );
    let err = ctx.endpoint("pagopa", 9442).unwrap_err();
    assert!(matches!(err, PlatformError::NoEndpoint { .. }), "{err}");
    assert!(err.to_string().contains("[platforms.pagopa]"), "{err}");
}
