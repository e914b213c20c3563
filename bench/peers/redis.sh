#!/usr/bin/env bash
# Redis with every write fsynced before the reply: appendonly yes,
# appendfsync always. Redis then fsyncs the AOF once per event-loop
# iteration, before replying to the commands of that iteration (its own
# group commit), which is the durability eventstored gives.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cmd=${1:-}; dir=${2:-}; port=${3:-6399}
[ -n "$dir" ] || die "usage: $0 start DIR PORT | stop DIR"
case "$cmd" in
start)
	command -v redis-server >/dev/null || missing "redis-server not found"
	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --appendfsync always \
		--save '' --protected-mode no --daemonize no --logfile "$dir/redis.log" </dev/null >>"$dir/stdout.log" 2>&1 &
	echo $! >"$dir/peer.pid"
	wait_port "$port" 20 || die "redis-server did not start on port $port; see $dir/redis.log"
	;;
stop) stop_pidfile "$dir/peer.pid" ;;
*) die "unknown command '$cmd'" ;;
esac
