#!/usr/bin/env bash
# Load test of the hot path: a logged-in user's proxied request. In one run,
# interleaved and repeated, wrk measures requests/s, p50/p99 latency and the
# servers' CPU time per request for:
#   upstream            the stand-in CRM (bench/upstream) on its own
#   bareproxy           a bare httputil.ReverseProxy tuned like Gatehouse (the limit)
#   gatehouse-memory    Gatehouse, valid session, memory store (access log on, the default, to a file)
#   gatehouse-memory-quiet  the same with log.access: false (the access log's cost is the
#                           difference; it is smaller than round-to-round noise here, so
#                           run BENCH_ROUNDS=7 or more, and see BenchmarkAccessLogWrite in proxy/)
#   gatehouse-memory-rules  the same with 500 access route rules (one of them matches the request)
#   gatehouse-redis     Gatehouse, valid session, Redis store (default cache_ttl: 30s, kept coherent by the invalidation channel)
#   gatehouse-redis-nocache  the same with cache_ttl: 0s (every request reads Redis)
#   gatehouse-apikey-redis   Gatehouse, an API key (X-API-Key) instead of a session, Redis store
#                            (per-key rate limit on, set high enough not to refuse the load)
#   gatehouse-dpop-redis     the mobile app: a DPoP-bound access token and a fresh proof per
#                            request (signature check + jti single use in Redis); proofs are
#                            signed before each run by bench/dpopclient and sent by bench/dpop.lua
#   gatehouse-bearer-redis   the mobile app under mobile.dpop: refresh_only (bearer access token)
# wrk runs on CPU 0, every server on CPU 1 (taskset), all on 127.0.0.1.
# Redis is the machine's shared server and is not pinned; its CPU is shown apart.
#
# Settings (environment): BENCH_DURATION (10s), BENCH_ROUNDS (3),
# BENCH_CONNS (32), BENCH_TARGETS (all ten), GATEHOUSE_TEST_REDIS_ADDR
# (127.0.0.1:6379), BENCH_PROFILE (a folder: the first round of each
# target is recorded there with `perf record -g`, which skews that round;
# read with `perf report -i DIR/TARGET.perf`). The table goes to stdout
# and bench/results-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-32}
targets=(${BENCH_TARGETS:-upstream bareproxy gatehouse-memory gatehouse-memory-quiet gatehouse-memory-rules gatehouse-redis gatehouse-redis-nocache gatehouse-apikey-redis gatehouse-dpop-redis gatehouse-bearer-redis})
redis_addr=${GATEHOUSE_TEST_REDIS_ADDR:-127.0.0.1:6379}
redis_host=${redis_addr%:*} redis_port=${redis_addr##*:}
results=bench/results-$(date +%Y%m%d-%H%M%S).txt

for c in wrk curl taskset redis-cli go; do
  command -v "$c" >/dev/null || { echo "load.sh: $c not found (make services installs it)" >&2; exit 1; }
done

work=$(mktemp -d)
prefix="gatehouse:bench:$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n'):"
declare -A pid url
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  redis-cli -h "$redis_host" -p "$redis_port" --scan --pattern "${prefix}*" 2>/dev/null |
    xargs -r -n 100 redis-cli -h "$redis_host" -p "$redis_port" del >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_cpus=1 client_cpus=0
if [ "$(nproc --all)" -lt 2 ]; then
  echo "load.sh: fewer than 2 CPUs; running unpinned" >&2
  server_cpus=0 client_cpus=0
fi

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# start NAME ADDR CMD...: run a server pinned to the server CPU.
start() {
  local name=$1 addr=$2
  shift 2
  taskset -c "$server_cpus" "$@" >"$work/$name.log" 2>&1 &
  pid[$name]=$!
  url[$name]="http://$addr/"
}

# wait_http URL: until it answers at all (any status), at most 30s.
wait_http() {
  for _ in $(seq 300); do
    curl -s -o /dev/null "$1" && return
    sleep 0.1
  done
  echo "load.sh: $1 did not come up" >&2
  exit 1
}

echo "building into $work ..." >&2
go build -o "$work/gatehouse" ./cmd/gatehouse
go build -o "$work/upstream" ./bench/upstream
go build -o "$work/bareproxy" ./bench/bareproxy
go build -o "$work/dpopclient" ./bench/dpopclient

up_addr=127.0.0.1:$(free_port)
start upstream "$up_addr" "$work/upstream" -listen "$up_addr"
wait_http "http://$up_addr/"
bp_addr=127.0.0.1:$(free_port)
start bareproxy "$bp_addr" "$work/bareproxy" -listen "$bp_addr" -upstream "http://$up_addr"
wait_http "http://$bp_addr/"

bench_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$bench_pw" >"$work/bench.pw"
declare -A cookie

# gatehouse NAME SESSION_YAML: configure, add a user, start, log in.
gatehouse() {
  local name=$1 session_yaml=$2 addr cfg
  addr=127.0.0.1:$(free_port)
  cfg=$work/$name.yaml
  mkdir -p -m 700 "$work/$name" # the directory refuses a folder others may enter
  cat >"$cfg" <<EOF
listen: $addr
public_url: http://$addr
upstream: http://$up_addr
directory:
  driver: sqlite
  dsn: $work/$name/gatehouse.db
shutdown: {drain_delay: 0s}
$session_yaml
EOF
  printf '%s\n' "$bench_pw" | env -u GATEHOUSE_CONFIG "$work/gatehouse" user add --username bench \
    --email bench@example.test --role sales --password-stdin --config "$cfg" >"$work/$name-useradd.log" 2>&1 ||
    { echo "load.sh: gatehouse user add failed:" >&2; cat "$work/$name-useradd.log" >&2; exit 1; }
  start "$name" "$addr" env -u GATEHOUSE_CONFIG "$work/gatehouse" serve --config "$cfg"
  wait_http "http://$addr/.gatehouse/healthz"
  cookie[$name]=$(curl -sS -o /dev/null -D - --data-urlencode username=bench --data-urlencode "password=$bench_pw" \
    --data-urlencode rd=/ "http://$addr/.gatehouse/login" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(gatehouse=[^;]*\);.*/\1/p' | head -n1)
  [ -n "${cookie[$name]}" ] || { echo "load.sh: login to $name failed; see its log:" >&2; cat "$work/$name.log" >&2; exit 1; }
  case $name in
    *apikey*)
      key=$(env -u GATEHOUSE_CONFIG "$work/gatehouse" apikey create --user bench --config "$cfg" 2>"$work/$name-apikey.log") ||
        { echo "load.sh: apikey create failed:" >&2; cat "$work/$name-apikey.log" >&2; exit 1; }
      header[$name]="X-API-Key: $key" ;;
    *dpop* | *bearer*)
      mkdir -p "$work/$name-device"
      "$work/dpopclient" login -gateway "http://$addr" -user bench -password-file "$work/bench.pw" -dir "$work/$name-device" ||
        { echo "load.sh: mobile login to $name failed; see its log:" >&2; cat "$work/$name.log" >&2; exit 1; }
      if [ "$(cat "$work/$name-device/token_type")" = Bearer ]; then
        header[$name]="Authorization: Bearer $(cat "$work/$name-device/access")"
      else
        dpop[$name]=$work/$name-device
      fi ;;
  esac
}
declare -A header dpop

# proofs TARGET N: sign N fresh proofs for the DPoP target's next run.
proofs() {
  "$work/dpopclient" proofs -dir "${dpop[$1]}" -url "${url[$1]}" -n "$2" -out "${dpop[$1]}/proofs"
}
# wrk_for TARGET: wrk's arguments for the target's credential.
wrk_args() {
  if [ -n "${dpop[$1]:-}" ]; then
    echo "-s bench/dpop.lua ${url[$1]} ${dpop[$1]}/proofs $(cat "${dpop[$1]}/access")"
  else
    echo "${url[$1]}"
  fi
}
mobile_yaml=$'\nmobile:\n  clients: [{id: bench-mobile, redirect_uris: ["com.example.bench:/cb"]}]'

redis_session="session:
  store: redis
  redis:
    addrs: [$redis_addr]
    key_prefix: \"$prefix\""
# 500 route rules as a CRM would have them: literal, {id} and subtree
# patterns over many prefixes; the request wrk sends (GET /) matches the
# last one, which the sales template grants.
access_rules=$'policy:\n  access:\n    routes:'
features=(leads.view leads.create leads.update leads.delete leads.import leads.export reports dashboards)
for i in $(seq 0 165); do
  f=${features[$((i % ${#features[@]}))]}
  access_rules+=$'\n'"      - {route: \"GET /m$i/items/{id}\", feature: $f}"
  access_rules+=$'\n'"      - {route: \"POST /m$i/items/new\", feature: $f}"
  access_rules+=$'\n'"      - {route: \"/m$i/export/\", feature: leads.export}"
done
access_rules+=$'\n'"      - {route: \"GET /admin/settings\", feature: admin}"
access_rules+=$'\n'"      - {route: \"GET /{\$}\", feature: leads.view}"

for t in "${targets[@]}"; do
  case $t in
    upstream | bareproxy) ;;
    gatehouse-memory) gatehouse "$t" $'session:\n  store: memory' ;;
    gatehouse-memory-quiet) gatehouse "$t" $'session:\n  store: memory\nlog:\n  access: false' ;;
    gatehouse-memory-rules) gatehouse "$t" $'session:\n  store: memory\n'"$access_rules" ;;
    gatehouse-redis) gatehouse "$t" "$redis_session" ;;
    gatehouse-redis-nocache) gatehouse "$t" "$redis_session"$'\n  cache_ttl: 0s' ;;
    gatehouse-apikey-redis) gatehouse "$t" "$redis_session"$'\npolicy:\n  api_keys: {rate_limit: {requests: 100000000, window: 1h}}' ;;
    gatehouse-dpop-redis) gatehouse "$t" "$redis_session$mobile_yaml"$'\npolicy:\n  mobile: {access_token_ttl: 1h}' ;;
    gatehouse-bearer-redis) gatehouse "$t" "$redis_session$mobile_yaml"$'\npolicy:\n  mobile: {access_token_ttl: 1h, dpop: refresh_only}' ;;
    *) echo "load.sh: unknown target $t" >&2; exit 2 ;;
  esac
done
# Every target gets the same request bytes: the upstream and the bare
# proxy receive the memory target's cookie and ignore it.
any_cookie=${cookie[gatehouse-memory]:-gatehouse=none}
cookie_for() { echo "${cookie[$1]:-$any_cookie}"; }
# header_for TARGET: the credential header wrk sends (the API-key target
# sends its key instead of a cookie).
header_for() {
  if [ -n "${dpop[$1]:-}" ]; then
    echo "X-Bench: dpop" # no cookie: the session would answer before the token is read
  elif [ -n "${header[$1]:-}" ]; then echo "${header[$1]}"; else echo "Cookie: $(cookie_for "$1")"; fi
}

# check TARGET: the request wrk will send must reach the upstream's page.
check() {
  local body
  if [ -n "${dpop[$1]:-}" ]; then
    proofs "$1" 1
    body=$(curl -sS -H "Authorization: DPoP $(cat "${dpop[$1]}/access")" -H "DPoP: $(cat "${dpop[$1]}/proofs")" "${url[$1]}")
  else
    body=$(curl -sS -H "$(header_for "$1")" "${url[$1]}")
  fi
  case $body in
    *"<title>crm</title>"*) ;;
    *) echo "load.sh: $1 does not serve the upstream page to the bench session: ${body:0:200}" >&2; exit 1 ;;
  esac
}

ticks=$(getconf CLK_TCK)
redis_pid=$(redis-cli -h "$redis_host" -p "$redis_port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
[ -n "$redis_pid" ] && [ -r "/proc/$redis_pid/stat" ] || redis_pid=

# cpu PID: user+system clock ticks so far (fields 14 and 15 of stat).
cpu() {
  [ -n "$1" ] || { echo 0; return; }
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# redis_cmds: commands the Redis server has processed so far (all clients).
redis_cmds() {
  redis-cli -h "$redis_host" -p "$redis_port" info stats 2>/dev/null | tr -d '\r' | sed -n 's/^total_commands_processed://p'
}

# to_us "1.23ms": a wrk duration in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : 0
    printf "%.0f", n * f }'
}

# run ROUND TARGET: one wrk run, one line of raw results.
run() {
  local t=$1 round=$2 out s0 u0 r0 c0 s1 u1 r1 c1 reqs rps p50 p99 bad
  local server=${pid[$t]}
  local perf_pid=
  if [ -n "${BENCH_PROFILE:-}" ] && [ "$round" = 1 ]; then
    mkdir -p "$BENCH_PROFILE"
    perf record -q -F 499 -g -p "$server" -o "$BENCH_PROFILE/$t.perf" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  # A proof per request: more than the fastest target could send.
  [ -n "${dpop[$t]:-}" ] && proofs "$t" "$(( ${duration%s} * 15000 ))"
  s0=$(cpu "$server") u0=$(cpu "${pid[upstream]}") r0=$(cpu "$redis_pid") c0=$(redis_cmds)
  # shellcheck disable=SC2046 # wrk_args is split on purpose
  out=$(timeout 120 taskset -c "$client_cpus" wrk -t1 -c"$conns" -d"$duration" --latency \
    -H "$(header_for "$t")" $(wrk_args "$t"))
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  s1=$(cpu "$server") u1=$(cpu "${pid[upstream]}") r1=$(cpu "$redis_pid") c1=$(redis_cmds)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  bad=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  # Redis CPU is charged only to the Redis targets; elsewhere it is idle noise.
  case $t in *redis*) ;; *) r1=$r0 c1=$c0 ;; esac
  awk -v round="$round" -v t="$t" -v reqs="$reqs" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v bad="$bad" \
    -v s="$((s1 - s0))" -v u="$((u1 - u0))" -v r="$((r1 - r0))" -v c="$((${c1:-0} - ${c0:-0}))" -v hz="$ticks" -v self="$([ "$t" = upstream ] && echo 1 || echo 0)" \
    'BEGIN { k = 1e6 / hz / reqs
      printf "%s %s %d %d %d %d %d %.1f %.1f %.1f %.4f\n", round, t, reqs, rps, p50, p99, bad, s * k, (self ? 0 : u * k), r * k, c / reqs }'
}

for t in "${targets[@]}"; do check "$t"; done
echo "warming up (2s per target) ..." >&2
for t in "${targets[@]}"; do
  [ -n "${dpop[$t]:-}" ] && proofs "$t" 30000
  # shellcheck disable=SC2046
  timeout 30 taskset -c "$client_cpus" wrk -t1 -c"$conns" -d2s -H "$(header_for "$t")" $(wrk_args "$t") >/dev/null
done

raw=$work/raw.txt
n=$(( rounds * ${#targets[@]} ))
i=0
for round in $(seq "$rounds"); do
  for t in "${targets[@]}"; do
    i=$((i + 1))
    echo "run $i/$n: round $round $t ($duration)" >&2
    run "$t" "$round" | tee -a "$raw" >&2
  done
done
for t in "${targets[@]}"; do check "$t"; done

{
  echo "Gatehouse load test, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n), $(nproc --all) CPUs, $(go env GOVERSION)"
  echo "wrk -t1 -c$conns -d$duration --latency on CPU $client_cpus; servers on CPU $server_cpus; loopback; $rounds rounds interleaved; 1 KiB response"
  echo "median of the rounds; cpu = µs of CPU time per request (server = the target process; upstream and redis apart);"
  echo "redis cmd = Redis commands per request (server-wide counter); x bare, p99 x = against bareproxy"
  echo
  awk -v order="${targets[*]}" '
    function median(s,   a, n, i, j, x) {
      n = split(s, a, " ")
      for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j > 0 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { rps[$2] = rps[$2] " " $4; p50[$2] = p50[$2] " " $5; p99[$2] = p99[$2] " " $6; bad[$2] += $7
      cs[$2] = cs[$2] " " $8; cu[$2] = cu[$2] " " $9; cr[$2] = cr[$2] " " $10; cc[$2] = cc[$2] " " $11; all[$2] = all[$2] " " $4 }
    END {
      printf "%-24s %8s %7s %7s %6s %10s %9s %9s %9s %6s %6s  %s\n", "target", "req/s", "p50 µs", "p99 µs", "errors",
        "cpu server", "cpu upstr", "cpu redis", "redis cmd", "x bare", "p99 x", "req/s per round"
      nb = split(order, ts, " ")
      brps = median(rps["bareproxy"]); bp99 = median(p99["bareproxy"])
      for (k = 1; k <= nb; k++) {
        t = ts[k]
        r = median(rps[t]); q = median(p99[t])
        printf "%-24s %8d %7d %7d %6d %10.1f %9.1f %9.1f %9.4f %6s %6s %s\n", t, r, median(p50[t]), q, bad[t],
          median(cs[t]), median(cu[t]), median(cr[t]), median(cc[t]),
          (brps ? sprintf("%.2f", r / brps) : "-"), (bp99 ? sprintf("%.2f", q / bp99) : "-"), all[t]
      }
    }' "$raw"
  echo
  echo "raw: round target requests req/s p50_us p99_us errors cpu_server_us cpu_upstream_us cpu_redis_us redis_cmds_per_req"
  cat "$raw"
} | tee "$results"
echo "written to $results" >&2
if awk '$7 > 0 {bad = 1} END {exit !bad}' "$raw"; then
  echo "load.sh: some requests failed (errors column); the figures are not valid" >&2
  exit 1
fi
