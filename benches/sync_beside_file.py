"""A model of the WAL's syncs beside a shard's Parquet file syncs.

The WAL writes 230 KB and fdatasyncs it 250 times a second, into a 64 MiB
file written over in place (as a recycled segment is); beside it a "shard"
writes a 4.6 MB file every 0.8 s and makes it durable, one of four ways.
Prints the WAL's fdatasync latencies. This is how `storage.sync_chunk_bytes`
was chosen (benches/RESULTS.md, eighth session); run it on the disk Sluice
will use:

    python3 benches/sync_beside_file.py DIR MODE [SECONDS]

MODE:
  none     no second file
  whole    the file written whole, then fsync (what object_store's put and a
           sync did)
  ranges   written whole, then sync_file_range 1 MiB at a time, then fsync
  idle     as whole, the shard's thread at IOPRIO_CLASS_IDLE
  chunked  written and fdatasync'ed CHUNK bytes at a time (what Sluice does)

Environment: CHUNK (bytes, default 1048576), PAUSE (seconds between chunks,
default 0.002). Linux only (sync_file_range and ioprio_set through libc).
"""

import ctypes
import os
import sys
import threading
import time

SEGMENT = 64 << 20
WAL_WRITE = 230_000
WAL_RATE = 250
FILE_BYTES = 4_600_000
FILE_EVERY = 0.8

SYNC_FILE_RANGE_WAIT_BEFORE, SYNC_FILE_RANGE_WRITE, SYNC_FILE_RANGE_WAIT_AFTER = 1, 2, 4
IOPRIO_WHO_PROCESS, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_SHIFT = 1, 3, 13
SYS_IOPRIO_SET = 251  # x86_64


def open_segment(directory):
    """Opens `DIR/wal` for writing, first filled to SEGMENT bytes and synced,
    so that writes go over it in place, as into a recycled WAL segment."""
    os.makedirs(directory, exist_ok=True)
    wal = os.open(os.path.join(directory, "wal"), os.O_CREAT | os.O_WRONLY, 0o644)
    if os.fstat(wal).st_size < SEGMENT:
        zeros = bytes(1 << 20)
        for _ in range(SEGMENT >> 20):
            os.write(wal, zeros)
        os.fsync(wal)
    return wal


def main():
    directory, mode = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 12.0
    chunk = int(os.environ.get("CHUNK", 1 << 20))
    pause = float(os.environ.get("PAUSE", 0.002))
    libc = ctypes.CDLL("libc.so.6", use_errno=True)

    wal = open_segment(directory)
    stop = threading.Event()

    def shard():
        if mode == "idle":
            libc.syscall(SYS_IOPRIO_SET, IOPRIO_WHO_PROCESS, 0,
                         IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT)
        data = os.urandom(FILE_BYTES)
        n = 0
        while not stop.wait(FILE_EVERY):
            if mode == "none":
                continue
            path = os.path.join(directory, f"file{n % 4}")
            n += 1
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            if mode == "chunked":
                for offset in range(0, len(data), chunk):
                    if offset:
                        time.sleep(pause)
                    os.write(fd, data[offset:offset + chunk])
                    os.fdatasync(fd)
            else:
                os.write(fd, data)
                if mode == "ranges":
                    flags = (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE
                             | SYNC_FILE_RANGE_WAIT_AFTER)
                    for offset in range(0, len(data), 1 << 20):
                        libc.sync_file_range(fd, ctypes.c_longlong(offset),
                                             ctypes.c_longlong(1 << 20), flags)
                os.fsync(fd)
            os.close(fd)

    thread = threading.Thread(target=shard)
    thread.start()
    record = os.urandom(WAL_WRITE)
    latencies = []
    position = 0
    end = time.time() + seconds
    due = time.time()
    while time.time() < end:
        due += 1 / WAL_RATE
        time.sleep(max(0.0, due - time.time()))
        if position + len(record) > SEGMENT:
            position = 0
        os.pwrite(wal, record, position)
        position += len(record)
        started = time.perf_counter()
        os.fdatasync(wal)
        latencies.append((time.perf_counter() - started) * 1000)
    stop.set()
    thread.join()
    os.close(wal)

    latencies.sort()
    n = len(latencies)
    print(f"{mode:8s} syncs {n} p50 {latencies[n // 2]:.2f} p99 {latencies[int(n * 0.99)]:.2f} "
          f"max {latencies[-1]:.2f} ms, over 3 ms {sum(x > 3 for x in latencies)}, "
          f"over 5 ms {sum(x > 5 for x in latencies)}")


if __name__ == "__main__":
    main()
