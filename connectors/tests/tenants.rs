//! Tenants: each platform's identities in configuration, resolving a tenant from a header or a
//! pagoPA station, the public URLs it gives the platforms, and the gaps `snodo check` reports.

use snodo_connectors::config::{Config, load_from_str};
use snodo_connectors::tenants::{TenantError, Tenants};

fn load(toml: &str) -> Result<Config, String> {
    load_from_str("snodo.toml", Some(toml), Vec::<(String, String)>::new()).map_err(|e| e.to_string())
}

const TWO_TENANTS: &str = r#"
[[tenants]]
istat = "015146"
name = "Comune di Milano"
fiscal_code = "01199250158"
cadastral_code = "F205"
public_base_url = "https://snodo.comune.milano.example/"
environment = "test"
[tenants.pagopa]
broker_fiscal_code = "01199250158"
stations = ["01199250158_01", "01199250158_02"]
[tenants.anpr]
tipo_invio = "TEST"
workstation_id = "pc-001"
application_id = "snodo"
[tenants.identity]
spid_entity_id = "https://snodo.comune.milano.example/identity/015146/spid/metadata"
return_urls = ["https://servizi.comune.milano.example/"]

[[tenants]]
istat = "058091"
name = "Roma Capitale"
fiscal_code = "02438750586"
cadastral_code = "H501"
public_base_url = "https://snodo.comune.roma.example"
environment = "test"
[tenants.pagopa]
broker_fiscal_code = "02438750586"
stations = ["02438750586_01"]
"#;

#[test]
fn tenants_resolve_by_header_and_by_station() {
    let tenants = Tenants::from_config(&load(TWO_TENANTS).unwrap());
    assert_eq!(tenants.from_header(Some("058091")).unwrap().name, "Roma Capitale");
    assert_eq!(
        tenants.from_header(Some(" 015146 ")).unwrap().name,
        "Comune di Milano"
    );
    assert_eq!(tenants.from_header(None).unwrap_err(), TenantError::Missing);
    assert_eq!(tenants.from_header(Some("")).unwrap_err(), TenantError::Missing);
    assert!(matches!(
        tenants.from_header(Some("999999")),
        Err(TenantError::Unknown(_))
    ));
    assert_eq!(tenants.by_station("01199250158_02").unwrap().istat, "015146");
    assert_eq!(tenants.by_station("02438750586_01").unwrap().istat, "058091");
    assert!(matches!(
        tenants.by_station("02438750586_99"),
        Err(TenantError::UnknownStation(_))
    ));
}

#[test]
fn public_urls_follow_the_default_paths() {
    let config = load(TWO_TENANTS).unwrap();
    let urls = Tenants::public_urls(&config.tenants[0]);
    assert_eq!(
        urls.pagopa,
        vec![
            (
                "01199250158_01".to_owned(),
                "https://snodo.comune.milano.example/pagopa/01199250158_01".to_owned()
            ),
            (
                "01199250158_02".to_owned(),
                "https://snodo.comune.milano.example/pagopa/01199250158_02".to_owned()
            ),
        ]
    );
    assert_eq!(
        urls.spid_metadata.as_deref(),
        Some("https://snodo.comune.milano.example/identity/015146/spid/metadata")
    );
    assert_eq!(urls.cie_metadata, None, "no CIE entity id configured");
    assert_eq!(
        urls.acs,
        "https://snodo.comune.milano.example/identity/015146/acs"
    );
    assert_eq!(
        urls.anpr_notifications,
        "https://snodo.comune.milano.example/anpr/015146/notifications"
    );
    let roma = Tenants::public_urls(&config.tenants[1]);
    assert_eq!(
        roma.pagopa[0].1,
        "https://snodo.comune.roma.example/pagopa/02438750586_01"
    );
}

#[test]
fn platform_sections_are_checked_with_the_key_named() {
    let cases = [
        (
            TWO_TENANTS.replace("tipo_invio = \"TEST\"", "tipo_invio = \"PROD\""),
            "tenants[0].anpr.tipo_invio",
        ),
        (
            TWO_TENANTS.replace(
                "stations = [\"02438750586_01\"]",
                "stations = [\"01199250158_02\"]",
            ),
            "tenants[1].pagopa.stations[0]",
        ),
        (
            TWO_TENANTS.replace("stations = [\"02438750586_01\"]", "stations = []"),
            "tenants[1].pagopa.stations",
        ),
        (
            TWO_TENANTS.replace("stations = [\"02438750586_01\"]", "stations = [\"a/b\"]"),
            "tenants[1].pagopa.stations[0]",
        ),
        (
            TWO_TENANTS.replace(
                "broker_fiscal_code = \"02438750586\"",
                "broker_fiscal_code = \"123\"",
            ),
            "tenants[1].pagopa.broker_fiscal_code",
        ),
        (
            TWO_TENANTS.replace(
                "spid_entity_id = \"https://snodo.comune.milano.example/identity/015146/spid/metadata\"",
                "spid_entity_id = \"http://snodo.comune.milano.example/spid\"",
            ),
            "tenants[0].identity.spid_entity_id",
        ),
        (
            TWO_TENANTS.replace(
                "return_urls = [\"https://servizi.comune.milano.example/\"]",
                "return_urls = [\"/relative\"]",
            ),
            "tenants[0].identity.return_urls[0]",
        ),
        (
            TWO_TENANTS.replace("workstation_id = \"pc-001\"", "workstation_id = \" \""),
            "tenants[0].anpr.workstation_id",
        ),
        (
            TWO_TENANTS.replace("[tenants.anpr]", "[tenants.anpr]\nunknown_key = 1"),
            "unknown_key",
        ),
        (
            TWO_TENANTS.replace("[tenants.anpr]", "[tenants.anpr]\nsends_in_flight = 0"),
            "tenants[0].anpr.sends_in_flight",
        ),
        (
            TWO_TENANTS.replace("[tenants.anpr]", "[tenants.anpr]\nsends_in_flight = 65"),
            "tenants[0].anpr.sends_in_flight",
        ),
    ];
    for (text, key) in cases {
        let err = load(&text).expect_err(key);
        assert!(err.contains(key), "expected the error to name {key}: {err}");
        assert!(err.contains("snodo.toml"), "{err}");
    }
}

#[test]
fn gaps_name_what_each_tenant_lacks() {
    let tenants = Tenants::from_config(&load(TWO_TENANTS).unwrap());
    let gaps: Vec<String> = tenants.gaps().iter().map(ToString::to_string).collect();
    let expect = [
        "tenant 015146 (pagopa): tls.client_ca is empty",
        "tenant 015146 (anpr): certificates.anpr_client is missing",
        "tenant 015146 (identity): certificates.spid_signing is missing",
        "tenant 058091 (pagopa): tls.client_ca is empty",
    ];
    for e in expect {
        assert!(
            gaps.iter().any(|g| g.starts_with(e)),
            "missing gap {e:?} in {gaps:#?}"
        );
    }
    assert_eq!(gaps.len(), expect.len(), "{gaps:#?}");

    let bare = load(
        r#"
[[tenants]]
istat = "015146"
name = "Comune di Milano"
fiscal_code = "01199250158"
cadastral_code = "F205"
public_base_url = "http://127.0.0.1:7443"
environment = "production"
"#,
    )
    .unwrap();
    let gaps: Vec<String> = Tenants::from_config(&bare)
        .gaps()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(gaps.iter().any(|g| g.contains("uses no platform")), "{gaps:#?}");
    assert!(
        gaps.iter().any(|g| g.contains("public_base_url must be https")),
        "{gaps:#?}"
    );
}

#[test]
fn the_development_configuration_is_complete() {
    let config = Config::development();
    let tenants = Tenants::from_config(&config);
    assert_eq!(
        tenants.gaps(),
        vec![],
        "snodo up's own configuration must pass snodo check"
    );
    let milano = tenants.by_station("01199250158_01").unwrap();
    assert_eq!(milano.istat, "015146");
    assert_eq!(
        Tenants::public_urls(milano).pagopa[0].1,
        "https://127.0.0.1:7443/pagopa/01199250158_01"
    );
}
