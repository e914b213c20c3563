#!/usr/bin/env bash
# PostgreSQL with synchronous_commit=on (each commit waits for its WAL
# fsync; concurrent commits share fsyncs through the WAL writer).
# PostgreSQL refuses to run as root, so when run as root the cluster is
# owned by and run as the 'postgres' user that the Debian package creates.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cmd=${1:-}; dir=${2:-}; port=${3:-5499}
[ -n "$dir" ] || die "usage: $0 start DIR PORT | stop DIR"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
	[ -n "$bindir" ] && [ -x "$bindir/postgres" ] || missing "PostgreSQL server binaries not found under /usr/lib/postgresql"
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' user"
		chown postgres "$dir"
	fi
	as_pg "$bindir/initdb" -D "$dir/data" -U bench --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
		die "initdb failed; see $dir/initdb.log"
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c synchronous_commit=on -c fsync=on -c max_connections=600 -c shared_buffers=256MB" \
		start </dev/null >>"$dir/pg_ctl.log" 2>&1 || die "postgres did not start; see $dir/postgres.log and $dir/pg_ctl.log"
	wait_port "$port" 30 || die "postgres is not listening on port $port"
	;;
stop)
	[ -d "$dir/data" ] || exit 0
	as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	;;
*) die "unknown command '$cmd'" ;;
esac
