#!/usr/bin/env python3
"""asyncpg asks through pgask (named prepared statements, binary results).

Reads the PG* variables. The proxy under test answers every ask with
"SELECT artist_id, name FROM artist ORDER BY artist_id LIMIT 3" over chinook.
Checks: conn.fetch of an ask, conn.prepare of an ask (the attributes come from
Describe of the generated SQL) fetched three times, and an ask inside a
transaction. Prints "OK ask asyncpg" at the end; exits non-zero on failure.
"""
import asyncio
import sys

import asyncpg

WANT = [(1, "AC/DC"), (2, "Accept"), (3, "Aerosmith")]


async def main():
    conn = await asyncio.wait_for(asyncpg.connect(ssl=False), 10)
    notices = []
    conn.add_log_listener(lambda c, m: notices.append(m.message))
    rows = await conn.fetch("-- ask: the first three artists")
    assert [tuple(r) for r in rows] == WANT, rows
    stmt = await conn.prepare("-- ask: the first three artists, prepared")
    assert [a.name for a in stmt.get_attributes()] == ["artist_id", "name"]
    for _ in range(3):
        assert [tuple(r) for r in await stmt.fetch()] == WANT
    async with conn.transaction():
        n = await conn.fetchval("-- ask: how many of the first artists")
        assert n == 1, n
    assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
    await conn.close()
    assert any("artist" in n for n in notices), notices
    print("OK ask asyncpg")


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 120))
    except Exception as e:  # noqa: BLE001
        print(f"[ask asyncpg] FAIL: {e!r}")
        sys.exit(1)
