#!/usr/bin/env bash
# loadtest-bench.sh - the 10,000-client remote-access benchmark: a cygnet
# gateway with a pool in one network namespace, `cygnet load-test` in the
# other, each client a PSK road warrior asking for a virtual IP, a ping
# sample through 20 of the tunnels. It is the suite's TestLoadTest1000Clients
# scaled up, so it asserts the same things (no failure, distinct pool
# addresses, every lease online, the sample passes) and logs handshakes per
# second, latency p50/p99, the gateway's CPU time per handshake
# (/proc/PID/stat utime+stime) and its RSS growth per client.
#
#   scripts/loadtest-bench.sh            # 10,000 clients
#   scripts/loadtest-bench.sh 20000      # another count (at most 60,000)
#
# Root; namespaces and veths only from internal/testnet, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-10000}
CYGNET_LOADTEST_CLIENTS=$clients CYGNET_REQUIRE_NETNS=1 \
	go test -count=1 -timeout 15m -run '^TestLoadTest1000Clients$' -v ./test/e2e 2>&1 |
	grep -v 'level=\(DEBUG\|INFO\)'
