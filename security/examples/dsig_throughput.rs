//! A measurement, not a check (issue 3's aim: at least 5,000 SPID Response verifications per second
//! per core, by parsing once and caching keys), until `snodo bench xml` takes it over. Run it in release:
//!
//! ```text
//! cargo run --release -p snodo-security --example dsig_throughput
//! ```
//!
//! One verification = parse the fixture Response (6,297 bytes) and verify both enveloped signatures
//! (Response and Assertion, RSA-2048/SHA-256, exclusive c14n) with `SignaturePolicy::spid()` and the
//! fixture IdP certificate, parsed once into `TrustedKeys` beforehand. Time is the CPU time of the
//! measuring thread (`/proc/thread-self/schedstat`), so a busy machine shows up as wall time only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use snodo_security::dsig::{SignaturePolicy, TrustedKeys, signature_children, verify_enveloped_signature};
use snodo_security::xml::{Limits, parse};

fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn verify_once(bytes: &[u8], policy: &SignaturePolicy, keys: &TrustedKeys) -> usize {
    let doc = parse(bytes, &Limits::default()).expect("parses");
    let root = doc.document_element();
    let mut verified = 0;
    for signature in signature_children(&doc, root) {
        verify_enveloped_signature(&doc, signature, policy, keys).expect("Response signature");
        verified += 1;
    }
    for assertion in children_named(&doc, root, SAML, "Assertion") {
        for signature in signature_children(&doc, assertion) {
            verify_enveloped_signature(&doc, signature, policy, keys).expect("Assertion signature");
            verified += 1;
        }
    }
    verified
}

fn main() {
    let bytes = std::fs::read(spid_fixtures_dir().join("responses/response-1.xml")).expect("fixture");
    let keys = spid_fixture_keys();
    let policy = SignaturePolicy::spid();
    for _ in 0..500 {
        assert_eq!(verify_once(&bytes, &policy, &keys), 2);
    }
    let runs: u32 = std::env::var("DSIG_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let cpu_start = thread_cpu_ns();
    let wall_start = Instant::now();
    for _ in 0..runs {
        assert_eq!(verify_once(&bytes, &policy, &keys), 2);
    }
    let wall = wall_start.elapsed();
    let per_doc_wall = wall.as_secs_f64() / f64::from(runs);
    println!(
        "SPID Response (2 signatures), {runs} runs: wall {:.1} µs/document = {:.0} documents/s",
        per_doc_wall * 1e6,
        1.0 / per_doc_wall
    );
    if let (Some(start), Some(end)) = (cpu_start, thread_cpu_ns()) {
        let per_doc_cpu = (end - start) as f64 / 1e9 / f64::from(runs);
        println!(
            "SPID Response (2 signatures), {runs} runs: thread CPU {:.1} µs/document = {:.0} documents/s per core",
            per_doc_cpu * 1e6,
            1.0 / per_doc_cpu
        );
    }

    // Where the time goes: the parse alone, and the ID index (built once per verified signature).
    let cpu = |f: &mut dyn FnMut()| {
        let start = thread_cpu_ns();
        for _ in 0..runs {
            f();
        }
        match (start, thread_cpu_ns()) {
            (Some(s), Some(e)) => (e - s) as f64 / 1e3 / f64::from(runs),
            _ => f64::NAN,
        }
    };
    let parse_us = cpu(&mut || {
        std::hint::black_box(parse(&bytes, &Limits::default()).expect("parses"));
    });
    let doc = parse(&bytes, &Limits::default()).expect("parses");
    let index_us = cpu(&mut || {
        std::hint::black_box(
            snodo_security::dsig::IdIndex::build(&doc, policy.id_attributes()).expect("unique"),
        );
    });
    println!("of which: parse {parse_us:.1} µs, ID index {index_us:.1} µs (× 2 signatures)");
}
