"""Metrics from the OpenTelemetry Python SDK over OTLP/gRPC and OTLP/HTTP, and a
summary point (which the SDK cannot produce) as OTLP/JSON, read back by DuckDB."""

from __future__ import annotations

import math
import time

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    ExponentialHistogramDataPoint,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

from support import Sluice, kv, partition_of

METER = "interop.billing"
CUMULATIVE = 2


def metric_exporter(sluice: Sluice, transport: str, gzip: bool):
    if transport == "grpc":
        return GrpcMetricExporter(
            endpoint=sluice.grpc_endpoint(),
            insecure=True,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    return HttpMetricExporter(
        endpoint=sluice.http_url("/v1/metrics"),
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
        timeout=10,
    )


def send_metrics(
    sluice: Sluice, transport: str, gzip: bool, service: str
) -> ExponentialHistogramDataPoint:
    """Records one of each instrument kind and exports it once; returns the
    exponential histogram point as the SDK computed it."""
    # An infinite interval: no background thread, so force_flush is the one and
    # only export (shutdown does not export again).
    exporting = PeriodicExportingMetricReader(
        metric_exporter(sluice, transport, gzip), export_interval_millis=math.inf
    )
    in_memory = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[exporting, in_memory],
        views=[
            View(
                instrument_type=Histogram,
                instrument_name="http.server.duration",
                aggregation=ExplicitBucketHistogramAggregation(boundaries=[10.0, 100.0]),
            ),
            View(
                instrument_type=Histogram,
                instrument_name="payload.size",
                aggregation=ExponentialBucketHistogramAggregation(max_size=20),
            ),
        ],
    )
    meter = provider.get_meter(METER, "0.1.0")

    orders = meter.create_counter("orders.placed", unit="{order}", description="Orders placed")
    orders.add(5, {"route": "/a"})
    orders.add(3, {"route": "/a"})
    orders.add(2, {"route": "/b"})

    depth = meter.create_up_down_counter("queue.depth", unit="{message}")
    depth.add(10, {"queue": "email"})
    depth.add(-4, {"queue": "email"})

    meter.create_observable_gauge(
        "cpu.temperature",
        callbacks=[
            lambda _options: [
                Observation(41.5, {"core": "0"}),
                Observation(43.25, {"core": "1"}),
            ]
        ],
        unit="Cel",
    )

    latency = meter.create_histogram("http.server.duration", unit="ms")
    for value in (3, 7, 50, 500):
        latency.record(value, {"http.request.method": "GET"})

    sizes = meter.create_histogram("payload.size", unit="By")
    for value in (1.0, 3.0, 100.0, 2500.0, 2600.0):
        sizes.record(value, {"content.type": "json"})

    assert provider.force_flush(10_000), "the SDK could not flush its metrics to Sluice"
    expected = in_memory.get_metrics_data()
    provider.shutdown()

    points = [
        point
        for resource in expected.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "payload.size"
        for point in metric.data.data_points
    ]
    assert len(points) == 1
    return points[0]


@pytest.mark.parametrize(
    ("transport", "gzip"), [("grpc", True), ("http", False)], ids=["grpc-gzip", "http"]
)
def test_sdk_metrics_land_in_their_tables(sluice, transport, gzip):
    service = f"billing-{transport}"
    before = time.time_ns()
    exponential = send_metrics(sluice, transport, gzip, service)
    after = time.time_ns()
    sluice.stop()

    common = """
        ServiceName, ResourceAttributes['service.name'] AS resource_service,
        ScopeName, ScopeVersion, MetricName, MetricDescription, MetricUnit, Attributes,
        epoch_ns(StartTimeUnix) AS start_ns, epoch_ns(TimeUnix) AS time_ns,
        CAST(date AS VARCHAR) AS date, CAST(hour AS INTEGER) AS hour
    """

    def check_common(row, name, unit, *, has_start=True):
        assert row["ServiceName"] == service, name
        assert row["resource_service"] == service, name
        assert row["ScopeName"] == METER, name
        assert row["ScopeVersion"] == "0.1.0", name
        assert row["MetricUnit"] == unit, name
        assert before - 1000 <= row["time_ns"] <= after, name
        if has_start:
            assert before - 1000 <= row["start_ns"] <= row["time_ns"], name
        else:
            # The SDK sends gauges without a start time: stored as the epoch, as
            # the ClickHouse exporter stores a zero timestamp.
            assert row["start_ns"] == 0, name
        assert (row["date"], row["hour"]) == partition_of(row["time_ns"]), name

    sums = sluice.duckdb(
        f"""SELECT {common}, Value, IsMonotonic, AggregationTemporality
            FROM t ORDER BY MetricName, Attributes['route']""",
        "otel_metrics_sum",
    )
    assert [(r["MetricName"], r["Attributes"], r["Value"]) for r in sums] == [
        ("orders.placed", {"route": "/a"}, 8.0),
        ("orders.placed", {"route": "/b"}, 2.0),
        ("queue.depth", {"queue": "email"}, 6.0),
    ]
    for row in sums:
        unit = "{order}" if row["MetricName"] == "orders.placed" else "{message}"
        check_common(row, row["MetricName"], unit)
        assert row["AggregationTemporality"] == CUMULATIVE
        assert row["IsMonotonic"] == (row["MetricName"] == "orders.placed")
    assert sums[0]["MetricDescription"] == "Orders placed"

    gauges = sluice.duckdb(
        f"SELECT {common}, Value FROM t ORDER BY Attributes['core']", "otel_metrics_gauge"
    )
    assert [(r["MetricName"], r["Attributes"], r["Value"]) for r in gauges] == [
        ("cpu.temperature", {"core": "0"}, 41.5),
        ("cpu.temperature", {"core": "1"}, 43.25),
    ]
    for row in gauges:
        check_common(row, "cpu.temperature", "Cel", has_start=False)

    histograms = sluice.duckdb(
        f"""SELECT {common}, Count, Sum, BucketCounts, ExplicitBounds, Min, Max,
                   AggregationTemporality
            FROM t""",
        "otel_metrics_histogram",
    )
    assert len(histograms) == 1, histograms
    histogram = histograms[0]
    check_common(histogram, "http.server.duration", "ms")
    assert histogram["MetricName"] == "http.server.duration"
    assert histogram["Attributes"] == {"http.request.method": "GET"}
    assert histogram["Count"] == 4
    assert histogram["Sum"] == 560.0
    assert histogram["ExplicitBounds"] == [10.0, 100.0]
    assert histogram["BucketCounts"] == [2, 1, 1]
    assert (histogram["Min"], histogram["Max"]) == (3.0, 500.0)
    assert histogram["AggregationTemporality"] == CUMULATIVE

    exponentials = sluice.duckdb(
        f"""SELECT {common}, Count, Sum, Scale, ZeroCount, PositiveOffset,
                   PositiveBucketCounts, NegativeOffset, NegativeBucketCounts, Min, Max,
                   AggregationTemporality
            FROM t""",
        "otel_metrics_exponential_histogram",
    )
    assert len(exponentials) == 1, exponentials
    row = exponentials[0]
    check_common(row, "payload.size", "By")
    assert row["MetricName"] == "payload.size"
    assert row["Attributes"] == {"content.type": "json"}
    assert row["Count"] == 5
    assert row["Sum"] == 5204.0
    assert (row["Min"], row["Max"]) == (1.0, 2600.0)
    assert row["ZeroCount"] == 0
    assert sum(row["PositiveBucketCounts"]) == 5
    assert row["AggregationTemporality"] == CUMULATIVE
    # Scale and buckets exactly as the SDK computed them.
    assert row["Scale"] == exponential.scale
    assert row["PositiveOffset"] == exponential.positive.offset
    assert row["PositiveBucketCounts"] == list(exponential.positive.bucket_counts)
    assert row["NegativeOffset"] == exponential.negative.offset
    assert row["NegativeBucketCounts"] == list(exponential.negative.bucket_counts)


def test_summary_point_over_otlp_json(sluice):
    now = time.time_ns()
    payload = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [kv("service.name", "legacy-api")]},
                "scopeMetrics": [
                    {
                        "scope": {"name": "prometheus.receiver", "version": "9.9"},
                        "metrics": [
                            {
                                "name": "rpc.latency",
                                "description": "RPC latency",
                                "unit": "s",
                                "summary": {
                                    "dataPoints": [
                                        {
                                            "attributes": [kv("rpc.method", "Get")],
                                            "startTimeUnixNano": str(now - 60_000_000_000),
                                            "timeUnixNano": str(now),
                                            "count": "12",
                                            "sum": 3.5,
                                            "quantileValues": [
                                                {"quantile": 0.5, "value": 0.2},
                                                {"quantile": 0.99, "value": 1.25},
                                            ],
                                        }
                                    ]
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = sluice.post_json("/v1/metrics", payload)
    assert response.status == 200, response.body
    assert response.json() == {}
    sluice.stop()

    rows = sluice.duckdb(
        """SELECT ServiceName, ScopeName, MetricName, MetricDescription, MetricUnit,
                  Attributes, epoch_ns(TimeUnix) AS time_ns, epoch_ns(StartTimeUnix) AS start_ns,
                  Count, Sum, ValueAtQuantiles.Quantile AS quantiles,
                  ValueAtQuantiles.Value AS quantile_values,
                  CAST(date AS VARCHAR) AS date, CAST(hour AS INTEGER) AS hour
           FROM t""",
        "otel_metrics_summary",
    )
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["ServiceName"] == "legacy-api"
    assert row["ScopeName"] == "prometheus.receiver"
    assert (row["MetricName"], row["MetricDescription"], row["MetricUnit"]) == (
        "rpc.latency",
        "RPC latency",
        "s",
    )
    assert row["Attributes"] == {"rpc.method": "Get"}
    assert row["time_ns"] == now // 1000 * 1000
    assert row["start_ns"] == (now - 60_000_000_000) // 1000 * 1000
    assert (row["Count"], row["Sum"]) == (12, 3.5)
    assert row["quantiles"] == [0.5, 0.99]
    assert row["quantile_values"] == [0.2, 1.25]
    assert (row["date"], row["hour"]) == partition_of(now)
    # No other metric table was written for a summary.
    assert [p for p in sluice.all_files() if "otel_metrics_summary" not in p] == []
