"""A model of the WAL's group commit: one sync at a time, or overlapped.

Requests of 230 KB arrive at random (Poisson, 270 a second, about half of
Sluice's sustained traces load) and are written into a 64 MiB file written
over in place (as a recycled segment is); beside them a "shard" writes a
4.6 MB file every 0.8 s, 1 MiB at a time with an fdatasync after each chunk
(as `storage.sync_chunk_bytes` does). A request is acknowledged once an
fdatasync that began after its write has returned. Prints each request's
time from arrival to acknowledgement and the fdatasync latencies.

    python3 benches/overlapped_syncs.py DIR MODE [SECONDS] [SYNCERS]

MODE:
  serial      one thread writes a group and syncs it, then takes the next
              group (what Sluice's WAL writer does)
  overlapped  one thread writes groups; SYNCERS threads (default 2) each
              sync whatever has been written and not yet synced, so a group
              written during a slow sync starts its own sync at once

This is how overlapped syncs were judged and not built (benches/RESULTS.md,
ninth session). Linux only (os.fdatasync, os.pwrite).
"""

import os
import queue
import random
import sys
import threading
import time

from sync_beside_file import FILE_BYTES, FILE_EVERY, SEGMENT, open_segment

REQUEST = 230_000
RATE = 270
CHUNK = 1 << 20
CHUNK_PAUSE = 0.002


def main():
    directory, mode = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    syncers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    if mode not in ("serial", "overlapped"):
        sys.exit(f"unknown mode {mode!r}: serial or overlapped")
    wal = open_segment(directory)
    stop = threading.Event()
    arrivals = queue.Queue()
    latencies, sync_times = [], []
    # Groups written and not yet known durable, and the sync bookkeeping of
    # the overlapped mode, under one condition variable.
    state = threading.Condition()
    written = {"group": 0, "sync_started": 0, "durable": 0, "pending": []}

    def shard():
        n = 0
        data = os.urandom(CHUNK)
        while not stop.is_set():
            started = time.monotonic()
            path = os.path.join(directory, f"file-{n % 3}")
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            left = FILE_BYTES
            while left > 0:
                os.write(fd, data[: min(left, CHUNK)])
                os.fdatasync(fd)
                left -= CHUNK
                time.sleep(CHUNK_PAUSE)
            os.close(fd)
            n += 1
            time.sleep(max(0.0, FILE_EVERY - (time.monotonic() - started)))

    def clients():
        due = time.monotonic()
        while not stop.is_set():
            due += random.expovariate(RATE)
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            arrivals.put(time.monotonic())

    def timed_sync():
        started = time.monotonic()
        os.fdatasync(wal)
        sync_times.append(time.monotonic() - started)

    def acknowledge(arrived):
        now = time.monotonic()
        latencies.extend(now - a for a in arrived)

    def syncer():
        while True:
            with state:
                while written["group"] <= written["sync_started"] and not stop.is_set():
                    state.wait(0.05)
                if written["group"] <= written["sync_started"]:
                    return
                target = written["group"]
                written["sync_started"] = target
            timed_sync()
            with state:
                if target > written["durable"]:
                    written["durable"] = target
                    done = [a for g, a in written["pending"] if g <= target]
                    written["pending"] = [(g, a) for g, a in written["pending"] if g > target]
                    for arrived in done:
                        acknowledge(arrived)

    def writer():
        offset, group = 0, 0
        body = os.urandom(REQUEST)
        while not stop.is_set():
            try:
                arrived = [arrivals.get(timeout=0.1)]
            except queue.Empty:
                continue
            while True:
                try:
                    arrived.append(arrivals.get_nowait())
                except queue.Empty:
                    break
            for _ in arrived:
                if offset + REQUEST > SEGMENT:
                    offset = 0
                os.pwrite(wal, body, offset)
                offset += REQUEST
            group += 1
            if mode == "serial":
                timed_sync()
                acknowledge(arrived)
            else:
                with state:
                    written["pending"].append((group, arrived))
                    written["group"] = group
                    state.notify_all()

    threads = [threading.Thread(target=f) for f in (shard, clients, writer)]
    if mode == "overlapped":
        threads += [threading.Thread(target=syncer) for _ in range(syncers)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    with state:
        state.notify_all()
    for thread in threads:
        thread.join()

    latencies.sort()
    sync_times.sort()
    n = len(latencies)

    def quantile(values, q):
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    def over(ms):
        return sum(x > ms / 1000 for x in latencies) / n * 100

    label = mode if mode == "serial" else f"{mode} ({syncers} syncers)"
    print(
        f"{label}: {n} requests, p50 {quantile(latencies, 0.5):.2f} ms, "
        f"p99 {quantile(latencies, 0.99):.2f} ms, max {latencies[-1] * 1000:.1f} ms, "
        f"over 5 ms {over(5):.2f}%, over 10 ms {over(10):.2f}%; "
        f"{len(sync_times)} syncs, p50 {quantile(sync_times, 0.5):.2f} ms, "
        f"p99 {quantile(sync_times, 0.99):.2f} ms"
    )


if __name__ == "__main__":
    main()
