#!/usr/bin/env python3
"""DuckDB's side of the SQL bench (`cargo bench -p sluice-benches --bench sql`).

Runs SQL over an `otel_traces` directory that Sluice wrote
(`<root>/<tenant>/otel_traces/date=YYYY-MM-DD/hour=HH/*.parquet`) and prints
one line of JSON per query on stdout: the median and minimum seconds, the
result rows (`groups`) and the sums of its `spans` and `errors` columns (the
spans it aggregated). The objects are flat, with numbers only besides the
DuckDB version, so the bench reads them without a JSON library.

The bench passes its own SQL with `--sql`, so both engines run the same text.
That SQL reads a view `otel_traces` over `read_parquet(..., hive_partitioning
= true)` whose `date` and `hour` columns are VARCHAR, as Sluice declares them
(DuckDB would otherwise infer a DATE and a BIGINT).

Each run opens a new in-memory database, sets `threads`, creates the view and
runs the query to its last row: the same work as one `POST /api/v1/sql`, which
builds a fresh DataFusion session, lists the files, plans and executes. The
first `--warmup` runs are not timed.

Standalone:

    ~/.cache/sluice-venv/bin/python benches/duckdb_groupby.py \\
        <cargo target dir>/sluice-bench-data/otel_traces-10m-v1/default/otel_traces
"""

import argparse
import json
import statistics
import time

import duckdb

GROUP_BY = """SELECT "ServiceName", "SpanName", count(*) AS spans,
    sum(CASE WHEN "StatusCode" = 'Error' THEN 1 ELSE 0 END) AS errors,
    avg("Duration") AS avg_ns
FROM otel_traces GROUP BY "ServiceName", "SpanName" ORDER BY spans DESC"""


def run_once(table_dir: str, threads: int, sql: str) -> tuple[float, list, list[str]]:
    """One timed run; returns seconds, the rows and the column names."""
    glob = f"{table_dir.rstrip('/')}/**/*.parquet".replace("'", "''")
    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(
            "CREATE VIEW otel_traces AS SELECT * FROM read_parquet("
            f"'{glob}', hive_partitioning = true, "
            "hive_types = {'date': VARCHAR, 'hour': VARCHAR})"
        )
        cursor = con.execute(sql)
        rows = cursor.fetchall()
        columns = [d[0] for d in cursor.description]
    finally:
        con.close()
    return time.perf_counter() - started, rows, columns


def column_sum(rows: list, columns: list[str], name: str) -> int:
    """The sum of column `name` of the result, or -1 without that column."""
    if name not in columns:
        return -1
    i = columns.index(name)
    return int(sum(row[i] or 0 for row in rows))


def measure(table_dir: str, threads: int, warmup: int, runs: int, sql: str) -> dict:
    """Times `sql`: `warmup` untimed runs, then `runs` timed ones."""
    for _ in range(warmup):
        run_once(table_dir, threads, sql)
    seconds = []
    rows, columns = [], []
    for _ in range(runs):
        elapsed, rows, columns = run_once(table_dir, threads, sql)
        seconds.append(elapsed)
    return {
        "duckdb": duckdb.__version__,
        "threads": threads,
        "runs": runs,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "groups": len(rows),
        "spans": column_sum(rows, columns, "spans"),
        "errors": column_sum(rows, columns, "errors"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table_dir", help="the otel_traces directory of one tenant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--sql",
        action="append",
        help="a query over the view otel_traces (repeatable; default: the group-by)",
    )
    args = parser.parse_args()
    for sql in args.sql or [GROUP_BY]:
        result = measure(args.table_dir, args.threads, args.warmup, args.runs, sql)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
