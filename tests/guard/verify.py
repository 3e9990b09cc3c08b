#!/usr/bin/env python3
"""Check tests/guard/names.jsonl against a real PostgreSQL holding the chinook schema.

Usage: python3 tests/guard/verify.py [DSN] [CORPUS]

DSN defaults to $PGDSN (or the libpq PG* environment variables when that is unset too);
CORPUS defaults to names.jsonl next to this script. The database must have the chinook
tables (tests/../shared/datasets/postgres/chinook.sql) in a schema on the search_path
(normally public). Every case is run as `EXPLAIN <sql>` in its own read-only transaction that
is rolled back; the verdict is "ok" or the SQLSTATE of the error. Mismatches are printed and
the exit status is 1 if there is any (2 on a malformed corpus line).

  --emit   also print every case back as JSONL with the verdict PostgreSQL gave
           (to regenerate the corpus after a deliberate change; review the diff).
"""
import json
import os
import re
import sys

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
VERDICT = re.compile(r"^(ok|[0-9A-Z]{5})$")
START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


def load(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                c = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: bad JSON: {e}")
            problems = []
            if set(c) != {"sql", "verdict", "why"}:
                problems.append(f"keys must be sql, verdict, why (got {sorted(c)})")
            if not isinstance(c.get("sql"), str) or not START.match(c.get("sql", "")):
                problems.append("sql must be a single SELECT or WITH query")
            elif ";" in c["sql"]:
                problems.append("sql must not contain ';'")
            if not isinstance(c.get("verdict"), str) or not VERDICT.match(c.get("verdict", "")):
                problems.append("verdict must be \"ok\" or a 5-character SQLSTATE")
            if not isinstance(c.get("why"), str) or not c.get("why", "").strip():
                problems.append("why must be a non-empty string")
            if problems:
                print(f"{path}:{n}: " + "; ".join(problems), file=sys.stderr)
                sys.exit(2)
            c["line"] = n
            cases.append(c)
    seen = {}
    for c in cases:
        if c["sql"] in seen:
            print(f"{path}:{c['line']}: duplicate of line {seen[c['sql']]}", file=sys.stderr)
            sys.exit(2)
        seen[c["sql"]] = c["line"]
    return cases


def run(conn, sql):
    try:
        with conn.transaction(force_rollback=True):
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SET LOCAL statement_timeout = '10s'")
                cur.execute("EXPLAIN " + sql)
                cur.fetchall()
        return "ok", None
    except psycopg.Error as e:
        return (e.sqlstate or "?????"), str(e).strip().splitlines()[0]


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    emit = "--emit" in argv[1:]
    dsn = args[0] if args else os.environ.get("PGDSN", "")
    path = args[1] if len(args) > 1 else os.path.join(HERE, "names.jsonl")
    cases = load(path)
    bad = 0
    counts = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for c in cases:
            got, msg = run(conn, c["sql"])
            counts[got] = counts.get(got, 0) + 1
            if got != c["verdict"]:
                bad += 1
                print(f"line {c['line']}: expected {c['verdict']}, PostgreSQL says {got}"
                      + (f" ({msg})" if msg else "") + f"\n    {c['sql']}")
            if emit:
                print(json.dumps({"sql": c["sql"], "verdict": got, "why": c["why"]}))
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    print(f"{len(cases)} cases ({summary}); {bad} mismatch(es)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
