#!/bin/sh
# The scenario `make check` runs (from this directory, after building):
# nscd on test files; getent hits, misses and an overflowing reply; a
# ctypes client that never linked libdoor; a long-lived client that takes
# a per-user back door, then keeps answering while a second nscd takes
# over (the first exits through its unreferenced notification); and a
# killed nscd, which lookups must report cleanly. Every process started
# here is stopped by the EXIT trap, and the scratch directory removed.
set -u

RUN=$PWD/run
DOOR=$RUN/name_service_door
LIBDOOR=$(cd ../../target/release && pwd)/libdoor.so
ME=$(id -u)
pids=
status=1

cleanup() {
	exec 3>&-
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for p in $pids; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$RUN"
	[ $status -eq 0 ] && echo "nscd: ok"
	exit $status
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

fail() {
	echo "nscd: FAIL: $*"
	for f in "$RUN"/*.log "$RUN"/client.out; do
		[ -f "$f" ] && { echo "--- $(basename "$f"):"; cat "$f"; }
	done
	exit 1
}

# waitfor FILE PATTERN: until a line of FILE matches (10 s at most)
waitfor() {
	n=0
	until grep -q -e "$2" "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -le 200 ] || fail "no '$2' in $(basename "$1")"
		sleep 0.05
	done
}

# same WHAT EXPECTED ACTUAL
same() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# getent_is EXIT-STATUS EXPECTED-OUTPUT ARGS...
getent_is() {
	want=$1 expect=$2
	shift 2
	out=$(./getent -d "$DOOR" "$@" 2>"$RUN/getent.err")
	rc=$?
	same "getent $* (exit status)" "$want" "$rc"
	same "getent $*" "$expect" "$out"
}

# ask COMMAND: send COMMAND to nsclient, set $reply to its answer
ask() {
	lines=$(wc -l < "$RUN/client.out")
	echo "$1" >&3
	n=0
	while [ "$(wc -l < "$RUN/client.out")" -le "$lines" ]; do
		n=$((n + 1))
		[ $n -le 200 ] || fail "nsclient did not answer '$1'"
		sleep 0.05
	done
	reply=$(sed -n "$((lines + 1))p" "$RUN/client.out")
}

command -v python3 > /dev/null || fail "python3 is needed for the ctypes client"

rm -rf "$RUN"
mkdir -p "$RUN"
cat > "$RUN/passwd" <<'EOF'
root:x:0:0:Super-User:/root:/bin/sh
# comments and compat lines are not entries
+@netgroup
alice:x:1001:100:Alice Liddell:/home/alice:/bin/sh
bob:x:1002:100:Bob:/home/bob:/bin/ksh
EOF
cat > "$RUN/group" <<'EOF'
root::0:
staff::10:alice,bob
users::100:alice,bob
EOF
# a group whose entry (about 84 KB) is far larger than the client's buffer
awk 'BEGIN { printf "crowd::4000:"
	for (i = 1; i <= 12000; i++) printf "%su%05d", (i > 1 ? "," : ""), i
	printf "\n" }' >> "$RUN/group"
ALICE='alice:x:1001:100:Alice Liddell:/home/alice:/bin/sh'
BOB='bob:x:1002:100:Bob:/home/bob:/bin/ksh'
CROWD=$(grep '^crowd:' "$RUN/group")

# --- the first nscd, at the default path
./nscd -p "$RUN/passwd" -g "$RUN/group" > "$RUN/nscd1.log" 2>&1 &
nscd1=$!
pids="$pids $nscd1"
waitfor "$RUN/nscd1.log" "serving $DOOR"
grep -q "loaded 3 entries from $RUN/passwd" "$RUN/nscd1.log" ||
    fail "nscd did not skip the comment and compat lines"

# --- getent: hits by name and id, misses (exit 2), enumeration
out=$(./getent passwd alice) || fail "getent at the default path"
same "getent passwd alice" "$ALICE" "$out"
getent_is 0 "$BOB" passwd 1002
getent_is 0 "staff::10:alice,bob" group staff
getent_is 0 "users::100:alice,bob" group 100
getent_is 2 "" passwd nosuch
getent_is 2 "" group 4242
getent_is 2 "$ALICE
$BOB" passwd alice nosuch bob
getent_is 0 "$(grep -v '^[#+]' "$RUN/passwd")" passwd
# the reply outgrows the client's buffer: door_call maps a larger area
getent_is 0 "$CROWD" -v group crowd
grep -q "crowd: answered by pid $nscd1, [0-9]*-byte reply in a new" \
    "$RUN/getent.err" ||
    fail "group crowd did not overflow: $(cat "$RUN/getent.err")"
getent_is 0 "$(cat "$RUN/group")" group
# stdin closed: the library's descriptor is moved above 2
out=$(./getent -d "$DOOR" passwd root <&-) || fail "getent with stdin closed"
same "getent passwd root <&-" "root:x:0:0:Super-User:/root:/bin/sh" "$out"
# nscd logs who asked, as door_ucred reports it
./getent -d "$DOOR" passwd bob > /dev/null &
gpid=$!
wait $gpid
waitfor "$RUN/nscd1.log" "pid $gpid uid $ME: getpwnam bob: 1 found"

# --- a client that never linked libdoor: Python's ctypes under LD_PRELOAD
out=$(LD_PRELOAD=$LIBDOOR python3 nsc_ctypes.py "$DOOR" passwd alice \
    2>"$RUN/py.err") || fail "nsc_ctypes.py passwd alice: $(cat "$RUN/py.err")"
same "nsc_ctypes.py passwd alice" "$ALICE" "$out"
out=$(LD_PRELOAD=$LIBDOOR python3 nsc_ctypes.py "$DOOR" group crowd \
    2>"$RUN/py.err") || fail "nsc_ctypes.py group crowd: $(cat "$RUN/py.err")"
same "nsc_ctypes.py group crowd" "$CROWD" "$out"
grep -q "reply in a new" "$RUN/py.err" || fail "nsc_ctypes.py: no overflow"
LD_PRELOAD=$LIBDOOR python3 nsc_ctypes.py "$DOOR" passwd 4242 2>/dev/null
same "nsc_ctypes.py passwd 4242 (exit status)" 2 $?

# --- a long-lived client, its connection cached
mkfifo "$RUN/cmd"
./nsclient -d "$DOOR" < "$RUN/cmd" > "$RUN/client.out" 2>&1 &
pids="$pids $!"
exec 3> "$RUN/cmd"
waitfor "$RUN/client.out" "^nsclient: pid"
ask "passwd alice"
same "nsclient passwd alice" "passwd alice: $ALICE [pid $nscd1]" "$reply"
ask "group crowd"
case $reply in
"group crowd: crowd::4000:u00001,"*"[pid $nscd1, overflow]") ;;
*) fail "nsclient group crowd: $reply" ;;
esac

# the per-user back door: passed as a descriptor, used, released (unref)
ask "backdoor"
case $reply in
"backdoor: door "[0-9a-f]*) ;;
*) fail "nsclient backdoor: $reply" ;;
esac
ask "passwd bob"
same "through the back door" "passwd bob: $BOB [pid $nscd1, back door]" "$reply"
waitfor "$RUN/nscd1.log" "uid $ME: getpwnam bob: 1 found (back door)"
ask "release"
waitfor "$RUN/nscd1.log" "back door of uid $ME released"
ask "passwd bob"
same "after release" "passwd bob: $BOB [pid $nscd1]" "$reply"
# a new back door, still held when nscd is replaced
ask "backdoor"
ask "group staff"
same "second back door" \
    "group staff: staff::10:alice,bob [pid $nscd1, back door]" "$reply"

# --- a second nscd takes the path over; the first hears its door's
# unreferenced notification and exits; the client reconnects
./nscd -d "$DOOR" -p "$RUN/passwd" -g "$RUN/group" > "$RUN/nscd2.log" 2>&1 &
nscd2=$!
pids="$pids $nscd2"
waitfor "$RUN/nscd2.log" "serving $DOOR"
wait $nscd1
same "the first nscd's exit status" 0 $?
grep -q "door slam: $DOOR was detached; exiting" "$RUN/nscd1.log" ||
    fail "the first nscd did not exit through its unref"
ask "passwd alice"
same "after the restart" "passwd alice: $ALICE [pid $nscd2]" "$reply"
ask "group 10"
same "after the restart" "group 10: staff::10:alice,bob [pid $nscd2]" "$reply"
getent_is 0 "$BOB" passwd bob

# --- nscd killed: its attachment stays, a dead door; lookups fail cleanly
kill -KILL $nscd2
wait $nscd2 2>/dev/null
ask "passwd alice"
case $reply in
"passwd alice: error: "*) ;;
*) fail "nsclient against a killed nscd: $reply" ;;
esac
getent_is 1 "" passwd alice
grep -q "alice: no name service cache" "$RUN/getent.err" ||
    fail "getent against a killed nscd: $(cat "$RUN/getent.err")"
LD_PRELOAD=$LIBDOOR python3 nsc_ctypes.py "$DOOR" passwd alice 2>"$RUN/py.err"
same "nsc_ctypes.py against a killed nscd (exit status)" 1 $?
grep -q "not a live nscd door" "$RUN/py.err" ||
    fail "nsc_ctypes.py: $(cat "$RUN/py.err")"

exec 3>&-
status=0
