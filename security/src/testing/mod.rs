//! Support for the fuzz targets, their corpus replay and the benchmarks, behind the `testing` feature
//! so that none of it is public API of a production build.
//!
//! - [`fuzz`]: the bodies of the fuzz targets in `security/fuzz/`. The same functions run under
//!   libFuzzer during a campaign and on stable Rust in `tests/fuzz_corpus_replay.rs`, which replays
//!   every committed seed and regression input; a crash found once therefore stays a failing test
//!   until it is fixed, with no nightly toolchain in CI.
//! - [`corpus`]: the replayer of committed seeds and regressions, shared by that test and the
//!   inbound endpoints' (`tests/inbound_fuzz_replay.rs` at the workspace root).
//! - [`samples`]: the ANPR SOAP request the benchmarks sign and verify (`snodo bench xml`, the
//!   criterion benches), built from the published example payloads.

pub mod corpus;
pub mod fuzz;
pub mod samples;
