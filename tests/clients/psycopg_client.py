#!/usr/bin/env python3
"""psycopg 3 driver check for pgask.

Connects using the standard libpq environment variables (PGHOST, PGPORT,
PGUSER, PGPASSWORD, PGDATABASE, optionally PGSSLMODE), exercises simple
queries, server-side prepared statements, transactions, COPY in/out,
LISTEN/NOTIFY and a handful of data types. Prints one line per step and
"OK psycopg" at the end; exits non-zero on the first failure.
"""
import datetime
import decimal
import os
import sys
import time
import traceback

import psycopg

DRIVER = "psycopg"
TIMEOUT_S = 10  # per-statement / connect bound


def step(msg):
    print(f"[{DRIVER}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        if not os.environ.get(var):
            raise SystemExit(f"[{DRIVER}] FAIL: environment variable {var} is not set")

    # psycopg/libpq read PG* env vars themselves; set bounded timeouts explicitly.
    conn = psycopg.connect(
        connect_timeout=TIMEOUT_S,
        options=f"-c statement_timeout={TIMEOUT_S * 1000}",
        autocommit=True,
    )
    try:
        step(f"connected (server_version={conn.info.server_version}, "
             f"user={conn.info.user}, ssl={conn.pgconn.ssl_in_use})")
        # libpq records the auth method used only indirectly; check the role is SCRAM.
        # (pg_authid is superuser-only, so just assert we really are the requested user.)
        row = conn.execute("SELECT current_user, current_database()").fetchone()
        check(row == (os.environ["PGUSER"], os.environ["PGDATABASE"]),
              f"unexpected session identity {row!r}")
        step(f"session identity ok: {row}")

        # --- simple query ----------------------------------------------------
        row = conn.execute("SELECT 1 + 1 AS two, 'hello'::text AS greeting").fetchone()
        check(row == (2, "hello"), f"simple query returned {row!r}")
        step("simple query ok")

        # --- prepared statement reused with different params ------------------
        with conn.cursor() as cur:
            for i in (1, 2, 3, 4):
                cur.execute("SELECT %s::int * 10 AS v, %s::text AS s",
                            (i, f"p{i}"), prepare=True)
                r = cur.fetchone()
                check(r == (i * 10, f"p{i}"), f"prepared exec {i} returned {r!r}")
        prepared = conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%* 10 AS v%'"
            " AND statement NOT LIKE '%pg_prepared_statements%'"
        ).fetchone()[0]
        check(prepared >= 1, "expected a server-side prepared statement to exist")
        step(f"prepared statement executed 4 times (server-side prepared: {prepared})")

        # --- temp table + transaction ----------------------------------------
        conn.execute("CREATE TEMP TABLE t_tx (id int PRIMARY KEY, note text)")
        with conn.transaction():
            conn.execute("INSERT INTO t_tx VALUES (1, 'committed')")
        try:
            with conn.transaction():
                conn.execute("INSERT INTO t_tx VALUES (2, 'rolled back')")
                raise psycopg.Rollback()  # swallowed by the context manager
        except psycopg.Rollback:
            raise AssertionError("psycopg.Rollback escaped the transaction block")
        # explicit BEGIN / ROLLBACK as plain SQL too
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t_tx VALUES (3, 'also rolled back')")
        conn.execute("ROLLBACK")
        rows = conn.execute("SELECT id, note FROM t_tx ORDER BY id").fetchall()
        check(rows == [(1, "committed")], f"transaction effects wrong: {rows!r}")
        step("transaction commit/rollback ok")

        # --- COPY FROM STDIN / COPY TO STDOUT ---------------------------------
        conn.execute("CREATE TEMP TABLE t_copy (id int, name text, amount numeric)")
        src = [(i, f"name-{i} Grüße", decimal.Decimal(i) / 4) for i in range(1, 501)]
        with conn.cursor() as cur:
            with cur.copy("COPY t_copy (id, name, amount) FROM STDIN") as cp:
                for rec in src:
                    cp.write_row(rec)
        cnt = conn.execute("SELECT count(*), sum(id) FROM t_copy").fetchone()
        check(cnt == (500, sum(range(1, 501))), f"COPY FROM STDIN count/sum wrong: {cnt!r}")
        step("COPY FROM STDIN ok (500 rows)")

        out = bytearray()
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT id, name FROM t_copy ORDER BY id) TO STDOUT") as cp:
                for chunk in cp:
                    out += chunk
        lines = out.decode("utf-8").splitlines()
        check(len(lines) == 500, f"COPY TO STDOUT returned {len(lines)} lines")
        check(lines[0] == "1\tname-1 Grüße", f"COPY TO STDOUT first line {lines[0]!r}")
        check(lines[-1] == "500\tname-500 Grüße", f"COPY TO STDOUT last line {lines[-1]!r}")
        step("COPY TO STDOUT ok (500 lines)")

        # --- LISTEN / NOTIFY -------------------------------------------------
        conn.execute("LISTEN pgask_chan")
        conn.execute("SELECT pg_notify('pgask_chan', 'hello from psycopg ü')")
        got = None
        t0 = time.monotonic()
        # notifies(timeout=...) (psycopg >= 3.2) stops after 5s even if nothing arrives
        gen = conn.notifies(timeout=5)
        for n in gen:
            got = n
            gen.close()
            break
        check(time.monotonic() - t0 < 7, "notification wait exceeded its timeout")
        check(got is not None, "no notification received within 5s")
        check(got.channel == "pgask_chan" and got.payload == "hello from psycopg ü",
              f"unexpected notification {got!r}")
        check(got.pid == conn.info.backend_pid, "notification pid mismatch")
        conn.execute("UNLISTEN *")
        step(f"LISTEN/NOTIFY ok (payload={got.payload!r})")

        # --- data types --------------------------------------------------------
        row = conn.execute(
            "SELECT 'Grüße, 日本語'::text, NULL::text, 12345.6789::numeric(12,4),"
            " '2024-02-29 12:34:56.789+00'::timestamptz, '\\xdeadbeef00'::bytea,"
            " ARRAY[1,2,NULL,4]::int[]"
        ).fetchone()
        check(row[0] == "Grüße, 日本語", f"non-ASCII text {row[0]!r}")
        check(row[1] is None, f"NULL came back as {row[1]!r}")
        check(row[2] == decimal.Decimal("12345.6789"), f"numeric {row[2]!r}")
        expected_ts = datetime.datetime(2024, 2, 29, 12, 34, 56, 789000,
                                        tzinfo=datetime.timezone.utc)
        check(row[3] == expected_ts, f"timestamptz {row[3]!r}")
        check(bytes(row[4]) == b"\xde\xad\xbe\xef\x00", f"bytea {row[4]!r}")
        check(row[5] == [1, 2, None, 4], f"int[] {row[5]!r}")
        step("types (text/NULL/numeric/timestamptz/bytea/int[]) ok")

        # same types via bound parameters (binary round trip)
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT %s::text, %s::bytea, %s::int[], %s::numeric",
                        ("Grüße, 日本語", b"\x00\xff", [7, 8, 9], decimal.Decimal("-0.5")))
            r = cur.fetchone()
            check(r == ("Grüße, 日本語", b"\x00\xff", [7, 8, 9], decimal.Decimal("-0.5")),
                  f"binary param round trip {r!r}")
        step("binary parameter round trip ok")
    finally:
        conn.close()

    print(f"OK {DRIVER}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001
        traceback.print_exc()
        msg = " ".join(str(e).split())
        print(f"[{DRIVER}] FAIL: {type(e).__name__}: {msg}", file=sys.stderr, flush=True)
        sys.exit(1)
