#!/usr/bin/env python3
"""psycopg 3 asks through pgask (extended protocol).

Reads the libpq PG* variables. The proxy under test answers every ask with
"SELECT artist_id, name FROM artist ORDER BY artist_id LIMIT 3" over chinook.
Checks: an ask through cursor.execute (Parse/Bind/Describe/Execute/Sync), the
NOTICE with the SQL, the column names from Describe, a prepared (named) ask
executed three times, an ask with a parameter refused (0A000, not answered with
the value ignored), and that the connection is usable afterwards. Prints
"OK ask psycopg" at the end; exits non-zero on the first failure.
"""
import sys

import psycopg

WANT = [(1, "AC/DC"), (2, "Accept"), (3, "Aerosmith")]


def main():
    notices = []
    with psycopg.connect(connect_timeout=10, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        cur = conn.cursor()
        cur.execute("-- ask: the first three artists")
        rows = cur.fetchall()
        assert rows == WANT, rows
        assert [c.name for c in cur.description] == ["artist_id", "name"], cur.description
        assert any("SELECT artist_id, name FROM artist" in n for n in notices), notices
        for _ in range(3):
            cur.execute("-- ask: the first three artists, prepared", prepare=True)
            assert cur.fetchall() == WANT
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cur.fetchone()[0] >= 1
        with conn.transaction():
            cur.execute("-- ask sql: the first three artists")
            (sql,) = cur.fetchone()
            assert sql.startswith("SELECT artist_id"), sql
        try:
            cur.execute("-- ask: artists named %s", ("Accept",))
            raise AssertionError("an ask with a parameter was answered")
        except psycopg.errors.FeatureNotSupported as e:
            assert "no parameters" in str(e), e
        cur.execute("SELECT 1 + %s", (41,))
        assert cur.fetchone() == (42,)
    print("OK ask psycopg")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        print(f"[ask psycopg] FAIL: {e!r}")
        sys.exit(1)
