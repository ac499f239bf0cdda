#!/usr/bin/env bash
# Load benchmark of the hookgate gateway; see bench/README.md.
#
# Builds hookgate and the load generator, starts on free loopback ports one
# upstream, one redis-server and one Caddy process per configuration:
#
#   (a) the upstream directly          (b) Caddy reverse_proxy alone
#   (c) hookgate: verify + memory dedup (d) hookgate: verify + Redis dedup
#   (e) (d) + schema validation + rate limit (set high)
#   (f) (c) delivering with `deliver` async, embedded store (durable
#       delivery, issue 15): the generator then waits until the backlog
#       is delivered, and measures the run with its delivery included
#   (g) (c) delivering with `deliver` on_failure, embedded store, healthy app
#   (i) (f) with `store redis` and Redis dedup: the store several
#       gateways share (durable delivery, issue 15)
#   (j) (f) with three deliver blocks, each with a CEL filter on the
#       payload; one of the three matches every event (routing by
#       content, issue 17): held to (f), one destination, same run
#   (h) drain: a gateway records DRAIN_EVENTS 1 KiB events with the app
#       down, stops; the app comes up; the gateway starts again on the
#       same store and delivers the backlog; its rate (once per
#       repetition, beside (b)'s 1 KiB run at the highest connection
#       count) and the store's bytes per event
#
# then runs the generator against each, REPS times, interleaved, for each
# body size and connection count, and writes bench/out/results.md.
#
# Settings (environment):
#   REPS=3  DURATION=6s  WARMUP=1s  SIZES="1024 65536"  CONNS="64 8"
#   TARGETS="a b c d e f g h i j"  PIN=1 (taskset: gateway on CPU 0, the rest on CPU 1)
#   G_RECORD_WITHIN= ((g)'s record_within: a duration, or before for strict
#              record-first; empty: the default, 100ms)
#   DRAIN_EVENTS=50000 (the backlog of (h))  DRAIN_CONCURRENCY= (its deliver
#              block's concurrency while draining; empty: the default, 16)
#   REDIS_POOL=128 (go-redis pool of (d) and (e))
#   MAX_IN_FLIGHT= (redis max_in_flight of (d) and (e): a number, or off;
#              empty: the module's default)
#   HOLD=1 (start everything, print the ports, and wait: for manual pprof)
#   PROFILE=d (CPU-profile that target's gateway for 5 s of its first
#              1 KiB run at the highest connection count; for h, 5 s of the
#              first drain; pprof in bench/out)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench/out}
REPS=${REPS:-3}
DURATION=${DURATION:-6s}
WARMUP=${WARMUP:-1s}
SIZES=${SIZES:-"1024 65536"}
CONNS=${CONNS:-"64 8"}
TARGETS=${TARGETS:-"a b c d e f g h i j"}
DRAIN_EVENTS=${DRAIN_EVENTS:-50000}
DRAIN_CONCURRENCY=${DRAIN_CONCURRENCY:-}
PIN=${PIN:-1}
REDIS_POOL=${REDIS_POOL:-128}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-}
INFLIGHT_LINE=""
if [ -n "$MAX_IN_FLIGHT" ]; then INFLIGHT_LINE="max_in_flight $MAX_IN_FLIGHT"; fi
PROFILE=${PROFILE:-}

command -v redis-server >/dev/null || { echo "redis-server not found" >&2; exit 1; }
mkdir -p "$OUT/logs" "$OUT/conf"
rm -f "$OUT/results.jsonl" "$OUT/record.jsonl"
# The embedded delivery stores of (f), (g) and (h): fresh for each run.
STORES=$OUT/stores
rm -rf "$STORES"
mkdir -p "$STORES"

echo "building hookgate and loadgen"
go build -o "$OUT/hookgate" ./cmd/hookgate
go build -o "$OUT/loadgen" ./bench/loadgen
LOADGEN=$OUT/loadgen

# CPU layout: the gateway under test gets CPU 0 to itself; the generator,
# the upstream and Redis share CPU 1. Without taskset (or with PIN=0)
# everything shares every CPU.
GW_CPU=() REST_CPU=() layout="unpinned: every process on every CPU"
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	GW_CPU=(taskset -c 0) REST_CPU=(taskset -c 1)
	layout="pinned: gateway (Caddy) on CPU 0; load generator, upstream and redis-server on CPU 1"
fi

PIDS=()
cleanup() {
	for pid in "${PIDS[@]}" $(jobs -p); do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mapfile -t P < <("$LOADGEN" ports 21)
UP=${P[0]} REDIS=${P[1]} DRAIN_UP=${P[16]}
declare -A PORT=([a]=${P[0]} [b]=${P[2]} [c]=${P[3]} [d]=${P[4]} [e]=${P[5]} [f]=${P[10]} [g]=${P[11]} [h]=${P[12]} [i]=${P[17]} [j]=${P[18]})
declare -A ADMIN=([b]=${P[6]} [c]=${P[7]} [d]=${P[8]} [e]=${P[9]} [f]=${P[13]} [g]=${P[14]} [h]=${P[15]} [i]=${P[19]} [j]=${P[20]})

wait_port() { # port name
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "$2 did not listen on port $1; see $OUT/logs" >&2
	exit 1
}

"${REST_CPU[@]}" "$LOADGEN" upstream -addr "127.0.0.1:$UP" >"$OUT/logs/upstream.log" 2>&1 &
PIDS+=($!)
declare -A GWPID=([a]=$!)
"${REST_CPU[@]}" redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --appendonly no \
	--protected-mode no --daemonize no --loglevel warning >"$OUT/logs/redis.log" 2>&1 &
PIDS+=($!)
REDIS_PID=$!
wait_port "$UP" upstream
wait_port "$REDIS" redis-server

SECRET=$("$LOADGEN" secret)
SCHEMAS=$PWD/bench/schemas
REDIS_DEDUP="dedup redis
		redis redis://127.0.0.1:$REDIS/0 {
			pool_size $REDIS_POOL
			$INFLIGHT_LINE
		}"
# deliver_verify mode store-dir [url] [extra]: (c)'s webhook_verify with a
# deliver block in place of the reverse_proxy (the block delivers itself).
# Its other settings are the defaults (concurrency 16, backoff 1s 1h, ...).
deliver_verify() {
	cat <<EOF
webhook_verify standard {
		source bench
		secret $SECRET
		dedup memory
		deliver ${3:-http://127.0.0.1:$UP/} {
			mode $1
			store embedded $2
			${4:-}
		}
	}
EOF
}
PROXY="reverse_proxy 127.0.0.1:$UP {
		transport http {
			keepalive_idle_conns 512
			keepalive_idle_conns_per_host 512
		}
	}"
declare -A VERIFY=(
	[b]=""
	[c]="webhook_verify standard {
		source bench
		secret $SECRET
		dedup memory
	}"
	[d]="webhook_verify standard {
		source bench
		secret $SECRET
		$REDIS_DEDUP
	}"
	[e]="webhook_verify standard {
		source bench
		secret $SECRET
		$REDIS_DEDUP
		schemas $SCHEMAS {
			reject_unknown
		}
		rate_limit 10000000/s burst 10000000
	}"
	[f]="$(deliver_verify async "$STORES/f")"
	[g]="$(deliver_verify on_failure "$STORES/g" "" "${G_RECORD_WITHIN:+record_within $G_RECORD_WITHIN}")"
	[i]="webhook_verify standard {
		source bench
		secret $SECRET
		$REDIS_DEDUP
		deliver http://127.0.0.1:$UP/ {
			mode async
			store redis
		}
	}"
	[j]="webhook_verify standard {
		source bench
		secret $SECRET
		dedup memory
		deliver http://127.0.0.1:$UP/ {
			mode async
			store embedded $STORES/j
			filter \"payload.data.currency == 'USD'\"
		}
		deliver http://127.0.0.1:$UP/ {
			mode async
			store embedded $STORES/j
			filter \"payload.type.startsWith('refund.')\"
		}
		deliver http://127.0.0.1:$UP/ {
			mode async
			store embedded $STORES/j
			filter \"payload.data.amount >= 10000\"
		}
	}"
)
declare -A HANDLER=([b]=$PROXY [c]=$PROXY [d]=$PROXY [e]=$PROXY [f]="" [g]="" [i]="" [j]="")

# write_conf target site-port admin-port verify handler: a gateway's
# Caddyfile, in $OUT/conf/<target>.Caddyfile.
write_conf() {
	cat >"$OUT/conf/$1.Caddyfile" <<EOF
{
	admin 127.0.0.1:$3
	auto_https off
	persist_config off
	log {
		level WARN
	}
}
http://127.0.0.1:$2 {
	bind 127.0.0.1
	$4
	$5
}
EOF
}

# start_gateway name config: starts a gateway on CPU 0; its pid in GW.
start_gateway() {
	"${GW_CPU[@]}" "$OUT/hookgate" run --config "$2" --adapter caddyfile >>"$OUT/logs/caddy-$1.log" 2>&1 &
	GW=$!
	PIDS+=("$GW")
}

for t in b c d e f g i j; do
	case " $TARGETS " in *" $t "*) ;; *) continue ;; esac
	# The upstream keep-alive pool is raised above the highest connection
	# count: Caddy's default keeps 32 idle connections per host and would
	# churn connections at 64 clients.
	write_conf "$t" "${PORT[$t]}" "${ADMIN[$t]}" "${VERIFY[$t]}" "${HANDLER[$t]}"
	start_gateway "$t" "$OUT/conf/$t.Caddyfile"
	GWPID[$t]=$GW
	wait_port "${PORT[$t]}" "gateway ($t)"
done

# drain_run rep conns: (h). A gateway records DRAIN_EVENTS events for an
# app that is down (its deliveries held back by `rate 1/s`, so that the
# app being down costs nothing while recording), and stops; the app
# comes up; the gateway starts again on the same store without the rate
# limit, and loadgen drain measures from its first delivery to its last.
drain_run() {
	local rep=$1 conns=$2 dir=$STORES/h-$1 gw app sizes rec_rps
	rm -rf "$dir"
	write_conf h "${PORT[h]}" "${ADMIN[h]}" \
		"$(deliver_verify async "$dir" "http://127.0.0.1:$DRAIN_UP/" "rate 1/s")" ""
	start_gateway h "$OUT/conf/h.Caddyfile"
	gw=$GW
	wait_port "${PORT[h]}" "gateway (h, recording)"
	"${REST_CPU[@]}" "$LOADGEN" run -target h-record -url "http://127.0.0.1:${PORT[h]}/" -conns "$conns" -size 1024 \
		-warmup 0s -duration 10m -max "$DRAIN_EVENTS" -secret "$SECRET" -rep "$rep" -out "$OUT/record.jsonl" \
		-cpu "gateway=$gw" | sed 's/^/recording with the app down: /'
	kill "$gw"
	wait "$gw" 2>/dev/null || true
	rec_rps=$(tail -n 1 "$OUT/record.jsonl" | grep -o '"rps":[0-9.e+]*' | cut -d: -f2)
	sizes=$("$LOADGEN" storesize -store "$dir/deliveries.db")
	"${REST_CPU[@]}" "$LOADGEN" upstream -addr "127.0.0.1:$DRAIN_UP" >"$OUT/logs/drain-app.log" 2>&1 &
	app=$!
	PIDS+=("$app")
	wait_port "$DRAIN_UP" "app (h)"
	write_conf h "${PORT[h]}" "${ADMIN[h]}" \
		"$(deliver_verify async "$dir" "http://127.0.0.1:$DRAIN_UP/" "${DRAIN_CONCURRENCY:+concurrency $DRAIN_CONCURRENCY}")" ""
	start_gateway h "$OUT/conf/h.Caddyfile"
	gw=$GW
	if [ "$PROFILE" = h ] && [ -z "$profiled" ]; then
		profiled=1
		(sleep 1; curl -s -o "$OUT/h.cpu.pprof" "http://127.0.0.1:${ADMIN[h]}/debug/pprof/profile?seconds=5") &
		PROF_PID=$!
	fi
	"${REST_CPU[@]}" "$LOADGEN" drain -admin "127.0.0.1:${ADMIN[h]}" -want "$DRAIN_EVENTS" -pid "$gw" \
		-target h -size 1024 -conns "$conns" -rep "$rep" -disk-bytes "${sizes% *}" -disk-used "${sizes#* }" \
		-record-rps "${rec_rps:-0}" -out "$OUT/results.jsonl" | sed 's/^/drain: /'
	if [ -n "$PROF_PID" ]; then wait "$PROF_PID" || true; fi
	kill "$gw" "$app"
	wait "$gw" "$app" 2>/dev/null || true
	rm -rf "$dir"
}

max_for() { # size target: requests to sign per run, above what the target can send
	if [ "$1" -le 4096 ]; then echo 400000
	elif [ "$2" = a ]; then echo 150000
	else echo 60000; fi
}

redis_calls() {
	redis-cli -p "$REDIS" info commandstats | tr -d '\r' | grep -E '^cmdstat_' || true
	echo "keys (one per webhook deduplicated through Redis): $(redis-cli -p "$REDIS" dbsize)"
}

echo "layout: $layout"
if [ "${HOLD:-0}" = 1 ]; then
	for t in $TARGETS; do
		[ "$t" = h ] && continue # (h) runs only inside a repetition
		echo "($t) http://127.0.0.1:${PORT[$t]}/  admin: ${ADMIN[$t]:-none}"
	done
	echo "redis: 127.0.0.1:$REDIS  secret: $SECRET  loadgen: $LOADGEN"
	echo "holding; Ctrl-C (or kill $$) stops everything"
	while :; do
		sleep 3600 &
		wait $! || break
	done
	exit 0
fi
echo "targets: $TARGETS; sizes: $SIZES; connections: $CONNS; $REPS × ($WARMUP warm-up + $DURATION)"
profiled="" PROF_PID=""
MAX_CONNS=$(printf '%s\n' $CONNS | sort -n | tail -1)
for rep in $(seq 1 "$REPS"); do
	for size in $SIZES; do
		for conns in $CONNS; do
			# Rotate the order each repetition, so that no target always
			# runs first (or last) when the machine's speed drifts.
			read -ra ts <<<"$TARGETS"
			k=$(((rep - 1) % ${#ts[@]}))
			for t in "${ts[@]:k}" "${ts[@]:0:k}"; do
				if [ "$t" = h ]; then
					# Once per repetition, among (b)'s 1 KiB runs at the
					# highest connection count, whose rate it is held to.
					if [ "$size" = 1024 ] && [ "$conns" = "$MAX_CONNS" ]; then drain_run "$rep" "$conns"; fi
					continue
				fi
				settle=()
				case $t in f | g | i | j) settle=(-settle "127.0.0.1:${ADMIN[$t]}") ;; esac
				if [ -n "$PROFILE" ] && [ "$t" = "$PROFILE" ] && [ -z "$profiled" ] && [ "$size" = 1024 ]; then
					profiled=1
					(sleep 1.5; curl -s -o "$OUT/$t.cpu.pprof" "http://127.0.0.1:${ADMIN[$t]}/debug/pprof/profile?seconds=5") &
					PROF_PID=$!
				fi
				"${REST_CPU[@]}" "$LOADGEN" run -target "$t" -url "http://127.0.0.1:${PORT[$t]}/" \
					-conns "$conns" -size "$size" -warmup "$WARMUP" -duration "$DURATION" \
					-max "$(max_for "$size" "$t")" -secret "$SECRET" -rep "$rep" -out "$OUT/results.jsonl" \
					-cpu "gateway=${GWPID[$t]},redis=$REDIS_PID" "${settle[@]}"
			done
		done
	done
done
if [ -n "$PROF_PID" ]; then wait "$PROF_PID" || true; fi

{
	echo "# hookgate load benchmark"
	echo
	echo "- when: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes')"
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(go version | cut -d' ' -f3)"
	echo "- layout: $layout"
	echo "- load: bench/loadgen, one request in flight per connection, every request signed (Standard Webhooks) with a fresh event id; $WARMUP warm-up then $DURATION measured; medians of $REPS interleaved repetitions, the order of targets rotated each repetition"
	echo "- ×(b): median over repetitions of req/s ÷ (b)'s req/s in the same repetition; p50 −(b): likewise for the median latency"
	echo "- gateway CPU µs/req: user+system CPU of the gateway process (for (a): the upstream) per request, warm-up included, from /proc; ×(b) by CPU: (b)'s ÷ this one's, the throughput ratio on a dedicated core. Redis CPU: redis-server's, per request"
	echo "- gateways: Caddy with upstream keep-alive pool 512; (d) and (e): Redis pool_size $REDIS_POOL, max_in_flight ${MAX_IN_FLIGHT:-default}; (e): schema bench/schemas, rate_limit 10000000/s"
	echo "- (f), (g), (h): \`deliver\` with \`store embedded\` in $STORES (its file system: $(df -T "$STORES" | awk 'NR==2 {print $2}')), every other setting at its default (concurrency 16); (i): \`store redis\` and \`dedup redis\` on the run's Redis (appendonly no: the store's durability is Redis' setting, not measured here); (j): three filtered destinations, one matching each event; (h): a backlog of $DRAIN_EVENTS events, once per repetition, drained at concurrency ${DRAIN_CONCURRENCY:-16}"
	echo
	"$LOADGEN" table -in "$OUT/results.jsonl"
	echo "### Redis commands over the whole run"
	echo
	echo '```'
	redis_calls
	echo '```'
} >"$OUT/results.md"

if [ -n "$PROFILE" ] && [ -s "$OUT/$PROFILE.cpu.pprof" ]; then
	go tool pprof -top -nodecount=40 "$OUT/hookgate" "$OUT/$PROFILE.cpu.pprof" >"$OUT/$PROFILE.cpu.top.txt" 2>/dev/null || true
	echo "profile: $OUT/$PROFILE.cpu.pprof (top: $OUT/$PROFILE.cpu.top.txt)"
fi
echo "results: $OUT/results.md"
cat "$OUT/results.md"
