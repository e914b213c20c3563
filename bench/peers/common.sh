# Shared helpers of the peer scripts. Sourced, not run.
# Every peer script takes: start DIR PORT | stop DIR. It runs the peer on
# 127.0.0.1:PORT with all data under DIR (a temp dir the caller removes),
# in the background, and returns once the peer accepts connections. Exit
# code 3 means "peer not installed" (the caller skips it with a message).

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
missing() { echo "$(basename "$0"): $* (run 'make bench-peers' to install the peers)" >&2; exit 3; }

# wait_port PORT SECONDS: wait until 127.0.0.1:PORT accepts TCP.
wait_port() {
	local port=$1 secs=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

# stop_pidfile FILE: SIGTERM the process in FILE, wait up to 10 s, then SIGKILL.
stop_pidfile() {
	local f=$1 pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}
