//! Inputs for the benchmarks of `benches/`: deterministic OTLP payloads, and
//! for the end-to-end driver the reading of Sluice's `/metrics` and of its
//! threads' scheduler statistics.
//!
//! The benchmarks themselves live in `benches/` (run them with
//! `cargo bench -p sluice-benches`); this library only builds what they
//! measure, so a payload can also be checked by ordinary tests.

pub mod payload;
pub mod sched;
pub mod scrape;
