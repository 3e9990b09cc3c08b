#!/usr/bin/env python3
"""asyncpg driver check for pgask.

Connects using PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (optionally
PGSSLMODE; asyncpg reads these itself), exercises simple queries, prepared
statements (conn.prepare), transactions, COPY in/out, LISTEN/NOTIFY
(add_listener) and a handful of data types. asyncpg always uses the extended
protocol with binary formats. Prints one line per step and "OK asyncpg" at the
end; exits non-zero on the first failure.
"""
import asyncio
import datetime
import decimal
import io
import os
import sys
import traceback

import asyncpg

DRIVER = "asyncpg"
TIMEOUT_S = 10


def step(msg):
    print(f"[{DRIVER}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


async def run():
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        if not os.environ.get(var):
            raise SystemExit(f"[{DRIVER}] FAIL: environment variable {var} is not set")

    # asyncpg picks up PG* env vars (incl. PGSSLMODE) when arguments are omitted.
    conn = await asyncpg.connect(timeout=TIMEOUT_S, command_timeout=TIMEOUT_S,
                                 server_settings={"application_name": "pgask-asyncpg"})
    try:
        ssl_obj = getattr(conn, "_transport", None)
        ssl_obj = ssl_obj.get_extra_info("ssl_object") if ssl_obj is not None else None
        ver = conn.get_server_version()
        step(f"connected (server_version={ver.major}.{ver.micro}, ssl={ssl_obj is not None})")
        row = await conn.fetchrow("SELECT current_user, current_database()")
        check(tuple(row) == (os.environ["PGUSER"], os.environ["PGDATABASE"]),
              f"unexpected session identity {tuple(row)!r}")
        step(f"session identity ok: {tuple(row)}")

        # --- simple query (simple protocol via execute, extended via fetch) ---
        status = await conn.execute("SELECT 1; SELECT 2")  # multi-statement => simple Query
        check(status == "SELECT 1", f"simple-protocol execute status {status!r}")
        row = await conn.fetchrow("SELECT 1 + 1 AS two, 'hello'::text AS greeting")
        check(tuple(row) == (2, "hello"), f"simple query returned {tuple(row)!r}")
        step("simple query ok")

        # --- explicit prepared statement reused with different params ----------
        stmt = await conn.prepare("SELECT $1::int * 10 AS v, $2::text AS s")
        for i in (1, 2, 3, 4):
            r = await stmt.fetchrow(i, f"p{i}")
            check(tuple(r) == (i * 10, f"p{i}"), f"prepared exec {i} returned {tuple(r)!r}")
        check([a.name for a in stmt.get_attributes()] == ["v", "s"],
              f"prepared attributes {stmt.get_attributes()!r}")
        names = await conn.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%* 10 AS v%'"
            " AND statement NOT LIKE '%pg_prepared_statements%'")
        check(names >= 1, "expected a server-side prepared statement to exist")
        step(f"prepared statement executed 4 times (server-side prepared: {names})")

        # executemany uses a pipeline of Bind/Execute on one prepared statement
        await conn.execute("CREATE TEMP TABLE t_many (id int, label text)")
        await conn.executemany("INSERT INTO t_many VALUES ($1, $2)",
                               [(i, f"row {i}") for i in range(10)])
        check(await conn.fetchval("SELECT count(*) FROM t_many") == 10, "executemany count")
        step("executemany ok (10 rows)")

        # --- transaction ---------------------------------------------------------
        await conn.execute("CREATE TEMP TABLE t_tx (id int PRIMARY KEY, note text)")
        async with conn.transaction():
            await conn.execute("INSERT INTO t_tx VALUES (1, 'committed')")
        tr = conn.transaction()
        await tr.start()
        await conn.execute("INSERT INTO t_tx VALUES (2, 'rolled back')")
        check(await conn.fetchval("SELECT count(*) FROM t_tx") == 2, "row not visible in tx")
        await tr.rollback()
        rows = [tuple(r) for r in await conn.fetch("SELECT id, note FROM t_tx ORDER BY id")]
        check(rows == [(1, "committed")], f"transaction effects wrong: {rows!r}")
        step("transaction commit/rollback ok")

        # --- COPY ----------------------------------------------------------------
        await conn.execute("CREATE TEMP TABLE t_copy (id int, name text, amount numeric)")
        recs = [(i, f"name-{i} Grüße", decimal.Decimal(i) / 4) for i in range(1, 501)]
        res = await conn.copy_records_to_table("t_copy", records=recs,
                                               columns=["id", "name", "amount"],
                                               timeout=TIMEOUT_S)
        check(res == "COPY 500", f"copy_records_to_table status {res!r}")
        cnt = tuple(await conn.fetchrow("SELECT count(*), sum(id) FROM t_copy"))
        check(cnt == (500, sum(range(1, 501))), f"COPY FROM STDIN count/sum wrong: {cnt!r}")
        step("COPY FROM STDIN (binary, copy_records_to_table) ok (500 rows)")

        # text-format COPY FROM STDIN from a file-like object
        buf = io.BytesIO("".join(f"{i}\ttext-{i} 日本語\t{i}.5\n"
                                 for i in range(1000, 1100)).encode())
        res = await conn.copy_to_table("t_copy", source=buf, columns=["id", "name", "amount"],
                                       timeout=TIMEOUT_S)
        check(res == "COPY 100", f"copy_to_table status {res!r}")
        check(await conn.fetchval("SELECT count(*) FROM t_copy") == 600, "count after copy_to_table")
        step("COPY FROM STDIN (text, copy_to_table) ok (100 rows)")

        out = io.BytesIO()
        res = await conn.copy_from_query(
            "SELECT id, name FROM t_copy WHERE id <= 500 ORDER BY id", output=out,
            timeout=TIMEOUT_S)
        check(res == "COPY 500", f"copy_from_query status {res!r}")
        lines = out.getvalue().decode("utf-8").splitlines()
        check(len(lines) == 500, f"COPY TO STDOUT returned {len(lines)} lines")
        check(lines[0] == "1\tname-1 Grüße", f"COPY TO STDOUT first line {lines[0]!r}")
        check(lines[-1] == "500\tname-500 Grüße", f"COPY TO STDOUT last line {lines[-1]!r}")
        step("COPY TO STDOUT (copy_from_query) ok (500 lines)")

        # --- LISTEN / NOTIFY ------------------------------------------------------
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def on_notify(_conn, pid, channel, payload):
            if not fut.done():
                fut.set_result((pid, channel, payload))

        await conn.add_listener("pgask_chan", on_notify)
        await conn.execute("NOTIFY pgask_chan, 'hello from asyncpg ü'")
        try:
            pid, channel, payload = await asyncio.wait_for(fut, timeout=5)
        except asyncio.TimeoutError:
            raise AssertionError("no notification received within 5s")
        check(channel == "pgask_chan" and payload == "hello from asyncpg ü",
              f"unexpected notification {(pid, channel, payload)!r}")
        check(pid == conn.get_server_pid(), "notification pid mismatch")
        await conn.remove_listener("pgask_chan", on_notify)
        step(f"LISTEN/NOTIFY ok (payload={payload!r})")

        # --- data types ------------------------------------------------------------
        row = await conn.fetchrow(
            "SELECT 'Grüße, 日本語'::text, NULL::text, 12345.6789::numeric(12,4),"
            " '2024-02-29 12:34:56.789+00'::timestamptz, '\\xdeadbeef00'::bytea,"
            " ARRAY[1,2,NULL,4]::int[]")
        check(row[0] == "Grüße, 日本語", f"non-ASCII text {row[0]!r}")
        check(row[1] is None, f"NULL came back as {row[1]!r}")
        check(row[2] == decimal.Decimal("12345.6789"), f"numeric {row[2]!r}")
        expected_ts = datetime.datetime(2024, 2, 29, 12, 34, 56, 789000,
                                        tzinfo=datetime.timezone.utc)
        check(row[3] == expected_ts, f"timestamptz {row[3]!r}")
        check(row[4] == b"\xde\xad\xbe\xef\x00", f"bytea {row[4]!r}")
        check(row[5] == [1, 2, None, 4], f"int[] {row[5]!r}")
        step("types (text/NULL/numeric/timestamptz/bytea/int[]) ok")

        r = await conn.fetchrow("SELECT $1::text, $2::bytea, $3::int[], $4::numeric",
                                "Grüße, 日本語", b"\x00\xff", [7, 8, 9], decimal.Decimal("-0.5"))
        check(tuple(r) == ("Grüße, 日本語", b"\x00\xff", [7, 8, 9], decimal.Decimal("-0.5")),
              f"binary param round trip {tuple(r)!r}")
        step("binary parameter round trip ok")
    finally:
        await asyncio.wait_for(conn.close(), timeout=TIMEOUT_S)

    print(f"OK {DRIVER}", flush=True)


def main():
    try:
        asyncio.run(asyncio.wait_for(run(), timeout=120))
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001
        traceback.print_exc()
        msg = " ".join(str(e).split())
        print(f"[{DRIVER}] FAIL: {type(e).__name__}: {msg}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
