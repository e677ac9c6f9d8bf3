//! Fuzzes a protobuf `ExportLogsServiceRequest`, as the gRPC
//! `Export` call and `POST /v1/logs` with `application/x-protobuf` receive it:
//! decode, validation, conversion to Arrow batches. See `sluice_fuzz::ingest`
//! for the invariants checked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_model::Signal;
use sluice_otlp::BodyEncoding;

fuzz_target!(|body: &[u8]| {
    sluice_fuzz::ingest(Signal::Logs, body, BodyEncoding::Protobuf);
});
