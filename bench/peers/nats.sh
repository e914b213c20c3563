#!/usr/bin/env bash
# NATS JetStream with sync_interval: always (fsync every message before the
# publish ack). The option exists from nats-server 2.10; Debian bookworm
# ships 2.9, which rejects it. Then this script builds nats-server from its
# Go module into bin/ (once) with the Go toolchain, so the comparison stays
# durable-for-durable.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cmd=${1:-}; dir=${2:-}; port=${3:-4299}
[ -n "$dir" ] || die "usage: $0 start DIR PORT | stop DIR"
root=$(cd "$(dirname "$0")/../.." && pwd)
NATS_MODULE_VERSION=${NATS_MODULE_VERSION:-v2.14.9}

supports_sync() { # BIN: does this nats-server accept sync_interval?
	local t; t=$(mktemp -d)
	printf 'listen: 127.0.0.1:-1\njetstream { store_dir: "%s", sync_interval: always }\n' "$t" >"$t/c.conf"
	local rc=0
	"$1" -c "$t/c.conf" -t >/dev/null 2>&1 || rc=1
	rm -rf "$t"
	return $rc
}

find_nats() {
	local b
	for b in "$root/bin/nats-server" "$(command -v nats-server || true)"; do
		[ -n "$b" ] && [ -x "$b" ] && supports_sync "$b" && { echo "$b"; return 0; }
	done
	if command -v go >/dev/null; then
		echo "nats.sh: installed nats-server lacks sync_interval; building $NATS_MODULE_VERSION into $root/bin" >&2
		GOBIN="$root/bin" go install "github.com/nats-io/nats-server/v2@$NATS_MODULE_VERSION" >&2 &&
			supports_sync "$root/bin/nats-server" && { echo "$root/bin/nats-server"; return 0; }
	fi
	return 1
}

case "$cmd" in
start)
	bin=$(find_nats) || missing "no nats-server with sync_interval support (need >= 2.10)"
	mkdir -p "$dir/js"
	cat >"$dir/nats.conf" <<CONF
listen: 127.0.0.1:$port
jetstream {
  store_dir: "$dir/js"
  sync_interval: always
}
CONF
	"$bin" -c "$dir/nats.conf" -l "$dir/nats.log" </dev/null >>"$dir/stdout.log" 2>&1 &
	echo $! >"$dir/peer.pid"
	wait_port "$port" 20 || die "nats-server did not start on port $port; see $dir/nats.log"
	;;
stop) stop_pidfile "$dir/peer.pid" ;;
*) die "unknown command '$cmd'" ;;
esac
