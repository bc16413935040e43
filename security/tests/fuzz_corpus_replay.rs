//! Replays every committed fuzz input on stable Rust: the seed corpora (`fuzz/seeds/<target>/`) and
//! every input a campaign ever crashed on (`fuzz/regressions/<target>/`), through the same target
//! bodies libFuzzer runs (`snodo_security::testing::fuzz`). A crash found once stays a test; no
//! nightly toolchain or fuzzing engine is needed for this, and it takes well under a second.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use snodo_security::testing::fuzz::{SignatureTarget, canonicalization_target, parse_target};

/// A committed input larger than this is a campaign's corpus committed by mistake, not a seed.
const MAX_INPUT_BYTES: u64 = 64 << 10;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist (a target without regressions yet).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

/// Runs `body` on every seed and regression input of `target`, and fails listing every input that
/// panicked, with the panic message.
fn replay(target: &str, min_seeds: usize, body: impl Fn(&[u8])) {
    let seeds = files(&fuzz_dir().join("seeds").join(target));
    assert!(
        seeds.len() >= min_seeds,
        "fuzz/seeds/{target}/ has {} inputs, expected at least {min_seeds}",
        seeds.len()
    );
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let mut failures = Vec::new();
    for path in seeds.iter().chain(&regressions) {
        let size = std::fs::metadata(path).expect("readable input").len();
        assert!(
            size <= MAX_INPUT_BYTES,
            "{} is {size} bytes: commit minimized inputs only (cargo fuzz tmin)",
            path.display()
        );
        let data = std::fs::read(path).expect("readable input");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string panic)");
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failures.len(),
        seeds.len() + regressions.len(),
        failures.join("\n")
    );
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
