"""OTLP/JSON written by hand per the specification (hex ids, integer enums,
64-bit integers as strings), sent with urllib, plain and compressed; tenants;
partial success."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from support import TABLES, arrow_rows, assert_sorted_by_service_then_time, kv

TRACE_ID = "5b8efff798038103d269b633813fc60c"
ROOT_SPAN_ID = "eee19b7ec3c1b174"
CHILD_SPAN_ID = "eee19b7ec3c1b175"
LINKED_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
LINKED_SPAN_ID = "b7ad6b7169203331"

# 2023-11-14T22:13:20.123456789Z: data from the past lands in its own partition.
START = 1_700_000_000_123_456_789
SECOND = 1_000_000_000

ENCODINGS = pytest.mark.parametrize(
    "encoding", [None, "gzip", "zstd"], ids=["plain", "gzip", "zstd"]
)


def resource(service: str) -> dict:
    return {"attributes": [kv("service.name", service), kv("host.name", "edge-1")]}


def trace_payload(service: str = "edge-proxy") -> dict:
    root = {
        "traceId": TRACE_ID,
        "spanId": ROOT_SPAN_ID,
        "parentSpanId": "",
        "traceState": "vendor=1",
        "name": "GET /",
        "kind": 2,
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + SECOND // 2),
        "attributes": [
            kv("http.request.method", "GET"),
            kv("http.response.status_code", 504),
            {"key": "int.as.number", "value": {"intValue": 7}},
            kv("big", 2**62),
            kv("negative", -7),
            kv("ratio", 0.1),
            kv("sampled", True),
            kv("mixed", ["a", 1, True, 2.5]),
            kv("nested", {"a": "x", "b": 1}),
            kv("raw", b"\x00\x01\xfe"),
        ],
        "events": [
            {
                "timeUnixNano": str(START + 1000),
                "name": "retry",
                "attributes": [kv("attempt", 1)],
            }
        ],
        "links": [
            {
                "traceId": LINKED_TRACE_ID,
                "spanId": LINKED_SPAN_ID,
                "traceState": "",
                "attributes": [kv("link.kind", "follows")],
            }
        ],
        "status": {"code": 2, "message": "upstream timeout"},
    }
    child = {
        "traceId": TRACE_ID,
        "spanId": CHILD_SPAN_ID,
        "parentSpanId": ROOT_SPAN_ID,
        "name": "connect upstream",
        "kind": 3,
        "startTimeUnixNano": str(START + 1000),
        "endTimeUnixNano": str(START + 1000 + 250),
        "status": {"code": 1},
    }
    return {
        "resourceSpans": [
            {
                "resource": resource(service),
                "scopeSpans": [
                    {"scope": {"name": "handmade", "version": "1.0"}, "spans": [child, root]}
                ],
            }
        ]
    }


# The remaining SpanKind values, each on a span of its own after the two above.
OTHER_KINDS = {0: "Unspecified", 1: "Internal", 4: "Producer", 5: "Consumer"}


def other_kind_spans() -> list[dict]:
    return [
        {
            "traceId": TRACE_ID,
            "spanId": f"{0xA0 + kind:016x}",
            "parentSpanId": ROOT_SPAN_ID,
            "name": f"kind {kind}",
            "kind": kind,
            "startTimeUnixNano": str(START + 10_000 + kind),
            "endTimeUnixNano": str(START + 20_000),
        }
        for kind in OTHER_KINDS
    ]


@ENCODINGS
def test_traces_as_otlp_json(sluice, encoding):
    payload = trace_payload()
    payload["resourceSpans"][0]["scopeSpans"][0]["spans"] += other_kind_spans()
    response = sluice.post_json("/v1/traces", payload, encoding=encoding)
    assert response.status == 200, response.body
    assert response.headers.get("content-type", "").startswith("application/json")
    assert response.json() == {}
    sluice.stop()

    rows = sluice.duckdb(
        """SELECT TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
                  ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes,
                  epoch_ns(Timestamp) AS ts_ns, Duration, StatusCode, StatusMessage,
                  Events.Name AS event_names, Events.Attributes AS event_attributes,
                  Links.TraceId AS link_trace_ids, Links.SpanId AS link_span_ids,
                  Links.Attributes AS link_attributes,
                  CAST(date AS VARCHAR) AS date, CAST(hour AS INTEGER) AS hour
           FROM t ORDER BY Timestamp""",
        "otel_traces",
    )
    assert len(rows) == 2 + len(OTHER_KINDS), rows
    root, child, *others = rows
    assert [(r["SpanName"], r["SpanKind"], r["StatusCode"]) for r in others] == [
        (f"kind {kind}", name, "Unset") for kind, name in OTHER_KINDS.items()
    ]
    assert (root["TraceId"], root["SpanId"], root["ParentSpanId"]) == (TRACE_ID, ROOT_SPAN_ID, "")
    assert (child["TraceId"], child["SpanId"], child["ParentSpanId"]) == (
        TRACE_ID,
        CHILD_SPAN_ID,
        ROOT_SPAN_ID,
    )
    assert root["TraceState"] == "vendor=1"
    assert (root["SpanName"], root["SpanKind"]) == ("GET /", "Server")
    assert (child["SpanName"], child["SpanKind"]) == ("connect upstream", "Client")
    for row in rows:
        assert row["ServiceName"] == "edge-proxy"
        assert row["ResourceAttributes"] == {"service.name": "edge-proxy", "host.name": "edge-1"}
        assert (row["ScopeName"], row["ScopeVersion"]) == ("handmade", "1.0")
        assert (row["date"], row["hour"]) == ("2023-11-14", 22)
    assert root["ts_ns"] == START // 1000 * 1000
    assert root["Duration"] == SECOND // 2
    assert child["Duration"] == 250
    assert (root["StatusCode"], root["StatusMessage"]) == ("Error", "upstream timeout")
    assert (child["StatusCode"], child["StatusMessage"]) == ("Ok", "")

    attributes = dict(root["SpanAttributes"])
    nested = attributes.pop("nested")
    assert attributes == {
        "http.request.method": "GET",
        "http.response.status_code": "504",
        "int.as.number": "7",
        "big": "4611686018427387904",
        "negative": "-7",
        "ratio": "0.1",
        "sampled": "true",
        "mixed": '["a",1,true,2.5]',
        "raw": base64.b64encode(b"\x00\x01\xfe").decode(),
    }
    assert json.loads(nested) == {"a": "x", "b": 1}
    assert child["SpanAttributes"] == {}

    assert root["event_names"] == ["retry"]
    assert root["event_attributes"] == [{"attempt": "1"}]
    assert root["link_trace_ids"] == [LINKED_TRACE_ID]
    assert root["link_span_ids"] == [LINKED_SPAN_ID]
    assert root["link_attributes"] == [{"link.kind": "follows"}]

    arrow = sorted(arrow_rows(sluice.arrow("otel_traces")), key=lambda r: r["Timestamp"])
    assert [r["Timestamp"] for r in arrow[:2]] == [START, START + 1000]
    assert arrow[0]["Events"]["Timestamp"] == [START + 1000]
    assert {tuple(p.split("/")[2:4]) for p in sluice.all_files()} == {
        ("date=2023-11-14", "hour=22")
    }
    assert_sorted_by_service_then_time(sluice, "otel_traces", "Timestamp")


def log_payload() -> dict:
    records = [
        {
            "timeUnixNano": str(START),
            "observedTimeUnixNano": str(START + 5 * SECOND),
            "severityNumber": 17,
            "severityText": "ERROR",
            "body": {"stringValue": "upstream timed out"},
            "attributes": [kv("http.route", "/"), kv("elapsed.ms", 500)],
            "traceId": TRACE_ID,
            "spanId": ROOT_SPAN_ID,
            "flags": 1,
        },
        {
            # No event time: the observed time is the record's time.
            "observedTimeUnixNano": str(START + 2 * SECOND),
            "severityNumber": 9,
            "severityText": "INFO",
            "body": {"kvlistValue": {"values": [kv("event", "reload")]}},
        },
    ]
    return {
        "resourceLogs": [
            {
                "resource": resource("edge-proxy"),
                "scopeLogs": [{"scope": {"name": "handmade.logs"}, "logRecords": records}],
            }
        ]
    }


@ENCODINGS
def test_logs_as_otlp_json(sluice, encoding):
    response = sluice.post_json("/v1/logs", log_payload(), encoding=encoding)
    assert response.status == 200, response.body
    assert response.json() == {}
    sluice.stop()

    rows = sluice.duckdb(
        """SELECT Body, SeverityText, SeverityNumber, LogAttributes, TraceId, SpanId, TraceFlags,
                  ServiceName, ScopeName, epoch_ns(Timestamp) AS ts_ns,
                  epoch_ns(ObservedTimestamp) AS observed_ns,
                  CAST(date AS VARCHAR) AS date, CAST(hour AS INTEGER) AS hour
           FROM t ORDER BY Timestamp""",
        "otel_logs",
    )
    assert len(rows) == 2, rows
    error, info = rows
    assert (error["Body"], error["SeverityText"], error["SeverityNumber"]) == (
        "upstream timed out",
        "ERROR",
        17,
    )
    assert error["LogAttributes"] == {"http.route": "/", "elapsed.ms": "500"}
    assert (error["TraceId"], error["SpanId"], error["TraceFlags"]) == (TRACE_ID, ROOT_SPAN_ID, 1)
    assert error["ts_ns"] == START // 1000 * 1000
    assert error["observed_ns"] == (START + 5 * SECOND) // 1000 * 1000

    assert json.loads(info["Body"]) == {"event": "reload"}
    assert (info["SeverityText"], info["SeverityNumber"]) == ("INFO", 9)
    assert (info["TraceId"], info["SpanId"]) == ("", "")
    assert info["ts_ns"] == info["observed_ns"] == (START + 2 * SECOND) // 1000 * 1000
    for row in rows:
        assert (row["ServiceName"], row["ScopeName"]) == ("edge-proxy", "handmade.logs")
        assert (row["date"], row["hour"]) == ("2023-11-14", 22)


def test_tenant_header_selects_the_tenant_directory(sluice):
    response = sluice.post_json(
        "/v1/traces", trace_payload("team-a-svc"), headers={"X-Scope-OrgID": "team-a"}
    )
    assert response.status == 200, response.body

    # The same header as gRPC metadata, from the SDK exporter.
    provider = TracerProvider(resource=Resource.create({"service.name": "team-b-svc"}))
    exporter = GrpcSpanExporter(
        endpoint=sluice.grpc_endpoint(),
        insecure=True,
        headers={"x-scope-orgid": "team-b"},
        compression=grpc.Compression.NoCompression,
        timeout=10,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    with provider.get_tracer("interop.tenant").start_as_current_span("team-b work"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()
    sluice.stop()

    # The WAL lives in the hidden `.wal` directory, which is no tenant.
    tenants = sorted(p.name for p in sluice.root.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert tenants == ["team-a", "team-b"], sluice.all_files()
    team_a = sluice.duckdb("SELECT DISTINCT ServiceName FROM t", "otel_traces", tenant="team-a")
    assert team_a == [{"ServiceName": "team-a-svc"}]
    team_b = sluice.duckdb("SELECT SpanName, ServiceName FROM t", "otel_traces", tenant="team-b")
    assert team_b == [{"SpanName": "team-b work", "ServiceName": "team-b-svc"}]


def test_span_with_a_bad_trace_id_is_rejected_alone(sluice):
    payload = trace_payload()
    spans = payload["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"] = TRACE_ID[:30]  # 15 bytes: not a trace id
    response = sluice.post_json("/v1/traces", payload)
    assert response.status == 200, response.body
    partial = response.json()["partialSuccess"]
    # proto3 JSON writes int64 as a string.
    assert partial["rejectedSpans"] == "1", partial
    assert "trace_id" in partial["errorMessage"], partial
    sluice.stop()

    rows = sluice.duckdb("SELECT SpanId FROM t", "otel_traces")
    assert rows == [{"SpanId": ROOT_SPAN_ID}]


def test_nothing_is_written_for_an_empty_request(sluice):
    """An empty export is valid OTLP and must neither fail nor leave files."""
    for path, key in (("/v1/traces", "resourceSpans"), ("/v1/logs", "resourceLogs"),
                      ("/v1/metrics", "resourceMetrics")):
        response = sluice.post_json(path, {key: []})
        assert (response.status, response.json()) == (200, {}), path
    sluice.stop()
    assert sluice.all_files() == []
    assert not any((sluice.root / "default" / t).exists() for t in TABLES)


def test_uppercase_hex_ids_are_stored_lowercase(sluice):
    payload = trace_payload()
    for span in payload["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            span[key] = span[key].upper()
    response = sluice.post_json("/v1/traces", payload)
    assert (response.status, response.json()) == (200, {}), response.body
    sluice.stop()
    rows = sluice.duckdb(
        "SELECT TraceId, SpanId, ParentSpanId FROM t ORDER BY Timestamp", "otel_traces"
    )
    assert rows == [
        {"TraceId": TRACE_ID, "SpanId": ROOT_SPAN_ID, "ParentSpanId": ""},
        {"TraceId": TRACE_ID, "SpanId": CHILD_SPAN_ID, "ParentSpanId": ROOT_SPAN_ID},
    ]


def test_bad_requests_get_400_with_a_status_body(sluice):
    malformed = sluice.post("/v1/traces", b'{"resourceSpans": [')
    bad_tenant = sluice.post_json(
        "/v1/traces", trace_payload(), headers={"X-Scope-OrgID": "../etc"}
    )
    for response in (malformed, bad_tenant):
        assert response.status == 400, response.body
        # A google.rpc.Status in the request's encoding; 3 = INVALID_ARGUMENT.
        assert response.json()["code"] == 3, response.body
    assert "X-Scope-OrgID" in bad_tenant.json()["message"]
    sluice.stop()
    assert sluice.all_files() == []
