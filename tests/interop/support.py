"""Helpers shared by the interop tests: a running Sluice, OTLP/HTTP requests by
hand, and reading the Parquet files back with DuckDB and pyarrow.

Tests get a daemon from the `sluice` / `start_sluice` fixtures (conftest.py),
send to it, call `stop()` (SIGTERM, exit 0: everything buffered is written),
then read the files.

Reading timestamps: DuckDB reads Sluice's `timestamp[ns, UTC]` columns as
TIMESTAMPTZ, which has microsecond precision (and needs pytz to be fetched into
Python), so queries select `epoch_ns(col)` and compare microseconds; the exact
nanoseconds are checked through pyarrow (`arrow_rows`).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 30

TABLES = (
    "otel_traces",
    "otel_logs",
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "otel_metrics_exponential_histogram",
    "otel_metrics_summary",
)


def sluice_binary() -> Path:
    """The binary under test: $E2E_SLUICE_BIN, else the debug build."""
    configured = os.environ.get("E2E_SLUICE_BIN")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "sluice-target" / "debug" / "sluice"


def sluice_env(root: Path, **overrides: str) -> dict[str, str]:
    """The environment of a test daemon: loopback port-0 listeners, `root` as
    storage, a 1 s flush interval and JSON logs (for the ready line)."""
    # Sluice refuses unknown SLUICE_* variables and RUST_LOG would change the
    # log level, so the daemon sees only the settings chosen here.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SLUICE_") and k != "RUST_LOG"
    }
    env.update(
        {
            "SLUICE_STORAGE_ROOT": str(root),
            "SLUICE_RECEIVERS_GRPC_LISTEN": "127.0.0.1:0",
            "SLUICE_RECEIVERS_HTTP_LISTEN": "127.0.0.1:0",
            "SLUICE_API_LISTEN": "127.0.0.1:0",
            "SLUICE_STORAGE_FLUSH_INTERVAL": "1s",
            "SLUICE_LOG_FORMAT": "json",
            "SLUICE_LOG_LEVEL": "info",
            "SLUICE_NODE_ID": "interop",
        }
    )
    env.update(overrides)
    return env


def trace_id_hex(trace_id: int) -> str:
    return f"{trace_id:032x}"


def span_id_hex(span_id: int) -> str:
    return f"{span_id:016x}"


def partition_of(ns: int) -> tuple[str, int]:
    """The (date, hour) partition of a UTC nanosecond timestamp."""
    moment = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%d"), moment.hour


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lowercase names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sluice:
    """One Sluice process on loopback port-0 listeners with its own data root."""

    root: Path
    process: subprocess.Popen
    grpc: str = ""
    http: str = ""
    api: str = ""
    _stderr: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, root: Path, **overrides: str) -> Sluice:
        """Starts the binary with `sluice_env(root, **overrides)` and waits for
        its ready line; fails with its stderr if it is not ready in time."""
        binary = sluice_binary()
        if not binary.is_file():
            raise AssertionError(
                f"sluice binary not found at {binary}: run `cargo build -p sluice` "
                "or set E2E_SLUICE_BIN"
            )
        env = sluice_env(root, **overrides)
        process = subprocess.Popen(
            [str(binary)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        sluice = cls(root=root, process=process)
        sluice._reader = threading.Thread(target=sluice._read_stderr, daemon=True)
        sluice._reader.start()
        if not sluice._ready.wait(READY_TIMEOUT_S) or not sluice.grpc:
            code = process.poll()
            sluice.kill()
            if sluice._reader is not None:
                sluice._reader.join(5)
            what = (
                f"exited with code {code} before logging 'sluice ready'"
                if code is not None
                else f"did not log 'sluice ready' within {READY_TIMEOUT_S}s"
            )
            raise AssertionError(f"sluice ({binary}) {what}; stderr:\n{sluice.stderr}")
        return sluice

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)
            if self._ready.is_set():
                continue
            try:
                fields = json.loads(line).get("fields", {})
            except (ValueError, AttributeError):
                continue
            if fields.get("message") == "sluice ready":
                self.grpc, self.http, self.api = fields["grpc"], fields["http"], fields["api"]
                self._ready.set()
        # EOF: the process is gone; wake up a start() still waiting.
        self._ready.set()

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then expect exit code 0: everything buffered is then on disk."""
        if not self.running():
            code = self.process.returncode
            assert code == 0, f"sluice had already exited with {code}; stderr:\n{self.stderr}"
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"sluice did not exit within {STOP_TIMEOUT_S}s of SIGTERM; stderr:\n{self.stderr}"
            )
        if self._reader is not None:
            self._reader.join(5)
        assert code == 0, f"sluice exited with {code} after SIGTERM; stderr:\n{self.stderr}"

    def kill(self) -> None:
        if self.running():
            self.process.kill()
        self.process.wait()

    # --- sending -------------------------------------------------------------

    def grpc_endpoint(self) -> str:
        return f"http://{self.grpc}"

    def http_url(self, path: str) -> str:
        return f"http://{self.http}{path}"

    def api_get(self, path: str) -> HttpResponse:
        return _send(urllib.request.Request(f"http://{self.api}{path}"))

    def post(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        request = urllib.request.Request(
            self.http_url(path),
            data=body,
            method="POST",
            headers={"Content-Type": content_type, **(headers or {})},
        )
        return _send(request)

    def post_json(
        self,
        path: str,
        payload: Any,
        *,
        encoding: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        """POSTs `payload` as OTLP/JSON, optionally gzip- or zstd-compressed."""
        body = json.dumps(payload).encode()
        extra = dict(headers or {})
        if encoding == "gzip":
            body = gzip.compress(body)
            extra["Content-Encoding"] = "gzip"
        elif encoding == "zstd":
            # pyarrow bundles libzstd; its codec writes standard zstd frames.
            body = pa.compress(body, codec="zstd", asbytes=True)
            extra["Content-Encoding"] = "zstd"
        elif encoding is not None:
            raise ValueError(encoding)
        return self.post(path, body, headers=extra)

    # --- reading back --------------------------------------------------------

    def table_dir(self, table: str, tenant: str = "default") -> Path:
        return self.root / tenant / table

    def files(self, table: str, tenant: str = "default") -> list[Path]:
        return sorted(self.table_dir(table, tenant).glob("date=*/hour=*/*.parquet"))

    def glob(self, table: str, tenant: str = "default") -> str:
        return str(self.table_dir(table, tenant) / "*" / "*" / "*.parquet")

    def duckdb(self, sql: str, table: str, tenant: str = "default") -> list[dict[str, Any]]:
        """Runs `sql`, in which `t` names the table, and returns rows as dicts."""
        assert self.files(table, tenant), (
            f"no Parquet files under {self.table_dir(table, tenant)}; "
            f"files present: {self.all_files()}"
        )
        con = duckdb.connect()
        try:
            con.execute(
                "CREATE VIEW t AS SELECT * FROM read_parquet("
                f"'{self.glob(table, tenant)}', hive_partitioning=true, filename=true)"
            )
            result = con.execute(sql)
            names = [d[0] for d in result.description]
            return [dict(zip(names, row)) for row in result.fetchall()]
        finally:
            con.close()

    def arrow(self, table: str, tenant: str = "default") -> pa.Table:
        """The whole table as pyarrow reads it, with the hive partition columns."""
        assert self.files(table, tenant), f"no Parquet files under {self.table_dir(table, tenant)}"
        dataset = pads.dataset(
            str(self.table_dir(table, tenant)), format="parquet", partitioning="hive"
        )
        return dataset.to_table()

    def all_files(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*.parquet"))


def _send(request: urllib.request.Request) -> HttpResponse:
    """The response, also for 4xx/5xx statuses."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return HttpResponse(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, _lower(error.headers), error.read())


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def arrow_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of `table` as dicts, with every timestamp as integer nanoseconds and
    every map as a dict (so values compare exactly, without pandas)."""
    columns = {}
    for name in table.column_names:
        columns[name] = _plain(table.column(name).combine_chunks())
    return [
        {name: columns[name][i] for name in table.column_names} for i in range(table.num_rows)
    ]


def _plain(array: pa.Array) -> list[Any]:
    kind = array.type
    if pa.types.is_timestamp(kind):
        return array.cast(pa.int64()).to_pylist()
    if pa.types.is_map(kind):
        return [None if v is None else dict(v) for v in array.to_pylist()]
    if pa.types.is_list(kind) and (
        pa.types.is_timestamp(kind.value_type) or pa.types.is_map(kind.value_type)
    ):
        values = _plain(array.values)
        offsets = array.offsets.to_pylist()
        return [
            None if not array[i].is_valid else values[offsets[i] : offsets[i + 1]]
            for i in range(len(array))
        ]
    if pa.types.is_struct(kind):
        fields = {kind.field(i).name: _plain(array.field(i)) for i in range(kind.num_fields)}
        return [{name: fields[name][i] for name in fields} for i in range(len(array))]
    return array.to_pylist()


def read_file_rows(path: Path) -> list[dict[str, Any]]:
    return arrow_rows(pq.read_table(path))


def assert_sorted_by_service_then_time(sluice: Sluice, table: str, time_column: str) -> None:
    """Every file is sorted by ServiceName, then its time column (the order
    Sluice promises so that engines can prune row groups)."""
    files = sluice.files(table)
    assert files
    for path in files:
        keys = [(row["ServiceName"], row[time_column]) for row in read_file_rows(path)]
        assert keys == sorted(keys), f"{path} is not sorted by ServiceName, {time_column}: {keys}"


def kv(key: str, value: Any) -> dict[str, Any]:
    """An OTLP/JSON KeyValue for a plain Python value."""
    return {"key": key, "value": any_value(value)}


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [kv(k, v) for k, v in value.items()]}}
    raise TypeError(type(value))
