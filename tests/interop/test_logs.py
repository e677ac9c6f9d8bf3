"""Python `logging` records through the OpenTelemetry SDK's logging bridge and
its OTLP log exporters (gRPC and HTTP), read back by DuckDB and pyarrow."""

from __future__ import annotations

import logging
import time
import warnings

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from support import (
    Sluice,
    arrow_rows,
    assert_sorted_by_service_then_time,
    partition_of,
    span_id_hex,
    trace_id_hex,
)

LOGGER = "interop.payments"


def log_exporter(sluice: Sluice, transport: str, gzip: bool):
    if transport == "grpc":
        return GrpcLogExporter(
            endpoint=sluice.grpc_endpoint(),
            insecure=True,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    return HttpLogExporter(
        endpoint=sluice.http_url("/v1/logs"),
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
        timeout=10,
    )


@pytest.mark.parametrize(
    ("transport", "gzip"), [("grpc", False), ("http", True)], ids=["grpc", "http-gzip"]
)
def test_python_logging_records_are_stored(sluice, transport, gzip):
    service = f"payments-{transport}"
    resource = Resource.create({"service.name": service})
    provider = LoggerProvider(resource=resource)
    exporter = log_exporter(sluice, transport, gzip)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    with warnings.catch_warnings():
        # The SDK's bridge is deprecated in favour of a contrib package, but it
        # is still what most applications use.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    tracer = TracerProvider(resource=resource).get_tracer("interop.payments.tracer")

    before = time.time_ns()
    try:
        logger.info("payment %s accepted", "p-1", extra={"amount": 12.5, "retries": 0})
        with tracer.start_as_current_span("charge card") as span:
            context = span.get_span_context()
            logger.warning("card declined", extra={"card.brand": "visa", "soft": True})
        logger.error("ledger unreachable", extra={"attempts": 3})
        assert provider.force_flush(10_000), "the SDK could not flush its logs to Sluice"
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    after = time.time_ns()
    sluice.stop()

    rows = sluice.duckdb(
        """SELECT Body, SeverityText, SeverityNumber, LogAttributes, TraceId, SpanId,
                  TraceFlags, ServiceName, ResourceAttributes['service.name'] AS resource_service,
                  ScopeName, epoch_ns(Timestamp) AS ts_ns,
                  CAST(date AS VARCHAR) AS date, CAST(hour AS INTEGER) AS hour
           FROM t ORDER BY Timestamp""",
        "otel_logs",
    )
    assert [(r["Body"], r["SeverityText"], r["SeverityNumber"]) for r in rows] == [
        ("payment p-1 accepted", "INFO", 9),
        ("card declined", "WARN", 13),
        ("ledger unreachable", "ERROR", 17),
    ]
    for row in rows:
        assert row["ServiceName"] == service
        assert row["resource_service"] == service
        assert row["ScopeName"] == LOGGER
        # logging keeps microseconds; DuckDB reads microseconds.
        assert before // 1000 - 1 <= row["ts_ns"] // 1000 <= after // 1000
        assert (row["date"], row["hour"]) == partition_of(row["ts_ns"])
        # The bridge adds the code location to every record.
        assert row["LogAttributes"]["code.file.path"] == __file__
        function = row["LogAttributes"]["code.function.name"]
        assert function == "test_python_logging_records_are_stored"

    info, warning, error = rows
    assert info["LogAttributes"]["amount"] == "12.5"
    assert info["LogAttributes"]["retries"] == "0"
    assert warning["LogAttributes"]["card.brand"] == "visa"
    assert warning["LogAttributes"]["soft"] == "true"
    assert error["LogAttributes"]["attempts"] == "3"

    # Only the record logged inside the span carries its ids.
    assert warning["TraceId"] == trace_id_hex(context.trace_id)
    assert warning["SpanId"] == span_id_hex(context.span_id)
    assert warning["TraceFlags"] == int(context.trace_flags)  # sampled (and random)
    for outside in (info, error):
        assert (outside["TraceId"], outside["SpanId"], outside["TraceFlags"]) == ("", "", 0)

    arrow = sorted(arrow_rows(sluice.arrow("otel_logs")), key=lambda r: r["Timestamp"])
    assert [r["Body"] for r in arrow] == [r["Body"] for r in rows]
    assert arrow[1]["TraceId"] == trace_id_hex(context.trace_id)
    assert arrow[1]["LogAttributes"]["card.brand"] == "visa"
    assert all(before - 1000 <= r["Timestamp"] <= after for r in arrow)
    assert all(r["ObservedTimestamp"] >= r["Timestamp"] for r in arrow)

    assert_sorted_by_service_then_time(sluice, "otel_logs", "Timestamp")
