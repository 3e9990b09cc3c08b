#!/usr/bin/env bash
# Passthrough overhead benchmark: pgbench -S against PostgreSQL directly, through PgBouncer
# (session mode) and through pgask, on a throwaway cluster this script starts and removes.
#
#   benches/passthrough.sh [--rounds N] [--secs N] [--smoke] [--help]
#
# Environment:
#   PGASK_BIN      pgask binary (default: /var/tmp/pgask-target/release/pgask, else target/release/pgask)
#   PG_BIN         PostgreSQL bin dir (default: newest /usr/lib/postgresql/*/bin)
#   PGBOUNCER_BIN  pgbouncer binary (default: /usr/sbin/pgbouncer, else pgbouncer on PATH)
#   ROUNDS, SECS   defaults for --rounds / --secs (3 and 5)
#   OUT            also write the results as Markdown to this file
#   UPSTREAM       how both proxies reach PostgreSQL: tcp (127.0.0.1, default) or unix (its socket)
#   SKIP_PGASK=1, SKIP_PGBOUNCER=1   leave that target out (for testing the script itself)
#   FLOOR_BIN      also measure examples/relay_floor (a byte copier, the floor for any proxy)
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: benches/passthrough.sh [--rounds N] [--secs N] [--smoke] [--help]

Measures pgask's passthrough overhead: pgbench -S (select-only) against PostgreSQL directly,
through PgBouncer (session mode) and through pgask, on a throwaway PostgreSQL cluster
(fsync=off, scale 2) that the script starts and removes again.

For each protocol (simple, extended, prepared) and client count (1, 8) it runs
  pgbench -S -M <protocol> -c <clients> -j <min(clients,2)> -T <secs> -n
against each target, ROUNDS times, in a rotated round-robin order, and prints the median
TPS and average latency per target, the TPS ratios pgask/direct and pgask/pgbouncer, and
each proxy's own CPU time (user + system) per transaction.

Options:
  --rounds N   rounds per (protocol, clients) cell (default 3, or $ROUNDS)
  --secs N     seconds per pgbench run (default 5, or $SECS)
  --smoke      1 round of 1 second, simple and prepared protocols, 1 client only
               (proves the script works; numbers are meaningless)
  --help       this text

Environment:
  PGASK_BIN      pgask binary (default /var/tmp/pgask-target/release/pgask or target/release/pgask)
  PG_BIN         PostgreSQL bin dir (default: newest /usr/lib/postgresql/*/bin)
  PGBOUNCER_BIN  pgbouncer binary (default /usr/sbin/pgbouncer)
  OUT            write the results as Markdown to this file as well
  UPSTREAM       tcp (default): both proxies reach PostgreSQL over 127.0.0.1; unix: over its
                 Unix socket (pgbench still reaches every target over TCP)
  SKIP_PGASK=1 / SKIP_PGBOUNCER=1   leave that target out
  FLOOR_BIN      also measure this relay_floor binary (cargo build --release --example
                 relay_floor): one epoll thread copying bytes, no parsing; the least any
                 proxy can cost on these cores, as a fourth target in the same rounds

Runs as an ordinary user or as root (PostgreSQL and PgBouncer then run as the postgres user,
which is created if missing; pgbouncer is apt-get installed if missing).
EOF
}

die() { echo "passthrough.sh: $*" >&2; exit 1; }
is_uint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# --- command line -----------------------------------------------------------------------------
cmdline="$(printf '%q ' "$0" "$@")"
cmdline="${cmdline% }"
envline=""
for v in PGASK_BIN FLOOR_BIN PG_BIN PGBOUNCER_BIN ROUNDS SECS OUT SKIP_PGASK SKIP_PGBOUNCER UPSTREAM; do
  if [[ -n "${!v:-}" ]]; then envline+="$v=$(printf '%q' "${!v}") "; fi
done
cmdline="$envline$cmdline"

rounds="" secs="" smoke=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) [[ $# -ge 2 ]] || die "--rounds needs a value"; rounds="$2"; shift 2 ;;
    --rounds=*) rounds="${1#*=}"; shift ;;
    --secs) [[ $# -ge 2 ]] || die "--secs needs a value"; secs="$2"; shift 2 ;;
    --secs=*) secs="${1#*=}"; shift ;;
    --smoke) smoke=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
if [[ $smoke == 1 ]]; then
  rounds="${rounds:-1}" secs="${secs:-1}"
  protocols=(simple prepared) clients_list=(1)
else
  rounds="${rounds:-${ROUNDS:-3}}" secs="${secs:-${SECS:-5}}"
  protocols=(simple extended prepared) clients_list=(1 8)
fi
is_uint "$rounds" || die "--rounds must be a positive integer, got '$rounds'"
is_uint "$secs" || die "--secs must be a positive integer, got '$secs'"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# --- tools --------------------------------------------------------------------------------------
if [[ -z "${PG_BIN:-}" ]]; then
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [[ -n "$PG_BIN" ]] || die "no PostgreSQL found in /usr/lib/postgresql/*/bin; install postgresql or set PG_BIN"
fi
for t in initdb pg_ctl postgres pgbench psql; do
  [[ -x "$PG_BIN/$t" ]] || die "$PG_BIN/$t not found (set PG_BIN to a PostgreSQL bin directory)"
done
command -v timeout >/dev/null || die "timeout (coreutils) is required"

targets=(direct)
if [[ "${SKIP_PGBOUNCER:-0}" != 1 ]]; then
  if [[ -z "${PGBOUNCER_BIN:-}" ]]; then
    if [[ -x /usr/sbin/pgbouncer ]]; then
      PGBOUNCER_BIN=/usr/sbin/pgbouncer
    elif command -v pgbouncer >/dev/null; then
      PGBOUNCER_BIN="$(command -v pgbouncer)"
    elif [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "installing pgbouncer (apt-get)..."
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
      PGBOUNCER_BIN=/usr/sbin/pgbouncer
    else
      die "pgbouncer not found: install it (apt-get install pgbouncer) or set SKIP_PGBOUNCER=1"
    fi
  fi
  [[ -x "$PGBOUNCER_BIN" ]] || die "pgbouncer binary $PGBOUNCER_BIN is not executable"
  targets+=(pgbouncer)
fi

if [[ "${SKIP_PGASK:-0}" != 1 ]]; then
  if [[ -z "${PGASK_BIN:-}" ]]; then
    for c in /var/tmp/pgask-target/release/pgask "$repo/target/release/pgask"; do
      if [[ -x "$c" ]]; then PGASK_BIN="$c"; break; fi
    done
  fi
  if [[ -z "${PGASK_BIN:-}" ]]; then
    cat >&2 <<EOF
passthrough.sh: no pgask binary found (looked at /var/tmp/pgask-target/release/pgask and
$repo/target/release/pgask). Build it first:
    cargo build --release
(or CARGO_TARGET_DIR=/var/tmp/pgask-target cargo build --release), or point PGASK_BIN at a binary.
EOF
    exit 2
  fi
  [[ -x "$PGASK_BIN" ]] || die "PGASK_BIN=$PGASK_BIN is not an executable file"
  targets+=(pgask)
fi

if [[ -n "${FLOOR_BIN:-}" ]]; then
  [[ -x "$FLOOR_BIN" ]] || die "FLOOR_BIN=$FLOOR_BIN is not an executable file"
  targets+=(floor)
fi

# --- teardown -----------------------------------------------------------------------------------
workdir="" pgb_pid="" pgask_pid="" floor_pid=""

as_pg() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_pid() { # pid name: SIGTERM, up to 5 s, then SIGKILL
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM HUP
  [[ -n "$pgask_pid" ]] && stop_pid "$pgask_pid"
  [[ -n "$floor_pid" ]] && stop_pid "$floor_pid"
  [[ -n "$pgb_pid" ]] && stop_pid "$pgb_pid"
  if [[ -n "$workdir" && -f "$workdir/data/postmaster.pid" ]]; then
    if ! as_pg timeout 20 "$PG_BIN/pg_ctl" stop -D "$workdir/data" -m immediate -w -t 10 >/dev/null 2>&1; then
      local ppid
      ppid="$(head -n 1 "$workdir/data/postmaster.pid" 2>/dev/null)"
      [[ "$ppid" =~ ^[0-9]+$ ]] && kill -KILL "$ppid" 2>/dev/null
      sleep 0.5
    fi
  fi
  [[ -n "$workdir" && -d "$workdir" ]] && rm -rf "$workdir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

show_log() { # file: last lines of a log, to help when something fails
  [[ -f "$1" ]] || return 0
  echo "---- last lines of $1:" >&2
  tail -n 30 "$1" >&2
  echo "----" >&2
}

# --- helpers ------------------------------------------------------------------------------------
used_ports=" "
port_in_use() {
  local p="$1"
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
  if command -v ss >/dev/null; then
    [[ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]] && return 0
  fi
  return 1
}
free_port() { # sets REPLY; picks below the usual ephemeral range (32768+)
  local p i
  for i in $(seq 1 500); do
    p=$((20000 + RANDOM % 12000))
    [[ "$used_ports" == *" $p "* ]] && continue
    if ! port_in_use "$p"; then
      used_ports+="$p "
      REPLY="$p"
      return 0
    fi
  done
  die "no free TCP port found"
}

DBUSER=postgres DBNAME=bench
export PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=3 PGAPPNAME=passthrough-bench
unset PGSERVICE PGSERVICEFILE PGPASSWORD PGOPTIONS PGDATABASE PGUSER PGHOST PGPORT PGHOSTADDR 2>/dev/null || true

psql_at() { # port sql...
  local port="$1"; shift
  timeout 15 "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$DBUSER" -d "$DBNAME" "$@"
}

wait_ready() { # name port pid log [log2]: psql "select 1" until it works, at most ~30 s
  local name="$1" port="$2" pid="$3" log="$4" log2="${5:-}" i
  for i in $(seq 1 60); do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      show_log "$log"; [[ -n "$log2" ]] && show_log "$log2"
      die "$name exited during startup"
    fi
    if psql_at "$port" -c 'select 1' >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  show_log "$log"; [[ -n "$log2" ]] && show_log "$log2"
  die "$name did not accept connections on 127.0.0.1:$port within 30 s"
}

# --- PostgreSQL ---------------------------------------------------------------------------------
t_start=$SECONDS
workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgask-bench.XXXXXX")"
mkdir -p "$workdir/logs"
if [[ $EUID -eq 0 ]]; then
  command -v runuser >/dev/null || die "running as root needs runuser (util-linux)"
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown -R postgres: "$workdir"
  chmod 755 "$workdir/logs" # root writes pgbench logs here; postgres writes the server logs
fi

free_port; pg_port=$REPLY
echo "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$pg_port in $workdir ..."
if ! as_pg timeout 120 "$PG_BIN/initdb" -D "$workdir/data" -U "$DBUSER" -A trust -E UTF8 --locale=C --no-sync \
  >"$workdir/logs/initdb.log" 2>&1; then
  show_log "$workdir/logs/initdb.log"
  die "initdb failed"
fi
cat >>"$workdir/data/postgresql.conf" <<EOF

# passthrough benchmark
port = $pg_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$workdir'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
cat >"$workdir/data/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 trust
EOF
[[ $EUID -eq 0 ]] && chown postgres: "$workdir/data/postgresql.conf" "$workdir/data/pg_hba.conf"
if ! as_pg timeout 90 "$PG_BIN/pg_ctl" start -D "$workdir/data" -l "$workdir/logs/postgres.log" -w -t 60 >/dev/null 2>&1; then
  show_log "$workdir/logs/postgres.log"
  die "PostgreSQL did not start"
fi
timeout 15 "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U "$DBUSER" -d postgres -c "create database $DBNAME" >/dev/null \
  || die "create database failed"

echo "pgbench -i -s 2 ..."
if ! timeout 300 "$PG_BIN/pgbench" -i -s 2 -q -h 127.0.0.1 -p "$pg_port" -U "$DBUSER" "$DBNAME" >"$workdir/logs/init.log" 2>&1; then
  show_log "$workdir/logs/init.log"
  die "pgbench -i failed"
fi

declare -A port
port[direct]=$pg_port
case "${UPSTREAM:-tcp}" in
  tcp) upstream_host=127.0.0.1 ;;
  unix) upstream_host=$workdir ;;
  *) die "UPSTREAM must be tcp or unix, got '$UPSTREAM'" ;;
esac

# --- PgBouncer ----------------------------------------------------------------------------------
if [[ " ${targets[*]} " == *" pgbouncer "* ]]; then
  free_port; port[pgbouncer]=$REPLY
  echo "starting PgBouncer on 127.0.0.1:${port[pgbouncer]} ..."
  printf '"%s" ""\n' "$DBUSER" >"$workdir/userlist.txt"
  cat >"$workdir/pgbouncer.ini" <<EOF
[databases]
$DBNAME = host=$upstream_host port=$pg_port dbname=$DBNAME

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port[pgbouncer]}
unix_socket_dir =
auth_type = trust
auth_file = $workdir/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $workdir/logs/pgbouncer.log
pidfile = $workdir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
EOF
  pgb_cmd=("$PGBOUNCER_BIN" -q)
  # pgbouncer refuses to run as root; -u makes it switch to the postgres user itself, so $! is
  # pgbouncer's own pid (not a runuser wrapper's)
  [[ $EUID -eq 0 ]] && pgb_cmd+=(-u postgres)
  "${pgb_cmd[@]}" "$workdir/pgbouncer.ini" >>"$workdir/logs/pgbouncer.out" 2>&1 &
  pgb_pid=$!
  wait_ready pgbouncer "${port[pgbouncer]}" "$pgb_pid" "$workdir/logs/pgbouncer.log" "$workdir/logs/pgbouncer.out"
fi

# --- pgask --------------------------------------------------------------------------------------
if [[ " ${targets[*]} " == *" pgask "* ]]; then
  free_port; port[pgask]=$REPLY
  echo "starting pgask ($PGASK_BIN) on 127.0.0.1:${port[pgask]} ..."
  cat >"$workdir/pgask.toml" <<EOF
listen_addr = "127.0.0.1:${port[pgask]}"

[upstream]
host = "$upstream_host"
port = $pg_port
tls = "disable"

[tls]
mode = "disable"

[log]
level = "warn"
EOF
  # RUST_LOG would override [log] level
  env -u RUST_LOG "$PGASK_BIN" --config "$workdir/pgask.toml" >>"$workdir/logs/pgask.log" 2>&1 &
  pgask_pid=$!
  wait_ready pgask "${port[pgask]}" "$pgask_pid" "$workdir/logs/pgask.log"
fi

# --- the floor: a byte copier -------------------------------------------------------------------
if [[ " ${targets[*]} " == *" floor "* ]]; then
  free_port; port[floor]=$REPLY
  floor_up="127.0.0.1:$pg_port"
  [[ ${UPSTREAM:-tcp} == unix ]] && floor_up="$workdir/.s.PGSQL.$pg_port"
  echo "starting relay_floor ($FLOOR_BIN) on 127.0.0.1:${port[floor]} ..."
  "$FLOOR_BIN" "127.0.0.1:${port[floor]}" "$floor_up" >>"$workdir/logs/floor.log" 2>&1 &
  floor_pid=$!
  wait_ready relay_floor "${port[floor]}" "$floor_pid" "$workdir/logs/floor.log"
fi

# --- versions and machine -----------------------------------------------------------------------
cpu_model="$(grep -m1 -E '^(model name|Model|Hardware|cpu model)[[:space:]]*:' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*:[[:space:]]*//' || true)"
[[ -n "$cpu_model" ]] || cpu_model="$(uname -m)"
machine="$(nproc) CPUs, $cpu_model, $(uname -srm)"
pg_version="$(psql_at "$pg_port" -c 'select version()' 2>/dev/null || "$PG_BIN/postgres" --version)"
pgb_version="-"
[[ -n "${PGBOUNCER_BIN:-}" && " ${targets[*]} " == *" pgbouncer "* ]] && pgb_version="$("$PGBOUNCER_BIN" --version 2>/dev/null | head -n 1)"
pgask_version="-"
if [[ " ${targets[*]} " == *" pgask "* ]]; then
  pgask_version="$("$PGASK_BIN" --version 2>/dev/null | head -n 1) ($PGASK_BIN)"
  if rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"; then
    pgask_version+=", commit $rev"
    [[ -n "$(git -C "$repo" status --porcelain 2>/dev/null | head -n 1)" ]] && pgask_version+=" (dirty tree)"
  fi
fi
pgbench_version="$("$PG_BIN/pgbench" --version | head -n 1)"

header=(
  "machine:    $machine"
  "postgresql: $pg_version (fsync=off, scale 2, 127.0.0.1 TCP)"
  "pgbouncer:  $pgb_version (pool_mode=session)"
  "upstream:   both proxies reach PostgreSQL over ${UPSTREAM:-tcp}"
  "pgask:      $pgask_version"
  "floor:      ${FLOOR_BIN:--} (examples/relay_floor: one epoll thread copying bytes)"
  "pgbench:    $pgbench_version, -S -n -T $secs, $rounds round(s), median of rounds"
  "command:    $cmdline"
)
echo
printf '%s\n' "${header[@]}"
echo

# --- runs ---------------------------------------------------------------------------------------
declare -A tps lat cpu
failures=0
clk_tck="$(getconf CLK_TCK 2>/dev/null || echo 100)"
declare -A proxy_pid=([pgbouncer]="$pgb_pid" [pgask]="$pgask_pid" [floor]="$floor_pid")
cpu_ticks() { # pid: user + system CPU ticks the process (all its threads) has used so far
  # fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the command name
  [[ -n "$1" && -r "/proc/$1/stat" ]] || return 0
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
run_one() { # target proto clients round
  local target="$1" proto="$2" n="$3" r="$4" j log out t l st=0 c0 c1 done_txns
  j=$((n < 2 ? n : 2))
  log="$workdir/logs/run-$target-$proto-c$n-r$r.log"
  c0="$(cpu_ticks "${proxy_pid[$target]:-}")"
  # --foreground keeps pgbench in our process group, so Ctrl-C reaches it
  timeout --foreground -k 5 $((secs + 60)) "$PG_BIN/pgbench" -S -M "$proto" -c "$n" -j "$j" -T "$secs" -n \
    -h 127.0.0.1 -p "${port[$target]}" -U "$DBUSER" "$DBNAME" >"$log" 2>&1 || st=$?
  if [[ $st -ne 0 ]]; then
    echo "  FAILED: $target $proto c=$n round $r (exit status $st$([[ $st -eq 124 || $st -eq 137 ]] && echo ", timed out"))" >&2
    show_log "$log"
    failures=$((failures + 1))
    return 0
  fi
  out="$(cat "$log")"
  t="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' <<<"$out" | head -n 1)"
  l="$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$out" | head -n 1)"
  if [[ -z "$t" || -z "$l" ]]; then
    echo "  FAILED: $target $proto c=$n round $r: no tps/latency in pgbench output" >&2
    show_log "$log"
    failures=$((failures + 1))
    return 0
  fi
  tps[$target,$proto,$n]+="$t "
  lat[$target,$proto,$n]+="$l "
  # the proxy's own CPU time per transaction: far steadier than TPS on a noisy machine
  c1="$(cpu_ticks "${proxy_pid[$target]:-}")"
  done_txns="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)"
  if [[ -n "$c0" && -n "$c1" && -n "$done_txns" && "$done_txns" -gt 0 ]]; then
    cpu[$target,$proto,$n]+="$(awk -v a="$c0" -v b="$c1" -v hz="$clk_tck" -v n="$done_txns" 'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }') "
  fi
  printf '  %-9s %-8s c=%-2s round %s: %10.1f tps %8.3f ms\n' "$target" "$proto" "$n" "$r" "$t" "$l"
}

median() { # values...: prints the median, or nothing for no values
  [[ $# -gt 0 ]] || return 0
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

nt=${#targets[@]}
for proto in "${protocols[@]}"; do
  for n in "${clients_list[@]}"; do
    for ((r = 1; r <= rounds; r++)); do
      for ((k = 0; k < nt; k++)); do
        run_one "${targets[$(((r - 1 + k) % nt))]}" "$proto" "$n" "$r"
      done
    done
  done
done

# --- results ------------------------------------------------------------------------------------
fmt() { # printf-format value: "-" when empty
  if [[ -z "$2" ]]; then echo "-"; else LC_ALL=C printf "$1" "$2"; fi
}
ratio() {
  if [[ -z "$1" || -z "$2" ]]; then echo "-"; else awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; fi
}

cols=(protocol clients "direct tps" "direct ms" "pgbouncer tps" "pgbouncer ms" "pgask tps" "pgask ms" "pgask/direct" "pgask/pgbouncer" "pgbouncer cpu µs/tx" "pgask cpu µs/tx")
have_floor=0
[[ " ${targets[*]} " == *" floor "* ]] && have_floor=1 && cols+=("floor tps" "floor/direct" "floor/pgbouncer" "floor cpu µs/tx")
rows=()
for proto in "${protocols[@]}"; do
  for n in "${clients_list[@]}"; do
    declare -A mt=() ml=() mc=()
    for target in direct pgbouncer pgask floor; do
      # shellcheck disable=SC2086
      mc[$target]="$(median ${cpu[$target,$proto,$n]:-})"
      # shellcheck disable=SC2086 # word-splitting the value lists is intended
      mt[$target]="$(median ${tps[$target,$proto,$n]:-})"
      # shellcheck disable=SC2086
      ml[$target]="$(median ${lat[$target,$proto,$n]:-})"
    done
    rows+=("$proto|$n|$(fmt %.0f "${mt[direct]}")|$(fmt %.3f "${ml[direct]}")|$(fmt %.0f "${mt[pgbouncer]}")|$(fmt %.3f "${ml[pgbouncer]}")|$(fmt %.0f "${mt[pgask]}")|$(fmt %.3f "${ml[pgask]}")|$(ratio "${mt[pgask]}" "${mt[direct]}")|$(ratio "${mt[pgask]}" "${mt[pgbouncer]}")|$(fmt %.1f "${mc[pgbouncer]}")|$(fmt %.1f "${mc[pgask]}")")
    if [[ $have_floor == 1 ]]; then
      rows[-1]+="|$(fmt %.0f "${mt[floor]}")|$(ratio "${mt[floor]}" "${mt[direct]}")|$(ratio "${mt[floor]}" "${mt[pgbouncer]}")|$(fmt %.1f "${mc[floor]}")"
    fi
    unset mt ml mc
  done
done

echo
echo "median TPS, average latency (ms) and the proxies' CPU time per transaction (µs, user + system) of $rounds round(s) x ${secs}s, pgbench -S:"
{
  IFS='|'; echo "${cols[*]}"; IFS=' '
  printf '%s\n' "${rows[@]}"
} | awk -F'|' '
  { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } ; nf = NF; nr = NR }
  END {
    for (r = 1; r <= nr; r++) {
      line = ""
      for (i = 1; i <= nf; i++) line = line sprintf(i <= 2 ? "%-*s  " : "%*s  ", w[i], c[r, i])
      sub(/ +$/, "", line); print line
    }
  }'

if [[ -n "${OUT:-}" ]]; then
  {
    echo "### Passthrough overhead (pgbench -S)"
    echo
    for h in "${header[@]}"; do
      key="${h%%:*}" val="${h#*:}"
      val="${val#"${val%%[![:space:]]*}"}"
      if [[ $key == command ]]; then echo "- $key: \`$val\`"; else echo "- $key: $val"; fi
    done
    echo
    echo "Median TPS, average latency (ms) and each proxy's own CPU time per transaction (µs, user + system, from /proc/PID/stat) of $rounds round(s) of ${secs}s; ratios compare TPS."
    echo
    echo "| $(IFS='|'; echo "${cols[*]}" | sed 's/|/ | /g') |"
    printf '|'; for c in "${cols[@]}"; do if [[ $c == protocol ]]; then printf ' --- |'; else printf ' ---: |'; fi; done; echo
    for row in "${rows[@]}"; do echo "| ${row//|/ | } |"; done
  } >"$OUT"
  echo
  echo "markdown written to $OUT"
fi

echo
echo "done in $((SECONDS - t_start)) s"
if [[ $failures -gt 0 ]]; then
  die "$failures pgbench run(s) failed"
fi
