//! Inputs for the benchmarks of `benches/`: deterministic OTLP payloads, the
//! load generator's requests as the end-to-end driver sends them, and for the
//! end-to-end driver the reading of Sluice's `/metrics`, of its threads'
//! scheduler statistics and of its Parquet files' sizes by column.
//!
//! The benchmarks themselves live in `benches/` (run them with
//! `cargo bench -p sluice-benches`); this library only builds what they
//! measure, so a payload can also be checked by ordinary tests.

pub mod loadgen;
pub mod payload;
pub mod sched;
pub mod scrape;
pub mod sizes;
