use std::collections::BTreeMap;

use sluice_model::Tenant;

use super::*;

/// Parses `[[slo]]` entries the way the binary's config does (a TOML table
/// whose `slo` key is the array).
fn parse(text: &str) -> Result<SloDefinitions, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        slo: SloDefinitions,
    }
    toml::from_str::<Config>(text)
        .map(|c| c.slo)
        .map_err(|e| e.message().to_owned())
}

const ISSUE_EXAMPLE: &str = r#"
[[slo]]
name = "checkout-availability"
service = "checkout"
operation = "POST /pay"        # optional: one span name
sli = "availability"           # good = server spans whose status is not ERROR
objective = 0.999
window = "30d"                 # rolling; or "calendar-month"
sla = 0.995                    # optional
runbook_url = "https://runbooks.example/checkout"

[[slo]]
name = "checkout-latency"
service = "checkout"
sli = "latency"                # good = server spans shorter than threshold
threshold = "300ms"
objective = 0.99
window = "30d"

[[slo]]
name = "api-ratio"
service = "api"
sli = "ratio"                  # from metric counters (sums), by name and attributes
good = { metric = "http.server.requests", attributes = { outcome = "success" } }
total = { metric = "http.server.requests" }
objective = 0.995
window = "30d"
"#;

#[test]
fn parses_the_issue_example() {
    let slos = parse(ISSUE_EXAMPLE).expect("valid");
    assert_eq!(slos.len(), 3);
    let availability = slos.get("checkout-availability").expect("defined");
    assert_eq!(availability.operation.as_deref(), Some("POST /pay"));
    assert_eq!(availability.sli, SliSpec::Availability);
    assert_eq!(availability.objective.get(), 0.999);
    assert_eq!(availability.window, SloWindow::Rolling { minutes: 43_200 });
    assert_eq!(availability.sla.map(Objective::get), Some(0.995));
    let latency = slos.get("checkout-latency").expect("defined");
    assert_eq!(
        latency.sli,
        SliSpec::Latency {
            threshold: Duration::from_millis(300)
        }
    );
    let ratio = slos.get("api-ratio").expect("defined");
    let SliSpec::Ratio { good, total } = &ratio.sli else {
        panic!("ratio sli expected, got {:?}", ratio.sli);
    };
    assert_eq!(good.metric, "http.server.requests");
    assert_eq!(
        good.attributes,
        BTreeMap::from([("outcome".to_owned(), "success".to_owned())])
    );
    assert!(total.attributes.is_empty());
    assert_eq!(slos.for_service("checkout").count(), 2);
    assert!(parse("").expect("no slos").is_empty());
}

#[test]
fn serializes_back_to_the_same_definitions() {
    let slos = parse(ISSUE_EXAMPLE).expect("valid");
    let text = toml::to_string(&BTreeMap::from([("slo", &slos)])).expect("serializes");
    assert_eq!(parse(&text).expect("reparses"), slos, "{text}");
    assert!(text.contains("threshold = \"300ms\""), "{text}");
}

#[test]
fn refuses_invalid_entries_naming_entry_and_key() {
    let base = "name = \"x\"\nservice = \"s\"\nobjective = 0.99\nwindow = \"30d\"\n";
    let cases = [
        (
            "name = \"checkout-latency\"\nservice = \"s\"\nsli = \"latency\"\nobjective = 0.99\nwindow = \"30d\"",
            "slo \"checkout-latency\": threshold is required when sli = \"latency\"",
        ),
        (
            "service = \"s\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"30d\"",
            "slo (unnamed): name is required",
        ),
        (
            &format!("{base}sli = \"availability\"\ntreshold = \"1s\""),
            "slo \"x\": unknown key \"treshold\"",
        ),
        (
            &format!("{base}sli = \"speed\""),
            "slo \"x\": sli \"speed\" is not",
        ),
        (
            &format!("{base}sli = \"availability\"\nthreshold = \"1s\""),
            "slo \"x\": threshold only applies when sli = \"latency\"",
        ),
        (
            &format!("{base}sli = \"latency\"\nthreshold = \"fast\""),
            "slo \"x\": threshold: invalid duration \"fast\"",
        ),
        (
            &format!("{base}sli = \"latency\"\nthreshold = \"0s\""),
            "slo \"x\": threshold must be longer than 0s",
        ),
        (
            &format!("{base}sli = \"ratio\"\ntotal = {{ metric = \"m\" }}"),
            "slo \"x\": good is required when sli = \"ratio\"",
        ),
        (
            &format!(
                "{base}sli = \"ratio\"\ngood = {{ metric = \"m\" }}\ntotal = {{ metrc = \"m\" }}"
            ),
            "slo \"x\": total: unknown key \"metrc\"",
        ),
        (
            &format!(
                "{base}sli = \"ratio\"\ngood = {{ metric = \"m\" }}\ntotal = {{ metric = \"m\" }}\noperation = \"op\""
            ),
            "slo \"x\": operation only applies to span-based SLIs",
        ),
        (
            &format!("{base}sli = \"availability\"\ngood = {{ metric = \"m\" }}"),
            "slo \"x\": good only applies when sli = \"ratio\"",
        ),
        (
            &format!("{base}sli = \"availability\"\nsla = 0.999"),
            "slo \"x\": sla 0.999 is stricter than objective 0.99",
        ),
        (
            &format!("{base}sli = \"availability\"\nrunbook_url = \"runbooks/x\""),
            "slo \"x\": runbook_url \"runbooks/x\" is not an http(s) URL",
        ),
        (
            "name = \"x\"\nservice = \"s\"\nsli = \"availability\"\nobjective = 99.9\nwindow = \"30d\"",
            "slo \"x\": objective must be between 0 and 1, exclusive (0.999 for 99.9%), got 99.9",
        ),
        (
            "name = \"x\"\nservice = \"s\"\nsli = \"availability\"\nobjective = \"high\"\nwindow = \"30d\"",
            "slo \"x\": objective must be a number, got a string",
        ),
        (
            "name = \"x\"\nservice = \"s\"\nsli = \"availability\"\nobjective = 0.99",
            "slo \"x\": window is required",
        ),
        (
            "name = \"x\"\nservice = \"s\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"90s\"",
            "slo \"x\": window \"90s\": a rolling window must be a positive whole number of minutes",
        ),
        (
            "name = \"x\"\nservice = \"s\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"monthly\"",
            "slo \"x\": window \"monthly\": expected a rolling duration",
        ),
        (
            "name = \"a b\"\nservice = \"s\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"1d\"",
            "slo \"a b\": name may only hold letters, digits",
        ),
        (
            "name = \"x\"\nservice = \"\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"1d\"",
            "slo \"x\": service must not be empty",
        ),
        (
            "name = \"x\"\nservice = 3\nsli = \"availability\"\nobjective = 0.99\nwindow = \"1d\"",
            "slo \"x\": service must be a string, got an integer",
        ),
    ];
    for (entry, expected) in cases {
        let err = parse(&format!("[[slo]]\n{entry}\n")).expect_err(expected);
        assert!(
            err.starts_with(expected),
            "got {err:?}, expected {expected:?}"
        );
        assert!(!err.trim().contains('\n'), "one line: {err:?}");
    }
}

#[test]
fn refuses_duplicate_names() {
    let entry = "[[slo]]\nname = \"x\"\nservice = \"s\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"1d\"\n";
    let err = parse(&format!("{entry}{entry}")).expect_err("duplicate");
    assert_eq!(err, "slo \"x\" is defined more than once");
}

#[test]
fn windows_parse_and_print() {
    for (input, minutes, printed) in [
        ("30d", 43_200, "30d"),
        ("4w", 40_320, "28d"),
        ("36h", 2_160, "36h"),
        ("90m", 90, "90m"),
        ("1h", 60, "1h"),
    ] {
        let window: SloWindow = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(window, SloWindow::Rolling { minutes }, "{input}");
        assert_eq!(window.to_string(), printed, "{input}");
        assert_eq!(window.length_minutes(0), minutes as f64);
    }
    assert_eq!("calendar-month".parse(), Ok(SloWindow::CalendarMonth));
    for bad in ["", "0m", "30s", "1.5d", "month", "Calendar-Month"] {
        assert!(bad.parse::<SloWindow>().is_err(), "{bad:?}");
    }
}

#[test]
fn matches_server_spans_of_the_service_and_operation() {
    let slos = parse(ISSUE_EXAMPLE).expect("valid");
    let pay = slos.get("checkout-availability").expect("defined");
    let latency = slos.get("checkout-latency").expect("defined");
    let ratio = slos.get("api-ratio").expect("defined");
    let key = |service: &str, op: &str, kind| RollupKey::new(Tenant::default(), service, op, kind);
    let server_pay = key("checkout", "POST /pay", SpanKind::Server);
    assert!(pay.matches(&server_pay));
    assert!(!pay.matches(&key("checkout", "GET /cart", SpanKind::Server)));
    assert!(!pay.matches(&key("checkout", "POST /pay", SpanKind::Client)));
    assert!(latency.matches(&key("checkout", "GET /cart", SpanKind::Server)));
    assert!(!latency.matches(&key("api", "GET /cart", SpanKind::Server)));
    assert!(!ratio.matches(&key("api", "GET /cart", SpanKind::Server)));

    let mut rollup = SliRollup::new();
    rollup.record(100_000_000, false);
    rollup.record(500_000_000, false);
    rollup.record(50_000_000, true);
    assert_eq!(
        pay.span_counts(&server_pay, &rollup),
        Some(EventCounts::new(2, 3))
    );
    assert_eq!(
        latency.span_counts(&server_pay, &rollup),
        Some(EventCounts::new(2, 3))
    );
    let client = key("checkout", "POST /pay", SpanKind::Client);
    assert_eq!(pay.span_counts(&client, &rollup), None);
}
