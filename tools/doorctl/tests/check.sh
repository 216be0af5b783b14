#!/usr/bin/env bash
# doorctl's tests: runs doorctl against tests/echo_server attached at a
# temporary path and checks what it prints and its exit status.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/doorctl-test.XXXXXX)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failures=0
fail() { echo "FAIL doorctl: $*"; failures=$((failures + 1)); }

# expect STATUS PATTERN... -- ARGS: doorctl ARGS must exit with STATUS and
# print every (extended regular expression) PATTERN on stdout or stderr.
expect() {
	local status=$1; shift
	local patterns=()
	while [ "$1" != -- ]; do patterns+=("$1"); shift; done
	shift
	local out rc
	out=$(./doorctl "$@" 2>&1); rc=$?
	[ "$rc" -eq "$status" ] || { fail "doorctl $*: exit $rc, wanted $status"; echo "$out" | sed 's/^/     | /'; return; }
	for p in "${patterns[@]}"; do
		grep -Eq -- "$p" <<<"$out" || { fail "doorctl $*: no line matching '$p' in:"; echo "$out" | sed 's/^/     | /'; }
	done
}

door=$tmp/echo.door
tests/echo_server "$door" & server=$!
for _ in $(seq 1 600); do [ -S "$door" ] && break; sleep 0.1; done
[ -S "$door" ] || { echo "FAIL doorctl: the test server did not attach $door"; exit 1; }

# info PATH: the server's pid and name, attributes by name, the cookie.
expect 0 "^path: $door\$" "^server: echo_server\[$server\]\$" '^uniquifier: 0x[0-9a-f]{16}$' \
	'^attributes: 0x[0-9a-f]+ .*DOOR_UNREF_MULTI.*DOOR_NO_CANCEL' '^cookie: 0x1234$' -- info "$door"
uniq=$(./doorctl info "$door" | sed -n 's/^uniquifier: //p')
[ -n "$uniq" ] || fail "no uniquifier"

# list PID / info PID: the door it serves, and where it is attached.
for cmd in list info; do
	expect 0 "^$server: echo_server\$" "^  serves door $uniq \\([0-9]+ descriptor famil(y|ies)\\)\$" \
		"^    attached at $door\$" "^  fd [0-9]+: door $uniq to echo_server\\[$server\\]\$" -- $cmd "$server"
done
# list: every process, this one among them.
expect 0 "^$server: echo_server\$" "^    attached at $door\$" -- list

# call: a string, hex, standard input, no data, and a descriptor back.
expect 0 '^result: 5 bytes, 0 descriptors$' '^00000000  68 65 6c 6c 6f +\|hello\|$' -- call "$door" hello
expect 0 '^result: 3 bytes, 0 descriptors$' '^00000000  00 ff 41 +\|\.\.A\|$' -- call --hex "$door" 00ff41
expect 0 '^result: 18 bytes' '^00000010  31 32 +\|12\|$' -- call "$door" 0123456789abcdef12
out=$(printf 'from stdin' | ./doorctl call "$door" -); grep -q '|from stdin|' <<<"$out" || fail "call with -: $out"
expect 0 '^result: 0 bytes, 0 descriptors$' -- call "$door"
expect 0 '^result: 0 bytes, 1 descriptor$' "^descriptor 0: fd [0-9]+, door $uniq to echo_server\\[$server\\]\$" -- call "$door" door

# Door errors: exit 1.
touch "$tmp/plain"
expect 1 'not a door' -- info "$tmp/plain"
expect 1 'not a door' -- call "$tmp/plain" x
expect 1 'No such file' -- info "$tmp/missing"
expect 1 'No such process' -- list 999999999

# Bad usage: exit 2, with the usage text.
expect 2 '^usage: doorctl' --
expect 2 '^usage: doorctl' -- frobnicate
expect 2 '^usage: doorctl' -- info
expect 2 '^usage: doorctl' -- list notapid
expect 2 '^usage: doorctl' -- call
expect 2 'hexadecimal' '^usage: doorctl' -- call --hex "$door" 0g
expect 0 '^usage: doorctl' 'Exit status' -- --help

# A dead server's attachment: still a door, revoked, with no server.
kill "$server"; wait "$server" 2>/dev/null; server=
expect 0 '^server: none' 'DOOR_REVOKED' "^uniquifier: $uniq\$" -- info "$door"
expect 1 'door_call: Bad file descriptor' -- call "$door" x

[ "$failures" -eq 0 ] && echo "doorctl: ok" || { echo "doorctl: $failures failed"; exit 1; }
