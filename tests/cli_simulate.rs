//! `snodo simulate` as an integrator runs it: names are checked against the registered platform
//! simulators before anything starts, and a wrong or missing name is answered with the known ones
//! (or with the plain fact that none is registered yet). Serving itself is tested through the same
//! launcher in `simulators/tests/framework_admin.rs`.

mod support;

use snodo_simulators::framework::registry::REGISTERED;
use support::snodo;

fn known_names() -> String {
    if REGISTERED.is_empty() {
        "no platform simulator is registered in this build yet".to_owned()
    } else {
        let names: Vec<&str> = REGISTERED.iter().map(|r| r.name).collect();
        format!("the known ones are: {}", names.join(", "))
    }
}

#[test]
fn an_unknown_system_is_reported_with_the_known_ones() {
    let pki_dir = std::env::temp_dir().join(format!("snodo-simulate-pki-{}", std::process::id()));
    let out = snodo(&[
        "simulate",
        "no-such-system",
        "--pki-dir",
        pki_dir.to_str().unwrap(),
    ])
    .run();
    assert!(!out.status.success());
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("no simulator is named \"no-such-system\""),
        "{stderr}"
    );
    assert!(stderr.contains(&known_names()), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing was started");
    assert!(!pki_dir.exists(), "names are checked before the PKI is prepared");
}

#[test]
fn no_system_named_says_what_to_name() {
    let out = snodo(&["simulate", "--http"]).run();
    assert!(!out.status.success());
    let stderr = out.stderr_text();
    assert!(stderr.contains("name at least one simulator to run"), "{stderr}");
    assert!(stderr.contains(&known_names()), "{stderr}");
}
