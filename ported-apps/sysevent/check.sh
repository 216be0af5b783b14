#!/bin/sh
#
# check.sh: the sysevent scenario behind `make check`.
#
# Starts syseventd and three subscribers (two of class A, one of class B),
# each a separate process writing to its own file, publishes events, and
# asserts that every subscriber got exactly its class's events, in order,
# with their payloads.  Then it takes subscribers away in the three ways the
# daemon must notice, and asserts each is dropped while the rest still get
# their events:
#   - kill -9 of a subscriber without a handle: the next delivery's
#     door_call fails with EBADF;
#   - kill -9 of a subscriber holding a handle: the handle's DOOR_UNREF
#     notification, with nothing published;
#   - a subscriber that unsubscribes by revoking its door (and lives on):
#     the status request's door_info sweep sees DOOR_REVOKED;
#   - kill -9 of a subscriber that is not called again: the same sweep sees
#     di_target == -1.
# Finally a subscriber asked to exit after N events does so, and the daemon
# stops on SIGTERM and detaches its door.
#
# Every wait polls for an output line against a deadline; nothing sleeps
# for a fixed time.  The EXIT trap kills whatever is still running and
# removes the scratch directory, whether the check passes or not.
#
# Usage: check.sh [-v]	(-v: show every program's output at the end)

set -u
cd "$(dirname "$0")" || exit 1
VERBOSE=0
[ "${1:-}" = -v ] && VERBOSE=1

RUN=$(mktemp -d "${TMPDIR:-/tmp}/sysevent.XXXXXX") || exit 1
DOOR=$RUN/sysevent_door
PIDS=

cleanup() {
	rc=$?
	for p in $PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	wait
	rm -rf "$RUN"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

show() {
	for f in "$RUN"/*.log "$RUN"/*.out; do
		[ -f "$f" ] || continue
		echo "--- ${f##*/}"
		cat "$f"
	done
}

fail() {
	echo "sysevent: FAIL: $*"
	show
	exit 1
}

# reap PID: wait for a process we started and forget it, so that the trap
# never signals a recycled pid.
reap() {
	wait "$1"
	st=$?
	PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
	return $st
}

# count FILE PATTERN: lines of FILE matching PATTERN (0 if no file yet)
count() {
	n=$(grep -c -e "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}

# wait_for FILE PATTERN [N]: wait until N lines (default 1) of FILE match.
wait_for() {
	deadline=$(($(date +%s) + 10))
	while [ "$(count "$1" "$2")" -lt "${3:-1}" ]; do
		[ "$(date +%s)" -lt "$deadline" ] ||
		    fail "no '$2' (x${3:-1}) in ${1##*/} after 10 s"
		sleep 0.02
	done
}

# has NAME LINE: NAME's output has exactly this line.
has() {
	grep -qxF -e "$2" "$RUN/$1" || fail "${1} lacks the line '$2'"
}

# start_sub NAME ARGS...: start a subscriber, wait until it has subscribed.
start_sub() {
	name=$1
	shift
	./subscriber "$@" >"$RUN/$name.out" 2>&1 &
	eval "${name}_pid=$!"
	PIDS="$PIDS $!"
	wait_for "$RUN/$name.out" '^subscriber: id '
}

# pub WANT ARGS...: publish an event; assert what publish printed.
pub() {
	want=$1
	shift
	got=$(./publish "$DOOR" "$@" 2>&1) || fail "publish $*: $got"
	[ "$got" = "$want" ] || fail "publish $*: '$got', expected '$want'"
}

# status: the daemon's subscriber list (it first drops the dead), without
# the delivery counters, which move as replies come back.
status() {
	./sestat "$DOOR" >"$RUN/sestat.out" 2>&1 || fail "sestat failed"
	sed 's/ delivered .*//' "$RUN/sestat.out"
}

# expect_status: stdin is exactly what status must print.
expect_status() {
	cat >"$RUN/status.want"
	status >"$RUN/status.got"
	diff "$RUN/status.want" "$RUN/status.got" >/dev/null ||
	    fail "status: got
$(cat "$RUN/status.got")
expected
$(cat "$RUN/status.want")"
}

# events NAME: stdin is exactly the events NAME must have printed.
events() {
	cat >"$RUN/$1.want"
	grep -e '^event ' "$RUN/$1.out" >"$RUN/$1.got"
	diff "$RUN/$1.want" "$RUN/$1.got" >/dev/null ||
	    fail "$1 printed other events:
$(diff "$RUN/$1.want" "$RUN/$1.got")"
}

# -- The daemon and three subscribers -------------------------------------

./syseventd "$DOOR" >"$RUN/syseventd.log" 2>&1 &
DPID=$!
PIDS="$PIDS $DPID"
LOG=syseventd.log
wait_for "$RUN/$LOG" '^syseventd: ready on '

# Ids are given in order of subscription, so start them one at a time.
start_sub a1 -h -x 6 "$DOOR" A	# door_xcreate; a handle; exits after 6
start_sub a2 "$DOOR" A		# door_xcreate; no handle
start_sub b1 -P -h "$DOOR" B	# DOOR_PRIVATE + door_bind; a handle
has a1.out "subscriber: id 1, class A, door_xcreate door (private), holding a handle, pid $a1_pid"
has a2.out "subscriber: id 2, class A, door_xcreate door (private), pid $a2_pid"
has b1.out "subscriber: id 3, class B, DOOR_PRIVATE+door_bind door (private), holding a handle, pid $b1_pid"
has $LOG "syseventd: subscriber 1 (class A, pid $a1_pid) subscribed with a handle"
has $LOG "syseventd: subscriber 2 (class A, pid $a2_pid) subscribed"
has $LOG "syseventd: subscriber 3 (class B, pid $b1_pid) subscribed with a handle"
expect_status <<EOF
subscribers: 3
subscriber 1 class A pid $a1_pid
subscriber 2 class A pid $a2_pid
subscriber 3 class B pid $b1_pid
EOF

# -- Each subscriber gets its class's events, in order ---------------------

pub "published seq 1 (A/add), queued for 2" A add disk=sd0 size=10
pub "published seq 2 (B/remove), queued for 1" B remove net=e1000g0
pub "published seq 3 (A/change), queued for 2" A change disk=sd0 size=20
pub "published seq 4 (C/ignored), queued for 0" C ignored x=1
pub "published seq 5 (A/add), queued for 2" A add disk=sd1
pub "published seq 6 (B/add), queued for 1" B add net=vnic0 mtu=9000
wait_for "$RUN/a1.out" '^event ' 3
wait_for "$RUN/a2.out" '^event ' 3
wait_for "$RUN/b1.out" '^event ' 2
events a2 <<EOF
event 1: seq 1 A/add disk=sd0 size=10
event 2: seq 3 A/change disk=sd0 size=20
event 3: seq 5 A/add disk=sd1
EOF
events b1 <<EOF
event 1: seq 2 B/remove net=e1000g0
event 2: seq 6 B/add net=vnic0 mtu=9000
EOF

# The daemon's door_setparam(DOOR_PARAM_DATA_MAX) turns away an event too
# large before it is sent; no sequence number is spent on it.
big=$(head -c 5000 /dev/zero | tr '\0' x)
if got=$(./publish "$DOOR" A huge "blob=$big" 2>&1); then
	fail "an oversized event was accepted: $got"
fi
[ "$got" = "publish: door_call: ENOBUFS (event too large)" ] ||
    fail "oversized event: '$got'"

# -- A dead subscriber without a handle: door_call gives EBADF -------------

kill -9 "$a2_pid"
reap "$a2_pid" 2>/dev/null
pub "published seq 7 (A/add), queued for 2" A add disk=sd2
wait_for "$RUN/$LOG" "^syseventd: dropped subscriber 2 (class A, pid $a2_pid): door_call failed with EBADF\$"
wait_for "$RUN/a1.out" '^event 4: seq 7 '
expect_status <<EOF
subscribers: 2
subscriber 1 class A pid $a1_pid
subscriber 3 class B pid $b1_pid
EOF

# -- A dead subscriber holding a handle: DOOR_UNREF, nothing published -----

kill -9 "$b1_pid"
reap "$b1_pid" 2>/dev/null
wait_for "$RUN/$LOG" "^syseventd: dropped subscriber 3 (class B, pid $b1_pid): subscription handle unreferenced\$"
expect_status <<EOF
subscribers: 1
subscriber 1 class A pid $a1_pid
EOF
pub "published seq 8 (B/add), queued for 0" B add net=vnic1

# -- A subscriber that revokes its door: door_info sees DOOR_REVOKED -------

start_sub a3 -r 1 "$DOOR" A	# revokes its door after 1 event, lives on
has a3.out "subscriber: id 4, class A, door_xcreate door (private), pid $a3_pid"
pub "published seq 9 (A/add), queued for 2" A add disk=sd3
wait_for "$RUN/a3.out" '^unsubscribed: door revoked after 1 events$'
wait_for "$RUN/a1.out" '^event 5: seq 9 '
expect_status <<EOF
subscribers: 1
subscriber 1 class A pid $a1_pid
EOF
has $LOG "syseventd: dropped subscriber 4 (class A, pid $a3_pid): its door is revoked (door_info)"
kill -0 "$a3_pid" 2>/dev/null || fail "a3 died instead of living on revoked"

# -- A dead subscriber found by door_info: di_target == -1 -----------------

start_sub a4 -P "$DOOR" A	# DOOR_PRIVATE + door_bind; no handle
has a4.out "subscriber: id 5, class A, DOOR_PRIVATE+door_bind door (private), pid $a4_pid"
kill -9 "$a4_pid"
reap "$a4_pid" 2>/dev/null
expect_status <<EOF
subscribers: 1
subscriber 1 class A pid $a1_pid
EOF
has $LOG "syseventd: dropped subscriber 5 (class A, pid $a4_pid): its process has gone (door_info)"

# -- A subscriber asked to exit after 6 events -----------------------------

pub "published seq 10 (A/remove), queued for 1" A remove disk=sd0
reap "$a1_pid" || fail "a1 exited with status $?"
has a1.out "exiting after 6 events"
# Its handle closed with it (or the last reply found it gone): either way
# the daemon drops it on its own.
deadline=$(($(date +%s) + 10))
until [ "$(status)" = "subscribers: 0" ]; do
	[ "$(date +%s)" -lt "$deadline" ] ||
	    fail "subscriber 1 still listed after its exit"
	sleep 0.02
done
wait_for "$RUN/$LOG" "^syseventd: dropped subscriber 1 (class A, pid $a1_pid): "
pub "published seq 11 (A/add), queued for 0" A add disk=sd4

# -- Everything each subscriber ever printed -------------------------------

events a1 <<EOF
event 1: seq 1 A/add disk=sd0 size=10
event 2: seq 3 A/change disk=sd0 size=20
event 3: seq 5 A/add disk=sd1
event 4: seq 7 A/add disk=sd2
event 5: seq 9 A/add disk=sd3
event 6: seq 10 A/remove disk=sd0
EOF
events a2 <<EOF
event 1: seq 1 A/add disk=sd0 size=10
event 2: seq 3 A/change disk=sd0 size=20
event 3: seq 5 A/add disk=sd1
EOF
events b1 <<EOF
event 1: seq 2 B/remove net=e1000g0
event 2: seq 6 B/add net=vnic0 mtu=9000
EOF
events a3 <<EOF
event 1: seq 9 A/add disk=sd3
EOF
events a4 </dev/null
[ "$(count "$RUN/$LOG" '^syseventd: dropped ')" -eq 5 ] ||
    fail "expected exactly 5 subscribers dropped"
! grep -q refused "$RUN"/*.out "$RUN/$LOG" || fail "an event was refused"

# -- Stop: the daemon detaches its door on SIGTERM --------------------------

kill "$a3_pid"
reap "$a3_pid" 2>/dev/null
kill "$DPID"
reap "$DPID" || fail "syseventd exited with status $?"
has $LOG "syseventd: exiting on signal 15"
[ -f "$DOOR" ] && [ ! -S "$DOOR" ] ||
    fail "$DOOR is not the plain file it covered after fdetach"
[ ! -e "$RUN/.${DOOR##*/}.door" ] || fail "fdetach left its stash behind"

[ $VERBOSE -eq 1 ] && show
echo "sysevent: ok"
