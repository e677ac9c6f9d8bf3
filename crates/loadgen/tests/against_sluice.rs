//! The load generator against the real `sluice` binary: every protocol and
//! signal is acknowledged without a refusal, the JSON summary parses, a fixed
//! rate is met, and the exit status says when nothing could connect.
//!
//! Sluice is started by the end-to-end harness (`tests/e2e/harness.rs`) with
//! port-0 listeners and a fresh data root: `cargo build -p sluice` first, or
//! set `E2E_SLUICE_BIN`.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sluice_e2e::Sluice;

const LOADGEN: &str = env!("CARGO_BIN_EXE_sluice-loadgen");

/// Starts the load generator with `args` (plus `--json --quiet`).
fn spawn(args: &[&str]) -> Result<std::process::Child> {
    Command::new(LOADGEN)
        .args(args)
        .args(["--json", "--quiet", "--timeout", "5s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start sluice-loadgen")
}

/// The JSON summary of a finished run, which must have exited 0.
fn summary(name: &str, output: Output) -> Result<Value> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "{name}: exited with {}: {stderr}",
        output.status
    );
    let stdout = String::from_utf8(output.stdout)?;
    ensure!(
        stdout.lines().count() == 1,
        "{name}: stdout is not one line: {stdout}"
    );
    serde_json::from_str(&stdout).with_context(|| format!("{name}: not JSON: {stdout}"))
}

#[test]
fn every_protocol_and_signal_is_acknowledged_and_a_fixed_rate_is_met() -> Result<()> {
    let mut sluice = Sluice::start()?;
    let grpc = sluice.grpc_url();
    let http = format!("http://{}", sluice.http);
    let runs = [
        ("grpc", "traces", "none"),
        ("grpc", "metrics", "gzip"),
        ("grpc", "logs", "zstd"),
        ("http-proto", "traces", "zstd"),
        ("http-proto", "metrics", "none"),
        ("http-proto", "logs", "gzip"),
        ("http-json", "traces", "gzip"),
        ("http-json", "metrics", "zstd"),
        ("http-json", "logs", "none"),
    ];
    // All at once: nine runs of 2 s at 1000 records/s each, and the rate check.
    let mut children = Vec::new();
    for (protocol, signal, compression) in runs {
        let endpoint = if protocol == "grpc" { &grpc } else { &http };
        let child = spawn(&[
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--signal",
            signal,
            "--compression",
            compression,
            "--rate",
            "1000",
            "--duration",
            "2s",
            "--concurrency",
            "2",
            "--batch",
            "100",
            "--attributes",
            "3",
            "--tenant",
            "loadgen",
        ])?;
        children.push((format!("{protocol} {signal} {compression}"), child));
    }
    let rate = spawn(&[
        "--endpoint",
        &grpc,
        "--rate",
        "500",
        "--duration",
        "2s",
        "--batch",
        "50",
        "--services",
        "checkout,cart",
        "--phase",
        "1s.. service=checkout error_ratio=0.5",
    ])?;

    for (name, child) in children {
        let json = summary(&name, child.wait_with_output()?)?;
        let (protocol, signal) = name.split_once(' ').unwrap();
        assert_eq!(json["protocol"], protocol, "{name}");
        assert!(
            signal.starts_with(json["signal"].as_str().unwrap()),
            "{name}"
        );
        let acknowledged = json["records_acknowledged"].as_u64().unwrap();
        assert!(acknowledged > 0, "{name}: nothing acknowledged: {json}");
        assert_eq!(json["requests_refused"], 0, "{name}: {json}");
        assert_eq!(json["refused_by_status"], serde_json::json!({}), "{name}");
        assert_eq!(json["requests_failed"], 0, "{name}: {json}");
        assert_eq!(json["records_rejected"], 0, "{name}: {json}");
        assert_eq!(json["records_sent"], acknowledged, "{name}: {json}");
        assert!(json["bytes_sent"].as_u64().unwrap() > 0, "{name}");
        assert!(json["ack_latency_ms"]["p99"].as_f64().is_some(), "{name}");
    }

    let json = summary("rate", rate.wait_with_output()?)?;
    let sent = json["records_sent"].as_f64().unwrap();
    assert!(
        (800.0..=1200.0).contains(&sent),
        "500/s for 2 s sent {sent}: {json}"
    );
    let achieved = json["achieved_records_per_second"].as_f64().unwrap();
    assert!(
        (400.0..=600.0).contains(&achieved),
        "achieved {achieved}/s: {json}"
    );
    assert_eq!(json["target_records_per_second"], 500.0);
    assert_eq!(json["requests_refused"], 0, "{json}");

    sluice.stop_cleanly()
}

#[test]
fn exit_status_tells_bad_arguments_from_an_unreachable_endpoint() -> Result<()> {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let output = spawn(&["--endpoint", &endpoint, "--duration", "1s"])?.wait_with_output()?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
    assert!(output.stdout.is_empty());

    for args in [
        &["--endpoint", "https://127.0.0.1:4317"][..],
        &["--rate", "fast"],
        &["--phase", "5m..3m error_ratio=0.1"],
    ] {
        let output = spawn(args)?.wait_with_output()?;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
    Ok(())
}
