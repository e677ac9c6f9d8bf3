"""What an operator sees: the API port, files appearing while Sluice runs, and
a clean drain on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time


from support import arrow_rows, kv, sluice_binary, sluice_env

SPAN = {
    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
    "spanId": "00f067aa0ba902b7",
    "name": "GET /healthz",
    "kind": 2,
    "startTimeUnixNano": str(time.time_ns()),
    "endTimeUnixNano": str(time.time_ns() + 1000),
}
PAYLOAD = {
    "resourceSpans": [
        {
            "resource": {"attributes": [kv("service.name", "probe")]},
            "scopeSpans": [{"spans": [SPAN]}],
        }
    ]
}
FILE_TIMEOUT_S = 15


def metric_value(text: str, name: str) -> float:
    """The sum of all samples of `name` in a Prometheus text exposition."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    assert seen, f"{name} not in /metrics:\n{text}"
    return total


def test_api_port_and_files_written_while_running(sluice):
    health = sluice.api_get("/healthz")
    assert health.status == 200, health.body
    ready = sluice.api_get("/readyz")
    assert ready.status == 200, ready.body

    response = sluice.post_json("/v1/traces", PAYLOAD)
    assert response.status == 200, response.body

    # With a 1 s flush interval the file appears without a shutdown, and is
    # complete as soon as it is visible.
    deadline = time.monotonic() + FILE_TIMEOUT_S
    while not sluice.files("otel_traces") and time.monotonic() < deadline:
        time.sleep(0.05)
    files = sluice.files("otel_traces")
    assert files, f"no trace file {FILE_TIMEOUT_S}s after the request; stderr:\n{sluice.stderr}"
    rows = arrow_rows(sluice.arrow("otel_traces"))
    assert [(r["SpanId"], r["ServiceName"]) for r in rows] == [("00f067aa0ba902b7", "probe")]

    # The file is renamed into place, then synced, then counted: the counter
    # may trail the file by a moment.
    written = 'sluice_records_written_total{table="otel_traces"}'
    deadline = time.monotonic() + FILE_TIMEOUT_S
    while True:
        metrics = sluice.api_get("/metrics")
        assert metrics.status == 200
        text = metrics.body.decode()
        if written in text or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert metric_value(text, "sluice_records_received_total") == 1
    # One span row; its per-minute rollup is written too, to sluice_rollups.
    assert metric_value(text, written) == 1

    sluice.stop()
    # Nothing was left to write at shutdown: still the same single file.
    assert sluice.files("otel_traces") == files


def test_sigterm_right_after_ready_drains(tmp_path_factory):
    """A supervisor may stop Sluice as soon as it says it is ready; it must
    still drain and exit 0. The window is short, so this reads the ready line
    directly (no reader thread) and tries many times (about 0.5 s in all)."""
    codes = []
    for _ in range(40):
        env = sluice_env(tmp_path_factory.mktemp("early-stop"))
        process = subprocess.Popen(
            [str(sluice_binary())],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if b'"sluice ready"' in line:
                    break
            process.send_signal(signal.SIGTERM)
            codes.append(process.wait(30))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()
    assert codes == [0] * len(codes), codes
