#!/usr/bin/env python3
"""Time per ask with 1, 4 and 8 concurrent asks through pgask, with a real model.

Starts a throwaway PostgreSQL cluster with chinook and a pgask in front of it (local llama.cpp
backend, the model at $PGASK_REAL_MODEL), warms it up with one ask (model load and index
build), then for each concurrency level N sends N different questions from
tests/eval/chinook.jsonl at once, each on its own connection, and reports per-ask latency
(p50 and max), the batch's wall time, how many were answered, and how many heard their place
in the model queue. Everything it starts is stopped and removed at the end.

    python3 benches/ask_concurrency.py [--levels 1,4,8] [--smoke]

Environment: PGASK_BIN (default $CARGO_TARGET_DIR/debug/pgask or target/debug/pgask),
PGASK_REAL_MODEL, PGASK_EMBEDDER_DIR, PGASK_CHINOOK_SQL, PG_BIN (default: newest
/usr/lib/postgresql/*/bin).
"""
import argparse
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin():
    if os.environ.get("PG_BIN"):
        return os.environ["PG_BIN"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not found:
        sys.exit("no PostgreSQL binaries (set PG_BIN)")
    return found[-1]


def run_as_postgres(cmd):
    if os.geteuid() == 0:
        cmd = ["su", "postgres", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def wait_port(port, secs=60):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


def ask(port, question, out, i):
    notices = []
    t = time.time()
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=chinook",
                             autocommit=True) as conn:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
            cur = conn.execute(f"-- ask: {question}", prepare=False)
            cur.fetchall()
            ok = True
    except psycopg.Error as e:
        ok = False
        notices.append(f"error: {e}")
    out[i] = (time.time() - t, ok, any("waiting for the model" in n for n in notices))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="1,4,8")
    ap.add_argument("--smoke", action="store_true", help="levels 1,2 only")
    args = ap.parse_args()
    levels = [1, 2] if args.smoke else [int(x) for x in args.levels.split(",")]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    pgask = os.environ.get("PGASK_BIN", os.path.join(target, "debug", "pgask"))
    model = os.environ.get("PGASK_REAL_MODEL", "/var/tmp/pgask-models/gemma-3-270m-q4_k_m.gguf")
    embedder = os.environ.get("PGASK_EMBEDDER_DIR", os.path.join(ROOT, "..", "shared", "models", "all-MiniLM-L6-v2"))
    chinook = os.environ.get("PGASK_CHINOOK_SQL", os.path.join(ROOT, "..", "shared", "datasets", "postgres", "chinook.sql"))
    for p in (pgask, model, embedder, chinook):
        if not os.path.exists(p):
            sys.exit(f"missing {p}")
    questions = [json.loads(l)["question"] for l in open(os.path.join(ROOT, "tests", "eval", "chinook.jsonl")) if l.strip()]
    tmp = tempfile.mkdtemp(prefix="pgask-conc-")
    os.chmod(tmp, 0o777)
    bin_dir = pg_bin()
    pg_port, port = free_port(), free_port()
    data = os.path.join(tmp, "data")
    proc = None
    try:
        run_as_postgres([f"{bin_dir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"])
        run_as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-l", os.path.join(tmp, "pg.log"), "-w",
                         "-o", f"'-p {pg_port} -k {tmp} -c fsync=off'", "start"])
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-f", chinook],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = os.path.join(tmp, "pgask.toml")
        with open(config, "w") as f:
            f.write(f"""listen_addr = "127.0.0.1:{port}"
[upstream]
port = {pg_port}
tls = "disable"
[retrieval]
embedder_dir = "{embedder}"
cache_dir = "{tmp}/cache"
[llm]
model = "{model}"
timeout_secs = 900
max_queue = 16
[ask]
cache_ttl_secs = 0
[history]
file = ""
""")
        log = open(os.path.join(tmp, "pgask.log"), "w")
        proc = subprocess.Popen([pgask, "--config", config], stderr=log, stdout=log)
        wait_port(port)
        warm = [None]
        ask(port, "How many albums are there?", warm, 0)
        print(f"warm-up (model load, index build): {warm[0][0]:.1f} s", file=sys.stderr)
        cpu = os.cpu_count()
        print(f"\n## time per ask by concurrency ({cpu} cores, {os.path.basename(model)})\n")
        print("| concurrent asks | answered | per ask p50 | per ask max | batch wall | heard their place |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        q = 0
        for n in levels:
            out = [None] * n
            threads = []
            t = time.time()
            for i in range(n):
                threads.append(threading.Thread(target=ask, args=(port, questions[q % len(questions)], out, i)))
                q += 1
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.time() - t
            lat = [o[0] for o in out]
            print(f"| {n} | {sum(o[1] for o in out)}/{n} | {statistics.median(lat):.1f} s | {max(lat):.1f} s "
                  f"| {wall:.1f} s | {sum(o[2] for o in out)} |", flush=True)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if os.path.exists(data):
            subprocess.run(["su", "postgres", "-c", f"{bin_dir}/pg_ctl -D {data} -m immediate stop"]
                           if os.geteuid() == 0 else [f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
