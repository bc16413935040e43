//! Replays every committed fuzz input on stable Rust: the seed corpora (`fuzz/seeds/<target>/`) and
//! every input a campaign ever crashed on (`fuzz/regressions/<target>/`), through the same target
//! bodies libFuzzer runs (`snodo_security::testing::fuzz`). A crash found once stays a test; no
//! nightly toolchain or fuzzing engine is needed for this, and it takes well under a second.

mod common;

use std::path::{Path, PathBuf};

use snodo_security::testing::corpus::replay_corpus;
use snodo_security::testing::fuzz::{SignatureTarget, canonicalization_target, parse_target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn replay(target: &str, min_seeds: usize, body: impl Fn(&[u8])) {
    replay_corpus(&fuzz_dir(), target, min_seeds, body);
}

#[test]
fn parse_target_survives_every_seed_and_regression() {
    replay("parse", 10, parse_target);
}

#[test]
fn canonicalization_target_survives_every_seed_and_regression() {
    replay("c14n", 10, canonicalization_target);
}

#[test]
fn signature_target_survives_every_seed_and_regression() {
    let target = signature_target();
    replay("verify", 5, |data| target.run(data));
}

/// The committed seeds really do reach the verifier's success path with the target's keys: were the
/// trusted certificates wrong, every mutated input would stop at "bad signature" and the campaign
/// would never fuzz the digest checks.
#[test]
fn the_signature_seeds_verify_with_the_targets_keys() {
    use snodo_security::dsig::{SignaturePolicy, TrustedKeys, verify_detached_signature};
    use snodo_security::xml::{Limits, parse};

    let seeds = fuzz_dir().join("seeds/verify");
    let spid = std::fs::read(seeds.join("spid-response-1.xml")).expect("seed");
    let doc = parse(&spid, &Limits::default()).expect("parses");
    let keys =
        TrustedKeys::from_pem(&std::fs::read(fuzz_dir().join("seeds/verify-trusted.pem")).expect("pem"))
            .expect("usable");
    let signatures = common::descendants_named(&doc, doc.root(), common::DSIG, "Signature");
    assert_eq!(signatures.len(), 2);
    for signature in signatures {
        snodo_security::dsig::verify_enveloped_signature(
            &doc,
            signature,
            &SignaturePolicy::spid(),
            &common::spid_fixture_keys(),
        )
        .expect("the SPID seed verifies with the fixture IdP certificate");
    }

    let anpr = std::fs::read(seeds.join("anpr-detached-timestamp-body.xml")).expect("seed");
    let doc = parse(&anpr, &Limits::default()).expect("parses");
    let signature = common::descendants_named(&doc, doc.root(), common::DSIG, "Signature")[0];
    let verified = verify_detached_signature(&doc, signature, &SignaturePolicy::anpr_ws_security(), &keys)
        .expect("the detached seed verifies with fuzz/seeds/verify-trusted.pem");
    assert_eq!(verified.references().len(), 2);
}

fn signature_target() -> SignatureTarget {
    let spid =
        std::fs::read(common::spid_fixtures_dir().join("fixture-idp-cert.pem")).expect("fixture certificate");
    let seed = std::fs::read(fuzz_dir().join("seeds/verify-trusted.pem")).expect("seed certificate");
    SignatureTarget::new(&[&spid, &seed]).expect("usable certificates")
}
