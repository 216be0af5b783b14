#!/usr/bin/env bash
# The scenario `make check` runs: svc.configd daemons and svccfg clients,
# each in its own process, in a scratch directory removed at the end. Waits
# are for log lines, outputs and counters, each with a deadline; nothing
# sleeps a fixed time to synchronise. Every process started here is killed
# on the way out, whatever happened.
set -u
cd "$(dirname "$0")"

LIBDIR=../../target/release
DOOR_CAP=4                      # svc.configd -t: server threads at most
dir=$(mktemp -d /tmp/configd-check.XXXXXX)
chmod 755 "$dir"                # the unprivileged client must reach the door
door=$dir/repository_door
repo=$dir/repository

# Kills our background processes still running (their pids are still theirs).
cleanup() {
	local live
	exec 3>&- 4>&-
	live=$(jobs -rp)
	if [ -n "$live" ]; then
		kill -9 $live
		wait $live
	fi 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

fail() {
	echo "configd: FAIL: $*"
	for f in "$dir"/*.log "$dir"/*.out; do
		[ -e "$f" ] && { echo "--- $(basename "$f")"; sed 's/^/    /' "$f"; }
	done
	exit 1
}

ok() {
	echo "configd: ok: $*"
}

# until SECONDS COMMAND...: runs COMMAND until it succeeds, for at most SECONDS.
until_ok() {
	local end=$(( $(date +%s) + $1 )); shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.05      # the polling interval, not a synchronisation
	done
}

svccfg() {
	./svccfg -d "$door" "$@"
}

# counter NAME: one counter from the daemon's stats.
counter() {
	svccfg stats | sed -n "s/^$1=//p"
}

counter_is() {
	[ "$(counter "$1")" = "$2" ]
}

# start_daemon NAME: starts svc.configd logging to NAME.log; sets $started.
start_daemon() {
	./svc.configd -d "$door" -r "$repo" -t $DOOR_CAP 2>"$dir/$1.log" 3>&- 4>&- &
	started=$!
	until_ok 10 grep -q "^svc.configd: pid $started serving $door " "$dir/$1.log" \
	    || fail "daemon $1 did not start"
}

# Same contents, in order.
expect() {  # FILE, then the expected lines
	local f=$1; shift
	printf '%s\n' "$@" | cmp -s - "$f" || fail "$f: expected $*"
}

exited() {
	! kill -0 "$1" 2>/dev/null
}

# ---- Daemon A: the repository, read and written as root.
start_daemon a
a=$started
svccfg set svc:/net/ssh:default/general/enabled=true || fail "set as root"
svccfg set svc:/net/ssh:default/general/port=22 || fail "set as root"
svccfg set svc:/system/cron:default/general/enabled=false || fail "set as root"
svccfg get svc:/net/ssh:default/general/enabled > "$dir/get.out" || fail "get"
expect "$dir/get.out" true
svccfg list > "$dir/list.out" || fail "list"
expect "$dir/list.out" svc:/net/ssh:default/general/enabled=true \
    svc:/net/ssh:default/general/port=22 svc:/system/cron:default/general/enabled=false
svccfg list svc:/net/ssh > "$dir/list.out" || fail "list svc:/net/ssh"
expect "$dir/list.out" svc:/net/ssh:default/general/enabled=true svc:/net/ssh:default/general/port=22
svccfg get svc:/net/ssh:default/general/nosuch > "$dir/err.out" 2>&1 && fail "get of a missing property succeeded"
grep -q "not found" "$dir/err.out" || fail "get of a missing property"
svccfg set svc:/broken=1 > "$dir/err.out" 2>&1 && fail "set of a malformed name succeeded"
grep -q "invalid argument" "$dir/err.out" || fail "set of a malformed name"
ok "set, get and list as root"

# ---- A transaction of 40 changes, and a list too large for the client's
# buffer: it comes back in a mapping that libcfg notices and unmaps.
{
	echo begin
	for i in $(seq -w 1 40); do echo "set svc:/test/bulk:default/general/property_$i=value number $i"; done
	echo commit
} > "$dir/bulk.cmds"
svccfg -f "$dir/bulk.cmds" > "$dir/bulk.out" || fail "transaction"
tail -n 1 "$dir/bulk.out" | grep -qx "committed 40 changes" || fail "transaction: not committed"
./svccfg -v -d "$door" list svc:/test/bulk > "$dir/bulk.out" 2> "$dir/bulk.err" || fail "list of the transaction"
[ "$(wc -l < "$dir/bulk.out")" -eq 40 ] || fail "list: $(wc -l < "$dir/bulk.out") lines, not 40"
grep -qx "svc:/test/bulk:default/general/property_17=value number 17" "$dir/bulk.out" || fail "list content"
grep -q "1 answer overflowed the call buffer and was unmapped" "$dir/bulk.err" || fail "no overflow: $(cat "$dir/bulk.err")"
./svccfg -v -d "$door" get svc:/test/bulk:default/general/property_01 2> "$dir/bulk.err" > /dev/null
grep -q "0 answers overflowed" "$dir/bulk.err" || fail "a small answer overflowed"
ok "a transaction of 40 changes; an answer larger than the call buffer"

# ---- Writes are refused to an unprivileged client; reads are not.
if [ "$(id -u)" != 0 ]; then
	echo "configd: note: not root; skipping the unprivileged-client check"
else
	# A copy the unprivileged user can surely execute, wherever the tree is.
	mkdir "$dir/bin"
	cp svccfg "$dir/bin/svccfg"
	cp "$LIBDIR/libdoor.so" "$dir/bin/libdoor.so.1"
	chmod 755 "$dir/bin" "$dir/bin/svccfg" "$dir/bin/libdoor.so.1"
	runner=
	if command -v setpriv > /dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
		as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
		runner=setpriv
	elif su nobody -s /bin/sh -c true 2>/dev/null; then
		as_nobody() { local q; q=$(printf '%q ' "$@"); su nobody -s /bin/sh -c "$q"; }
		runner=su
	fi
	if [ -z "$runner" ]; then
		echo "configd: note: neither setpriv nor su can run as uid 65534; skipping the unprivileged-client check"
	else
		nobody() { as_nobody env LD_LIBRARY_PATH="$dir/bin" "$dir/bin/svccfg" -d "$door" "$@"; }
		nobody get svc:/net/ssh:default/general/enabled > "$dir/nobody.out" 2>&1 || fail "read as uid 65534"
		expect "$dir/nobody.out" true
		nobody set svc:/net/ssh:default/general/enabled=false > "$dir/nobody.out" 2>&1 \
		    && fail "write as uid 65534 succeeded"
		grep -qx "svccfg: set svc:/net/ssh:default/general/enabled=false: permission denied" "$dir/nobody.out" \
		    || fail "write as uid 65534: wrong refusal"
		printf 'begin\n' | nobody -f - > "$dir/nobody.out" 2>&1 && fail "transaction as uid 65534 succeeded"
		grep -q "permission denied" "$dir/nobody.out" || fail "transaction as uid 65534: wrong refusal"
		grep -q "euid 65534) connected" "$dir/a.log" || fail "the daemon did not see euid 65534"
		svccfg get svc:/net/ssh:default/general/enabled > "$dir/get.out"
		expect "$dir/get.out" true
		ok "uid 65534 (via $runner) may read, and its writes are refused"
	fi
fi

# ---- A client killed while holding its door (and an open transaction):
# the unreferenced notification frees its state, and nothing it staged lands.
counter_is clients 1 || fail "clients: $(counter clients), expected only the asking one"
mkfifo "$dir/session.in"
./svccfg -d "$door" -f - < "$dir/session.in" > "$dir/session.out" 2>&1 &
session=$!
exec 3> "$dir/session.in"
printf 'begin\nset svc:/net/ssh:default/general/enabled=false\n' >&3
until_ok 10 grep -q "^staged svc:/net/ssh:default/general/enabled" "$dir/session.out" || fail "session: no staged change"
counter_is clients 2 || fail "clients: $(counter clients) with the session connected, expected 2"
{ kill -9 "$session"; wait "$session"; } 2>/dev/null    # quietly: bash would say "Killed"
exec 3>&-
until_ok 10 counter_is clients 1 || fail "clients still $(counter clients) after the session was killed"
grep -q "^svc.configd: client [0-9]* (pid $session) closed its door: state freed, open transaction of 1 change discarded$" \
    "$dir/a.log" || fail "no log of the dead session's state being freed"
svccfg get svc:/net/ssh:default/general/enabled > "$dir/get.out"
expect "$dir/get.out" true
ok "a killed client's state is freed (clients back to 1) and its transaction discarded"

# ---- A waiter hears of a change under its prefix.
svccfg wait svc:/net/ssh 20 > "$dir/wait.out" 2>&1 &
waiter=$!
until_ok 10 counter_is waiters 1 || fail "the waiter never waited"
svccfg set svc:/net/sshd/general/other=1 || fail "set"          # not under svc:/net/ssh
svccfg set svc:/net/ssh:default/general/port=2222 || fail "set"
until_ok 10 exited "$waiter" || fail "the waiter was not woken"
wait "$waiter" || fail "wait failed"
expect "$dir/wait.out" "changed svc:/net/ssh:default/general/port=2222"
ok "a client waiting for a change is woken by it"

# ---- The thread cap: 8 clients each hold a server thread for 1 s. At most
# DOOR_CAP are served at once, so the last finish 2 s or more after the first
# began; the pool grew to the cap and no further.
start_ns=$(date +%s%N)
waiters=()
for i in 1 2 3 4 5 6 7 8; do
	svccfg wait svc:/test/cap 1 > "$dir/cap$i.out" 2>&1 &
	waiters+=($!)
done
for w in "${waiters[@]}"; do
	until_ok 20 exited "$w" || fail "a capped waiter never finished"
	wait "$w" || fail "a capped waiter failed: $(cat "$dir"/cap*.out)"
done
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
for i in 1 2 3 4 5 6 7 8; do
	expect "$dir/cap$i.out" timeout
done
svccfg stats > "$dir/stats.out"
grep -qx "threads_cap=$DOOR_CAP" "$dir/stats.out" || fail "cap: $(cat "$dir/stats.out")"
grep -qx "threads=$DOOR_CAP" "$dir/stats.out" || fail "threads: $(cat "$dir/stats.out")"
grep -qx "threads_peak=$DOOR_CAP" "$dir/stats.out" || fail "threads_peak: $(cat "$dir/stats.out")"
grep -qx "calls_peak=$DOOR_CAP" "$dir/stats.out" || fail "calls_peak: $(cat "$dir/stats.out")"
[ "$elapsed_ms" -ge 1950 ] || fail "8 one-second waits on $DOOR_CAP threads took only $elapsed_ms ms"
ok "8 concurrent clients, at most $DOOR_CAP server threads and calls at once ($elapsed_ms ms)"

# ---- Takeover: daemon B attaches its door over A's. A hears its main door
# go unreferenced and exits; a client bound to A notices the new daemon (its
# pid and door uniquifier differ) and reconnects; B has what A committed.
mkfifo "$dir/session2.in"
./svccfg -d "$door" -f - < "$dir/session2.in" > "$dir/session2.out" 2>&1 &
session2=$!
exec 4> "$dir/session2.in"
echo "get svc:/net/ssh:default/general/port" >&4
until_ok 10 grep -qx 2222 "$dir/session2.out" || fail "session 2 did not read"
start_daemon b
b=$started
until_ok 10 exited "$a" || fail "daemon A did not exit when B took over"
wait "$a"
status=$?
[ "$status" -eq 5 ] || fail "daemon A exited with $status, not 5 (CONFIGD_EXIT_LOST_MAIN_DOOR)"
grep -q "main door unreferenced: another svc.configd has taken over; exiting" "$dir/a.log" \
    || fail "daemon A did not say why it exited"
echo "get svc:/net/ssh:default/general/enabled" >&4
exec 4>&-
until_ok 10 exited "$session2" || fail "session 2 did not finish"
wait "$session2" || fail "session 2 failed"
expect "$dir/session2.out" 2222 \
    "svccfg: repository daemon restarted (was pid $a, now pid $b); reconnected" true
svccfg get svc:/test/bulk:default/general/property_40 > "$dir/get.out"
expect "$dir/get.out" "value number 40"
[ "$(counter pid)" = "$b" ] || fail "the door is not served by B"
ok "takeover: A exited (status 5), a bound client reconnected to B, which has A's data"

# ---- B stops on SIGTERM.
kill -TERM "$b"
until_ok 10 exited "$b" || fail "daemon B ignored SIGTERM"
wait "$b" || fail "daemon B exited with $?"
grep -q "caught signal 15, exiting" "$dir/b.log" || fail "daemon B did not log its exit"
ok "SIGTERM stops the daemon"
echo "configd: ok"
