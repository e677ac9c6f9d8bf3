//! Fuzzes an OTLP/JSON body of `POST /v1/traces` (`application/json`): decode
//! (hex ids, 64-bit integers as strings or numbers), validation,
//! conversion to Arrow batches. See `sluice_fuzz::ingest` for the invariants
//! checked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_model::Signal;
use sluice_otlp::BodyEncoding;

fuzz_target!(|body: &[u8]| {
    sluice_fuzz::ingest(Signal::Traces, body, BodyEncoding::Json);
});
