#!/bin/sh
# The scenario `make check` runs (from this directory, after building):
# every server of the classic examples in its own process, its clients in
# others, with assertions on what both sides print. `-v` (make demo) also
# shows each client command with its output, and the server logs at the
# end. Everything runs in a mktemp directory; the EXIT trap stops every
# process started here, releases anything waiting on a fifo, and removes
# the directory, even when an assertion fails. No fixed sleeps: waits are
# for a log line, a door path, or a blocking fifo open.
set -u

APP=$(pwd)
VERBOSE=0
[ "${1:-}" = -v ] && VERBOSE=1
RUN=$(mktemp -d "${TMPDIR:-/tmp}/classic.XXXXXX") || exit 1
PAGE=$(getconf PAGESIZE)
pids=
status=1

cleanup() {
	# A fifo opened read-write never blocks; closing it again hands EOF
	# to anyone stuck opening or reading it (a server procedure, or
	# intr_client's child), so they can finish.
	for f in "$RUN"/*.fifo; do
		[ -p "$f" ] || continue
		exec 9<>"$f"
		exec 9>&-
	done
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for p in $pids; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$RUN"
	[ $status -eq 0 ] && echo "classic: ok"
	exit $status
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

cd "$RUN" || exit 1

fail() {
	echo "classic: FAIL: $*"
	for f in "$RUN"/*.log "$RUN"/*.out "$RUN"/*.err; do
		[ -s "$f" ] && { echo "--- $(basename "$f"):"; head -n 40 "$f"; }
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

# has FILE LINE: FILE has exactly this line
has() {
	grep -qxF -e "$2" "$1" || fail "$(basename "$1") lacks '$2'"
}

# lacks FILE PATTERN
lacks() {
	! grep -q -e "$2" "$1" || fail "$(basename "$1") has '$2'"
}

# same WHAT EXPECTED ACTUAL
same() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# serve NAME ARGS...: start the server NAME, wait until it serves; its
# pid is left in $spid and its output goes to NAME.log.
serve() {
	name=$1
	shift
	"$APP/$name" "$@" > "$name.log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	n=0
	until grep -q "serving" "$name.log" 2>/dev/null; do
		kill -0 $spid 2>/dev/null || fail "$name did not start"
		n=$((n + 1))
		[ $n -le 200 ] || fail "$name did not start"
		sleep 0.05
	done
}

# reap PID WHAT: wait for the child PID to exit (10 s at most); its exit
# status is left in $got. (A child that has exited but not been waited for
# is a zombie, which kill -0 still finds: hence the look at its state.)
reap() {
	n=0
	while [ "$(cut -d' ' -f3 /proc/$1/stat 2>/dev/null)" != Z ] &&
	    kill -0 $1 2>/dev/null; do
		n=$((n + 1))
		[ $n -le 200 ] || fail "$2 did not finish"
		sleep 0.05
	done
	wait $1
	got=$?
}

# run OUT EXPECTED-STATUS PROGRAM ARGS...: run a client in its own process,
# its output in OUT (stderr in OUT.err), and check its exit status. Its
# pid is left in $cpid.
run() {
	out=$1 want=$2
	shift 2
	prog=$1
	shift
	"$APP/$prog" "$@" > "$out" 2> "$out.err" &
	cpid=$!
	pids="$pids $cpid"
	reap $cpid "$prog $*"
	show "$prog $*" "$out"
	same "exit status of $prog $*" "$want" "$got"
}

# show COMMAND OUT: in demo mode, what was run and what it printed
show() {
	[ $VERBOSE -eq 1 ] || return 0
	echo "\$ $1"
	if [ "$(wc -l < "$2")" -gt 30 ]; then
		head -n 5 "$2"
		echo "... ($(wc -l < "$2") lines in all)"
	else
		cat "$2"
	fi
	[ -s "$2.err" ] && cat "$2.err"
	echo
}

# release FIFO: open FIFO for writing (which waits for its reader) and
# close it, which lets the reader go on; time out after 10 s.
release() {
	timeout 10 sh -c ": > $1" || fail "nobody was waiting on $1"
}

# field FILE PREFIX: the rest of the first line that starts with PREFIX
field() {
	sed -n "s/^$2//p" "$1" | head -n 1
}

section() {
	[ $VERBOSE -eq 1 ] && echo "=== $*"
	return 0
}

# --- 1. sqrt: a double in, its square root and the server thread out
section "sqrt_server / sqrt_client: a double in, its root and the thread out"
serve sqrt_server sqrt.door
sqrt_pid=$spid
run sqrt.out 0 sqrt_client sqrt.door 2 9 0.25
for pair in "2 1.41421" "9 3" "0.25 0.5"; do
	set -- $pair
	tid=$(sed -n "s/^sqrt($1) = $2, computed by server thread \([0-9]*\)\$/\1/p" \
	    sqrt.out)
	[ -n "$tid" ] || fail "sqrt_client: no 'sqrt($1) = $2' line"
	# The server logs the call under the thread id it returned.
	has sqrt_server.log "thread $tid: sqrt($1) = $2"
done

# --- 2. overflow: replies larger than the caller's buffer
section "overflow_server / overflow_client: rbuf replaced by a new mapping"
serve overflow_server overflow.door
# UNPv2's client3: one long, and a buffer one byte too small.
run ov1.out 0 overflow_client overflow.door 1 7
has ov1.out "reply: 8 bytes, result buffer 7 bytes"
has ov1.out "rbuf: replaced by a new mapping of $PAGE bytes (1 pages)"
has ov1.out "rest of the mapping: zero"
has ov1.out "own buffer: untouched"
has ov1.out "data_ptr: start of rbuf"
has ov1.out "squares: first 1, last 1"
has ov1.out "munmap: done"
# The same reply in a buffer just big enough stays there.
run ov2.out 0 overflow_client overflow.door 1 8
has ov2.out "rbuf: unchanged, the reply fit"
has ov2.out "data_ptr: start of rbuf"
lacks ov2.out "munmap"
# No buffer at all (rbuf NULL, rsize 0), a reply of several pages.
run ov3.out 0 overflow_client overflow.door 1000 0
len=$(( (8000 + PAGE - 1) / PAGE * PAGE ))
has ov3.out "reply: 8000 bytes, result buffer 0 bytes"
has ov3.out "rbuf: replaced by a new mapping of $len bytes ($((len / PAGE)) pages)"
has ov3.out "rest of the mapping: zero"
has ov3.out "squares: first 1, last 1000000"
has ov3.out "munmap: done"
# A big reply into a buffer one byte short.
run ov4.out 0 overflow_client overflow.door 4096 32767
has ov4.out "reply: 32768 bytes, result buffer 32767 bytes"
has ov4.out "own buffer: untouched"
has ov4.out "squares: first 1, last 16777216"
has overflow_server.log "count 1: replying with 8 bytes"
has overflow_server.log "count 4096: replying with 32768 bytes"
# A count the server refuses gets an empty reply.
run ov5.out 1 overflow_client overflow.door 5000 8
has overflow_server.log "count 5000 refused (at most 4096)"
has ov5.out.err "expected 40000 bytes: refused?"

# --- 3. fd: a file descriptor returned through the door
section "fd_server / fd_client: cat through a descriptor from the door"
serve fd_server fd.door
fd_pid=$spid
printf 'first line\nsecond line\n' > small.txt
seq 1 30000 > big.txt
nfds() { ls /proc/$fd_pid/fd | wc -l; }
before=$(nfds)
run fd1.out 0 fd_client fd.door small.txt
cmp -s fd1.out small.txt || fail "fd_client small.txt: content differs"
run fd2.out 0 fd_client fd.door "$RUN/big.txt"
cmp -s fd2.out big.txt || fail "fd_client big.txt: content differs"
has fd_server.log "opened small.txt, passing it back"
has fd_server.log "opened $RUN/big.txt, passing it back"
run fd3.out 1 fd_client fd.door missing.txt
grep -q ": missing.txt: No such file or directory$" fd3.out.err ||
    fail "fd_client missing.txt: no error message"
has fd_server.log "open failed: missing.txt: No such file or directory"
[ -s fd3.out ] && fail "fd_client missing.txt printed data"
# DOOR_RELEASE: the server keeps none of the files it passed. Each
# client's connection costs the server descriptors until it notices the
# client has gone, so wait for the count to settle back.
i=0
while [ $i -lt 20 ]; do
	"$APP/fd_client" fd.door small.txt > /dev/null || fail "fd_client loop"
	i=$((i + 1))
done
n=0
while [ "$(nfds)" -gt "$before" ]; do
	n=$((n + 1))
	[ $n -le 200 ] || fail "fd_server holds $(nfds) descriptors, had $before"
	sleep 0.05
done

# --- 4. door_cred: who called
section "cred_server / cred_client: the caller's credentials"
serve cred_server cred.door
run cred1.out 0 cred_client cred.door
uid=$(id -u) gid=$(id -g)
said=$(field cred1.out "server says: ")
me=$(field cred1.out "I am:        ")
same "cred_client's own ids" "euid $uid ruid $uid egid $gid rgid $gid pid $cpid" \
    "${me%%;*}"
same "door_cred ids" "${me%%;*}" "${said%%;*}"
same "door_ucred saved ids and groups" \
    "suid $uid sgid $gid, ${me#*; }" "${said#*; }"
has cred_server.log "caller: $said"
if [ "$uid" -eq 0 ]; then
	# Effective ids that differ from the real ones, as in a set-id
	# program: the door reports both, and the saved ids stay root's.
	run cred2.out 0 cred_client -g 65534 -u 65534 cred.door
	said=$(field cred2.out "server says: ")
	same "door_cred after seteuid" \
	    "euid 65534 ruid 0 egid 65534 rgid 0 pid $cpid" "${said%%;*}"
	same "door_ucred after seteuid" "suid 0 sgid 0" \
	    "$(echo "$said" | sed 's/^.*; \(suid [0-9]* sgid [0-9]*\),.*/\1/')"
	has cred2.out "I am:        ${said%%;*}; ${said#*, }"
elif [ $VERBOSE -eq 1 ]; then
	echo "(not root: skipping cred_client -g/-u)"
fi

# --- 5. a door that revokes itself on its third call
section "revoke_server / revoke_client: door_revoke inside the procedure"
serve revoke_server revoke.door 3
rv_pid=$spid
proc=$(sed -n 's/^procedure \([^ ]*\) cookie .*/\1/p' revoke_server.log)
cookie=$(sed -n 's/^procedure [^ ]* cookie \([^ ]*\) .*/\1/p' revoke_server.log)
uniq=$(sed -n 's/.* uniquifier \([0-9]*\)$/\1/p' revoke_server.log)
[ -n "$proc" ] && [ -n "$cookie" ] && [ -n "$uniq" ] ||
    fail "revoke_server printed no door_info"
run di1.out 0 doorinfo revoke.door
has di1.out "revoke.door: door, mode 0644 (fstat of the open door: door)"
has di1.out "	target      pid $rv_pid"
has di1.out "	procedure   $proc"
has di1.out "	cookie      $cookie"
has di1.out "	attributes  0x40 DOOR_REFUSE_DESC"
has di1.out "	uniquifier  $uniq"
run rv1.out 3 revoke_client revoke.door 5
for i in 1 2 3; do
	has rv1.out "call $i: the server counted it as call $i"
done
for i in 4 5; do
	has rv1.out "call $i: door_call failed: Bad file descriptor (EBADF)"
done
has rv1.out "door_info: revoked, server pid $rv_pid"
has revoke_server.log "call 1"
has revoke_server.log "call 3: door revoked"
lacks revoke_server.log "call 4"
# The path still leads to the door, now revoked; a new client fails too.
run rv2.out 3 revoke_client revoke.door 1
has rv2.out "call 1: door_call failed: Bad file descriptor (EBADF)"
run di2.out 0 doorinfo revoke.door
has di2.out "	target      pid $rv_pid"
has di2.out "	attributes  0x48 DOOR_REVOKED|DOOR_REFUSE_DESC"
has di2.out "	uniquifier  $uniq"
# Once the server has exited, the attachment outlives it: di_target -1.
kill $rv_pid
wait $rv_pid 2>/dev/null
run di3.out 0 doorinfo revoke.door
has di3.out "	target      none: the server has exited"
grep -q "^	attributes  0x[0-9a-f]* .*DOOR_REVOKED" di3.out ||
    fail "doorinfo after exit: not DOOR_REVOKED"
has di3.out "	uniquifier  $uniq"

# --- 6. a caller interrupted by a signal
section "intr_server / intr_client: door_call interrupted (EINTR)"
mkfifo gate.fifo child.fifo
serve intr_server intr.door gate.fifo
# First call: the client's child exits (SIGCHLD) while the server works.
"$APP/intr_client" intr.door child.fifo 6 > intr1.out 2> intr1.out.err &
cpid=$!
pids="$pids $cpid"
waitfor intr_server.log "^call 1: started, argument 6"
release child.fifo
# The handler has run during door_call, so door_call must fail (EINTR)
# now; it must not wait for the server's reply, which is only released
# below. (A door_call that goes on waiting makes this time out.)
reap $cpid "intr_client, interrupted by SIGCHLD during door_call,"
show "intr_client intr.door child.fifo 6" intr1.out
same "intr_client exit status (interrupted)" 3 "$got"
has intr1.out "door_call: interrupted (EINTR) by SIGCHLD"
has intr1.out "child exited, SIGCHLD caught"
# The client is gone; the server only now finishes the call.
lacks intr_server.log "^call 1: gate opened"
release gate.fifo
waitfor intr_server.log "^call 1: door_return found no client"
has intr_server.log "call 1: gate opened, returning 36"
has intr_server.log "call 1: door_cred: Invalid argument: the client has gone"
has intr_server.log "call 1: door_return found no client: the reply's descriptor was closed unread"
# Second call: the server finishes first, the child exits afterwards.
"$APP/intr_client" intr.door child.fifo 7 > intr2.out 2> intr2.out.err &
cpid=$!
pids="$pids $cpid"
waitfor intr_server.log "^call 2: started, argument 7"
release gate.fifo
waitfor intr2.out "^result: 49"
release child.fifo
reap $cpid "intr_client (completed call)"
show "intr_client intr.door child.fifo 7" intr2.out
same "intr_client exit status (completed)" 0 "$got"
has intr2.out "child exited, SIGCHLD caught"
waitfor intr_server.log "^call 2: the client got"
has intr_server.log "call 2: client pid $cpid is still waiting"
has intr_server.log "call 2: the client got the reply and wrote back \"received\""

# --- 7. doorinfo on everything at once, and on a door of its own
section "doorinfo: door_info and S_ISDOOR"
run di4.out 1 doorinfo -l sqrt.door overflow.door intr.door small.txt
own=$(sed -n 's/^(own door): procedure \([^,]*\), cookie \(.*\)$/\1 \2/p' di4.out)
[ -n "$own" ] || fail "doorinfo -l: no own door"
set -- $own
has di4.out "	procedure   $1"
has di4.out "	cookie      $2"
has di4.out "	attributes  0x67 DOOR_UNREF|DOOR_PRIVATE|DOOR_LOCAL|DOOR_IS_UNREF|DOOR_REFUSE_DESC"
has di4.out "	target      pid $cpid (this process)"
has di4.out "sqrt.door: door, mode 0644 (fstat of the open door: door)"
has di4.out "	target      pid $sqrt_pid"
has di4.out "	cookie      (nil)"
has di4.out "	attributes  0x0 none"
has di4.out "	attributes  0x40 DOOR_REFUSE_DESC"
has di4.out "	attributes  0x80 DOOR_NO_CANCEL"
has di4.out "small.txt: not a door (regular file)"
[ "$(grep -c 'DOOR_LOCAL' di4.out)" -eq 1 ] ||
    fail "doorinfo: DOOR_LOCAL on another process's door"

if [ $VERBOSE -eq 1 ]; then
	for f in *.log; do
		echo "--- $f:"
		if [ "$(wc -l < "$f")" -gt 12 ]; then
			head -n 8 "$f"
			echo "... ($(wc -l < "$f") lines in all)"
		else
			cat "$f"
		fi
	done
fi
status=0
