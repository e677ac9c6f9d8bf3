//! The load generator's requests as the end-to-end driver sends them, made
//! in process: the payloads its decode-only baseline times and
//! `--bench instructions` counts (`measured_loadgen_*`), so that both measure
//! exactly what the driver's steps send.

use bytes::Bytes;
use clap::Parser as _;

/// The load generator's arguments that shape its requests, the same in every
/// step of the end-to-end driver and for the requests made here.
pub const SHAPE: [&str; 6] = ["--concurrency", "8", "--batch", "512", "--attributes", "10"];

/// Requests per worker: 64 requests of 512 spans in all with the 8 workers
/// of [`SHAPE`], a full-size flush's worth.
const REQUESTS_PER_WORKER: usize = 8;

/// The bodies of the first requests of a traces run with [`SHAPE`] (and
/// `--seed seed`, for the same bodies every time), and the spans they hold.
pub fn trace_bodies(seed: Option<u64>) -> Result<(Vec<Bytes>, usize), Box<dyn std::error::Error>> {
    bodies("traces", seed)
}

/// [`trace_bodies`] of another signal (`logs`, `metrics`): the bodies and
/// the records (log records, data points) they hold.
pub fn bodies(
    signal: &str,
    seed: Option<u64>,
) -> Result<(Vec<Bytes>, usize), Box<dyn std::error::Error>> {
    let seed = seed.map(|seed| seed.to_string());
    let seed_args = seed.iter().flat_map(|seed| ["--seed", seed.as_str()]);
    let args = ["sluice-loadgen", "--signal", signal]
        .into_iter()
        .chain(SHAPE)
        .chain(seed_args);
    let options = sluice_loadgen::Options::try_parse_from(args)?;
    let requests = sluice_loadgen::runner::sample_requests(&options.plan()?, REQUESTS_PER_WORKER);
    let records = requests.iter().map(|request| request.records).sum();
    Ok((
        requests.into_iter().map(|request| request.body).collect(),
        records,
    ))
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;

    use super::*;

    #[test]
    fn the_bodies_are_a_flushs_worth_of_the_drivers_requests() {
        let (bodies, spans) = trace_bodies(Some(1)).expect("valid arguments");
        assert_eq!((bodies.len(), spans), (64, 64 * 512));
        let request = ExportTraceServiceRequest::decode(bodies[0].clone()).expect("OTLP");
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        let synthetic = span
            .attributes
            .iter()
            .filter(|kv| kv.key.starts_with("attr."));
        assert_eq!(synthetic.count(), 10, "--attributes 10");
    }
}
