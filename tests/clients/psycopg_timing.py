#!/usr/bin/env python3
"""Timing behaviours psycopg 3 (over libpq) relies on, which a proxy can get wrong while every
byte is right. Connects with the PG* environment variables and checks:

1. pipeline: in libpq pipeline mode, an error arrives before the client sends Sync
   (PQsendQueryParams("select 1/0") then PQflush, no PQpipelineSync), and rows arrive after a
   flush request alone (PQsendFlushRequest);
2. cancel: a cancel sent while the connection is idle does not hit the next statement
   (PQcancel returns once the server closed the cancel connection; the next statement must run);
3. terminate: after PQsendQuery("select pg_sleep(0.5)") and a Terminate, the server still
   sends the results before it closes (read on the raw socket).

Prints one line per check and "OK timing" at the end; exits non-zero on the first failure.
"""
import os
import select
import socket
import struct
import sys
import time

import psycopg
from psycopg import pq

WAIT_S = 5


def step(msg):
    print(f"[timing] {msg}", flush=True)


def fail(msg):
    print(f"[timing] FAIL: {msg}", flush=True)
    sys.exit(1)


def conninfo():
    return psycopg.conninfo.make_conninfo("")


def wait_result(conn, what):
    """The next result of a pipelining PGconn within WAIT_S, or a failure."""
    deadline = time.monotonic() + WAIT_S
    while True:
        conn.consume_input()
        if not conn.is_busy():
            return conn.get_result()
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"{what}: no result within {WAIT_S} s (the proxy held the messages)")
        select.select([conn.socket], [], [], left)


def pipeline():
    conn = pq.PGconn.connect(conninfo().encode())
    if conn.status != pq.ConnStatus.OK:
        fail(f"connect: {conn.get_error_message()}")
    conn.nonblocking = 1
    conn.enter_pipeline_mode()
    conn.send_query_params(b"select 1/0", None)
    while conn.flush() != 0:
        time.sleep(0.01)
    res = wait_result(conn, "error without Sync")
    if res is None or res.status != pq.ExecStatus.FATAL_ERROR:
        fail(f"expected an error result, got {res and res.status}")
    state = res.error_field(pq.DiagnosticField.SQLSTATE)
    if state != b"22012":
        fail(f"expected SQLSTATE 22012, got {state}")
    step("pipeline: division by zero arrived without Sync")
    # Close the aborted segment, then rows after a flush request alone.
    conn.pipeline_sync()
    while conn.flush() != 0:
        time.sleep(0.01)
    while True:
        r = wait_result(conn, "aborted segment")
        if r is not None and r.status == pq.ExecStatus.PIPELINE_SYNC:
            break
    conn.send_query_params(b"select 41 + 1", None)
    conn.send_flush_request()
    while conn.flush() != 0:
        time.sleep(0.01)
    res = wait_result(conn, "rows after a flush request")
    if res is None or res.status != pq.ExecStatus.TUPLES_OK or res.get_value(0, 0) != b"42":
        fail(f"expected the row 42, got {res and res.status}")
    step("pipeline: rows arrived after a flush request, without Sync")
    conn.finish()


def cancel(rounds):
    cancelled = 0
    with psycopg.connect(autocommit=True) as conn:
        for _ in range(rounds):
            conn.cancel()
            try:
                conn.execute("select pg_sleep(0.02)")
            except psycopg.errors.QueryCanceled:
                cancelled += 1
    if cancelled:
        fail(f"cancel: {cancelled} of {rounds} next statements were cancelled")
    step(f"cancel: 0 of {rounds} statements after an idle cancel were cancelled")


def terminate():
    # The startup and login come from libpq; then the socket is used raw.
    conn = pq.PGconn.connect(conninfo().encode())
    if conn.status != pq.ConnStatus.OK:
        fail(f"connect: {conn.get_error_message()}")
    sock = socket.socket(fileno=os.dup(conn.socket))
    sock.setblocking(True)
    sql = b"select pg_sleep(0.5)\0"
    query = b"Q" + struct.pack("!i", 4 + len(sql)) + sql
    started = time.monotonic()
    sock.sendall(query + b"X\0\0\0\4")
    got = b""
    sock.settimeout(WAIT_S)
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    took = time.monotonic() - started
    tags = []
    i = 0
    while i + 5 <= len(got):
        tags.append(chr(got[i]))
        i += 1 + struct.unpack("!i", got[i + 1:i + 5])[0]
    if tags[-2:] != ["C", "Z"] or took < 0.4:
        fail(f"terminate: got {tags} after {took:.2f} s")
    step(f"terminate: {len(got)} bytes ({''.join(tags)}) then EOF after {took:.2f} s")
    sock.close()


def main():
    pipeline()
    cancel(int(os.environ.get("TIMING_CANCEL_ROUNDS", "40")))
    terminate()
    print("OK timing", flush=True)


if __name__ == "__main__":
    main()
