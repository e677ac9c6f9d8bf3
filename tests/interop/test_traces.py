"""Spans from the OpenTelemetry Python SDK, exported over OTLP/gRPC and
OTLP/HTTP (protobuf), read back from Parquet by DuckDB and by pyarrow."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from support import (
    Sluice,
    arrow_rows,
    assert_sorted_by_service_then_time,
    partition_of,
    span_id_hex,
    trace_id_hex,
)

TRACER = "interop.checkout"
TRACER_VERSION = "1.2.3"

# Attributes of every type the SDK accepts, and the string each becomes in the
# SpanAttributes map (the Collector's pcommon.Value.AsString).
ROOT_ATTRIBUTES = {
    "http.route": "/orders/{id}",
    "http.response.status_code": 200,
    "retry.ratio": 0.25,
    "whole.double": 3.0,
    "cache.hit": False,
    "tags": ("blue", "green"),
    "ports": (8080, 8443),
    "weights": (1.5, 2.0),
    "flags": (True, False),
}
ROOT_ATTRIBUTES_AS_STRINGS = {
    "http.route": "/orders/{id}",
    "http.response.status_code": "200",
    "retry.ratio": "0.25",
    "whole.double": "3",
    "cache.hit": "false",
    "tags": '["blue","green"]',
    "ports": "[8080,8443]",
    "weights": "[1.5,2]",
    "flags": "[true,false]",
}

KIND_NAMES = {
    SpanKind.SERVER: "Server",
    SpanKind.CLIENT: "Client",
    SpanKind.INTERNAL: "Internal",
    SpanKind.PRODUCER: "Producer",
    SpanKind.CONSUMER: "Consumer",
}


def span_exporter(sluice: Sluice, transport: str, gzip: bool):
    if transport == "grpc":
        return GrpcSpanExporter(
            endpoint=sluice.grpc_endpoint(),
            insecure=True,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    return HttpSpanExporter(
        endpoint=sluice.http_url("/v1/traces"),
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
        timeout=10,
    )


def send_spans(sluice: Sluice, transport: str, gzip: bool, service: str) -> list[ReadableSpan]:
    """Sends one small trace plus a span it links to; returns the spans as the
    SDK itself saw them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment.name": "ci"})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(span_exporter(sluice, transport, gzip)))
    tracer = provider.get_tracer(TRACER, TRACER_VERSION)

    with tracer.start_as_current_span("warm-cache", kind=SpanKind.INTERNAL) as warm:
        warm_context = warm.get_span_context()

    with tracer.start_as_current_span(
        "GET /orders/{id}", kind=SpanKind.SERVER, attributes=ROOT_ATTRIBUTES
    ) as root:
        root.add_event("cache.miss", {"cache.key": "order:42", "attempt": 2})
        root.add_event("retry")
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as query:
            query.set_attribute("db.system.name", "postgresql")
        with tracer.start_as_current_span(
            "render",
            kind=SpanKind.INTERNAL,
            links=[Link(warm_context, {"link.reason": "warmup"})],
            record_exception=False,
            set_status_on_exception=False,
        ) as render:
            render.set_status(Status(StatusCode.ERROR, "template missing"))

    assert provider.force_flush(10_000), "the SDK could not flush its spans to Sluice"
    provider.shutdown()
    spans = memory.get_finished_spans()
    assert len(spans) == 4
    return list(spans)


@pytest.mark.parametrize(
    ("transport", "gzip"),
    [("grpc", False), ("grpc", True), ("http", False), ("http", True)],
    ids=["grpc", "grpc-gzip", "http", "http-gzip"],
)
def test_sdk_spans_are_stored_as_the_clickhouse_exporter_would(start_sluice, transport, gzip):
    # One shard, so that all spans share one file and the sort order within it
    # is actually exercised (the SDK exports children before their parent).
    sluice = start_sluice(SLUICE_PIPELINE_SHARDS="1")
    service = f"checkout-{transport}"
    spans = send_spans(sluice, transport, gzip, service)
    sluice.stop()

    by_id = {span_id_hex(s.context.span_id): s for s in spans}
    rows = sluice.duckdb(
        """
        SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
               ResourceAttributes['service.name'] AS resource_service,
               ResourceAttributes['deployment.environment.name'] AS environment,
               ScopeName, ScopeVersion,
               map_keys(SpanAttributes) AS attr_keys, map_values(SpanAttributes) AS attr_values,
               epoch_ns(Timestamp) AS ts_ns, Duration, StatusCode, StatusMessage,
               Events.Name AS event_names, Events.Attributes AS event_attributes,
               Links.TraceId AS link_trace_ids, Links.SpanId AS link_span_ids,
               Links.Attributes AS link_attributes,
               CAST(date AS VARCHAR) AS date, CAST(hour AS INTEGER) AS hour, filename
        FROM t
        """,
        "otel_traces",
    )
    assert len(rows) == len(spans), rows
    assert {r["SpanId"] for r in rows} == set(by_id)

    for row in rows:
        span = by_id[row["SpanId"]]
        name = span.name
        assert row["TraceId"] == trace_id_hex(span.context.trace_id), name
        expected_parent = span_id_hex(span.parent.span_id) if span.parent else ""
        assert row["ParentSpanId"] == expected_parent, name
        assert row["SpanName"] == name
        assert row["SpanKind"] == KIND_NAMES[span.kind], name
        assert row["ServiceName"] == service
        assert row["resource_service"] == service
        assert row["environment"] == "ci"
        assert row["ScopeName"] == TRACER
        assert row["ScopeVersion"] == TRACER_VERSION
        # DuckDB reads a UTC-adjusted nanosecond Parquet timestamp as TIMESTAMPTZ,
        # which has microsecond precision; pyarrow checks the nanoseconds below.
        assert row["ts_ns"] == span.start_time // 1000 * 1000, name
        assert row["Duration"] == span.end_time - span.start_time, name
        date, hour = partition_of(span.start_time)
        assert (row["date"], row["hour"]) == (date, hour), name
        assert f"/date={date}/hour={hour:02d}/" in row["filename"], row["filename"]
        # Every trace id and span id is lowercase hex of the right length.
        for column, length in (("TraceId", 32), ("SpanId", 16)):
            value = row[column]
            assert len(value) == length and value == value.lower(), (column, value)

    rows_by_name = {r["SpanName"]: r for r in rows}
    root = rows_by_name["GET /orders/{id}"]
    assert dict(zip(root["attr_keys"], root["attr_values"])) == ROOT_ATTRIBUTES_AS_STRINGS
    assert root["StatusCode"] == "Unset"
    assert root["event_names"] == ["cache.miss", "retry"]
    assert root["event_attributes"][0] == {"cache.key": "order:42", "attempt": "2"}
    assert root["event_attributes"][1] == {}
    assert root["link_trace_ids"] == []

    query = rows_by_name["SELECT orders"]
    assert dict(zip(query["attr_keys"], query["attr_values"])) == {"db.system.name": "postgresql"}
    assert query["ParentSpanId"] == root["SpanId"]
    assert query["TraceId"] == root["TraceId"]

    render = rows_by_name["render"]
    warm = rows_by_name["warm-cache"]
    assert render["StatusCode"] == "Error"
    assert render["StatusMessage"] == "template missing"
    assert render["link_trace_ids"] == [warm["TraceId"]]
    assert render["link_span_ids"] == [warm["SpanId"]]
    assert render["link_attributes"] == [{"link.reason": "warmup"}]
    assert warm["TraceId"] != root["TraceId"]
    assert warm["ParentSpanId"] == ""

    # The same files through pyarrow, including event timestamps (ns).
    arrow = {r["SpanId"]: r for r in arrow_rows(sluice.arrow("otel_traces"))}
    assert set(arrow) == set(by_id)
    for span_id, span in by_id.items():
        row = arrow[span_id]
        assert row["TraceId"] == trace_id_hex(span.context.trace_id)
        assert row["Timestamp"] == span.start_time
        assert row["Duration"] == span.end_time - span.start_time
        assert row["SpanKind"] == KIND_NAMES[span.kind]
        assert row["ResourceAttributes"]["service.name"] == service
        assert row["Events"]["Name"] == [e.name for e in span.events]
        assert row["Events"]["Timestamp"] == [e.timestamp for e in span.events]
        assert row["Links"]["TraceId"] == [trace_id_hex(l.context.trace_id) for l in span.links]
        date, hour = partition_of(span.start_time)
        assert (str(row["date"]), int(row["hour"])) == (date, hour)
    arrow_root = arrow[root["SpanId"]]
    assert arrow_root["SpanAttributes"] == ROOT_ATTRIBUTES_AS_STRINGS
    assert arrow_root["Events"]["Attributes"] == [{"cache.key": "order:42", "attempt": "2"}, {}]

    assert_sorted_by_service_then_time(sluice, "otel_traces", "Timestamp")
