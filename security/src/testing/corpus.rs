//! Replaying committed fuzz inputs on stable Rust: the seeds (`<fuzz>/seeds/<target>/`) and every
//! input a campaign ever crashed on (`<fuzz>/regressions/<target>/`), through the same target bodies
//! libFuzzer runs. One replayer serves every corpus — the security crate's own targets and the
//! inbound endpoints' — so that what counts as a committed input, and how a panic is reported, is
//! the same everywhere.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A committed input larger than this is a campaign's corpus committed by mistake, not a seed.
pub const MAX_INPUT_BYTES: u64 = 64 << 10;

/// The files of `dir`, sorted; none when it does not exist (a target without regressions yet).
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
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

/// Runs `body` on every seed and regression input of `target` under `fuzz_dir`, and panics listing
/// every input that panicked, with its message; also when fewer than `min_seeds` seeds exist (a
/// corpus that vanished would otherwise pass vacuously) or an input is oversized.
pub fn replay_corpus(fuzz_dir: &Path, target: &str, min_seeds: usize, body: impl Fn(&[u8])) {
    let seeds = corpus_files(&fuzz_dir.join("seeds").join(target));
    assert!(
        seeds.len() >= min_seeds,
        "fuzz/seeds/{target}/ has {} inputs, expected at least {min_seeds}",
        seeds.len()
    );
    let regressions = corpus_files(&fuzz_dir.join("regressions").join(target));
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
