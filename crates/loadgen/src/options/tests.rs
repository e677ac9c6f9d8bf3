#![allow(clippy::unwrap_used)]

use super::*;

fn parse(args: &[&str]) -> Result<Plan, String> {
    let options =
        Options::try_parse_from(std::iter::once("sluice-loadgen").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
    options.plan().map_err(|e| e.to_string())
}

#[test]
fn the_command_line_of_the_issue_parses() {
    let plan = parse(&[
        "--endpoint",
        "http://127.0.0.1:4317",
        "--protocol",
        "grpc",
        "--signal",
        "traces",
        "--rate",
        "0",
        "--duration",
        "30s",
        "--concurrency",
        "8",
        "--batch",
        "512",
        "--attributes",
        "10",
        "--json",
    ])
    .unwrap();
    assert_eq!(plan.protocol, Protocol::Grpc);
    assert_eq!(plan.endpoint, "http://127.0.0.1:4317");
    assert_eq!(plan.rate, 0.0);
    assert_eq!(plan.duration, Some(Duration::from_secs(30)));
    assert_eq!(
        (plan.concurrency, plan.batch, plan.attributes),
        (8, 512, 10)
    );
    for protocol in ["http-proto", "http-json"] {
        for signal in ["traces", "metrics", "logs"] {
            let plan = parse(&[
                "--protocol",
                protocol,
                "--signal",
                signal,
                "--compression",
                "zstd",
            ])
            .unwrap();
            assert_eq!(plan.endpoint, format!("http://127.0.0.1:4318/v1/{signal}"));
        }
    }
}

#[test]
fn defaults_resolve_from_other_options() {
    let plan = Options::default().plan().unwrap();
    assert_eq!(plan.endpoint, "http://127.0.0.1:4317");
    assert_eq!(plan.authority, "127.0.0.1:4317");
    assert_eq!(plan.duration, Some(Duration::from_secs(30)));
    assert_eq!(plan.services, ["svc-0", "svc-1", "svc-2", "svc-3", "svc-4"]);
    assert!(!plan.retry);
    let plan = parse(&["--requests", "10"]).unwrap();
    assert_eq!((plan.duration, plan.requests), (None, Some(10)));
    let plan = parse(&["--services", "checkout, cart", "--seed", "9"]).unwrap();
    assert_eq!(
        (plan.services, plan.seed),
        (vec!["checkout".into(), "cart".into()], 9)
    );
}

#[test]
fn endpoints_resolve_per_protocol() {
    let cases = [
        ("grpc", "localhost:9000", "http://localhost:9000"),
        ("grpc", "http://[::1]:4317/", "http://[::1]:4317"),
        (
            "http-proto",
            "http://127.0.0.1:4318",
            "http://127.0.0.1:4318/v1/logs",
        ),
        (
            "http-proto",
            "http://collector:80/otlp/",
            "http://collector:80/otlp/v1/logs",
        ),
        (
            "http-json",
            "http://127.0.0.1:4318/v1/logs",
            "http://127.0.0.1:4318/v1/logs",
        ),
    ];
    for (protocol, endpoint, url) in cases {
        let plan = parse(&[
            "--protocol",
            protocol,
            "--signal",
            "logs",
            "--endpoint",
            endpoint,
        ])
        .unwrap();
        assert_eq!(plan.endpoint, url, "{protocol} {endpoint}");
    }
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let cases: [(&[&str], &str); 14] = [
        (
            &["--endpoint", "https://127.0.0.1:4317"],
            "https is not supported",
        ),
        (&["--endpoint", "ftp://x"], "expected http://"),
        (&["--rate=-1"], "invalid rate"),
        (&["--concurrency", "0"], "invalid concurrency"),
        (&["--batch", "0"], "invalid batch"),
        (&["--error-ratio", "1.5"], "invalid error-ratio"),
        (&["--duration", "0s"], "invalid duration"),
        (&["--duration", "soon"], "invalid duration"),
        (&["--latency", "normal:5ms"], "unknown distribution"),
        (
            &["--phase", "5m..3m error_ratio=0.1"],
            "ends before it starts",
        ),
        (&["--services", "a,,b"], "invalid services"),
        (&["--protocol", "udp"], "invalid value 'udp'"),
        (&["--attribute-skew=-1"], "invalid attribute-skew"),
        (&["--attribute-skew", "NaN"], "invalid attribute-skew"),
    ];
    for (args, expected) in cases {
        let err = parse(args).err().unwrap_or_default();
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn phases_come_from_flags_and_a_scenario_file() {
    let dir = std::env::temp_dir().join(format!("loadgen-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("drill.txt");
    std::fs::write(&file, "# drill\n1m..2m service=svc-1 rate=0\n").unwrap();
    let plan = parse(&[
        "--phase",
        "3m..5m service=checkout error_ratio=0.05",
        "--scenario",
        file.to_str().unwrap(),
    ])
    .unwrap();
    let phases = plan.scenario.phases();
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[1].rate, Some(0.0));
    let _ = std::fs::remove_dir_all(&dir);
    let err = parse(&["--scenario", "/nonexistent/drill.txt"])
        .err()
        .unwrap_or_default();
    assert!(err.contains("invalid scenario"), "{err}");
}
