//! Fuzzes a `Content-Encoding: gzip` body: bounded decompression (64 KiB
//! limit, never exceeded), then the decoded protobuf path of every signal. See
//! `sluice_fuzz::decompress_then_ingest`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_otlp::Compression;

fuzz_target!(|body: &[u8]| {
    sluice_fuzz::decompress_then_ingest(body, Compression::Gzip);
});
