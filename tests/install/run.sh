#!/usr/bin/env bash
# Installs libdoor into a staging directory with the root Makefile, builds
# door programs against the staged copy with nothing but pkg-config's
# flags, runs them against the staged library (linked, and a Python client
# under LD_PRELOAD: docs/INSTALL.md's worked example), uninstalls, and
# checks that exactly libdoor's files came and went. Needs a built
# target/release/libdoor.so, make, cc, pkg-config and python3.
# Usage: tests/install/run.sh
set -euo pipefail
for tool in make cc pkg-config python3 readelf; do
	command -v $tool >/dev/null || { echo "tests/install/run.sh needs $tool" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d /tmp/libdoor-install.XXXXXX)
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL install: $*" >&2; exit 1; }

# Files that are not ours, which uninstall must leave alone.
stage="$tmp/stage"
foreign="usr/local/include/other.h usr/local/lib/libother.so usr/local/lib/pkgconfig/other.pc"
for f in $foreign; do mkdir -p "$stage/$(dirname "$f")"; echo other > "$stage/$f"; done

files_in() {  # dir: its files and links, relative, sorted
	(cd "$1" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort)
}
expect_files() {  # what, expected list (words)
	local want
	want=$(printf '%s\n' $2 | LC_ALL=C sort)
	[ "$(files_in "$stage")" = "$want" ] || {
		diff <(echo "$want") <(files_in "$stage") >&2 || true
		fail "$1: the staging tree is not as expected (< expected, > found)"
	}
}

make -s -C "$root" install DESTDIR="$stage" PREFIX=/usr/local
libfile=$(make -s -C "$root" print-LIBFILE)
capi=$(sed -n '/^\[package.metadata.capi.library\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/door-compat/Cargo.toml")
[ "$libfile" = "libdoor.so.$capi" ] || fail "make installs $libfile, cargo-c would install libdoor.so.$capi"
ours="usr/local/lib/$libfile usr/local/lib/libdoor.so.1 usr/local/lib/libdoor.so usr/local/lib/pkgconfig/door.pc"
for h in door.h stropts.h ucred.h thread.h synch.h sys/door.h sys/stat.h; do ours="$ours usr/local/include/libdoor/$h"; done
ours="$ours usr/local/bin/doorctl"
for page in "$root"/man/man3/*.3; do ours="$ours usr/local/share/man/man3/$(basename "$page")"; done
expect_files "after install" "$foreign $ours"
lib="$stage/usr/local/lib"
[ "$(readlink "$lib/libdoor.so")" = libdoor.so.1 ] && [ "$(readlink "$lib/libdoor.so.1")" = "$libfile" ] \
	|| fail "links: libdoor.so -> $(readlink "$lib/libdoor.so"), libdoor.so.1 -> $(readlink "$lib/libdoor.so.1")"
readelf -d "$lib/$libfile" | grep -q 'SONAME.*\[libdoor\.so\.1\]' || fail "$libfile's soname is not libdoor.so.1"

# Build against the staged copy only: its door.pc, its headers, its library.
export PKG_CONFIG_LIBDIR="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage"
# shellcheck disable=SC2046 # echo of the words drops pkg-config's trailing space
flags=$(echo $(pkg-config --cflags --libs door))
[ "$flags" = "-I$stage/usr/local/include/libdoor -L$lib -ldoor" ] || fail "pkg-config --cflags --libs door: $flags"
mkdir "$tmp/bin"
for prog in "$root/ported-apps/square/server.c" "$root/ported-apps/square/client.c" "$here/installed_headers.c"; do
	# shellcheck disable=SC2086 # $flags is a list of words
	cc -std=gnu11 -Wall -Wextra -Werror -o "$tmp/bin/$(basename "$prog" .c)" "$prog" $flags \
		|| fail "cc $(basename "$prog") \$(pkg-config --cflags --libs door)"
done

door="$tmp/square.door"
LD_LIBRARY_PATH="$lib" "$tmp/bin/server" "$door" > "$tmp/server.out" 2>&1 &
server=$!
for _ in $(seq 300); do [ -S "$door" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
[ -S "$door" ] || fail "the server did not attach $door in 30 s: $(cat "$tmp/server.out")"
grep -q " $lib/$libfile\$" "/proc/$server/maps" || fail "the server did not load the staged $libfile"

out=$(LD_LIBRARY_PATH="$lib" "$tmp/bin/client" "$door" 12 -7) || fail "client: $out"
grep -q "served by pid $server," <<<"$out" && grep -qx '12 squared is 144' <<<"$out" \
	&& grep -qx -- '-7 squared is 49' <<<"$out" || fail "client printed: $out"
# The installed doorctl finds the installed library and sees the server.
out=$(LD_LIBRARY_PATH="$lib" "$stage/usr/local/bin/doorctl" info "$door") || fail "doorctl info: $out"
grep -q "\[$server\]" <<<"$out" || fail "doorctl info printed: $out"
grep -q '^\.Dt DOOR_CALL 3' "$stage/usr/local/share/man/man3/door_call.3" || fail "door_call.3 not installed as a page"
out=$(LD_LIBRARY_PATH="$lib" "$tmp/bin/installed_headers" "$door" "$server") || fail "installed_headers: $out"

# The worked example: an interpreter that never linked libdoor, preloaded.
out=$(LD_PRELOAD="$lib/libdoor.so.1" python3 "$here/square.py" "$door" 5) || fail "square.py under LD_PRELOAD: $out"
[ "$out" = "5 squared is 25" ] || fail "square.py under LD_PRELOAD printed: $out"
if out=$(python3 "$here/square.py" "$door" 5 2>&1); then fail "square.py worked without LD_PRELOAD: $out"; fi
grep -q 'No such device or address' <<<"$out" || fail "square.py without LD_PRELOAD: $out"

kill "$server" || fail "the server ended early: $(cat "$tmp/server.out")"
wait "$server" 2>/dev/null || true; server=
make -s -C "$root" uninstall DESTDIR="$stage" PREFIX=/usr/local
expect_files "after uninstall" "$foreign"
[ ! -e "$stage/usr/local/include/libdoor" ] || fail "uninstall left usr/local/include/libdoor"

# LIBDIR and INCLUDEDIR are honoured, in the files and in door.pc.
make -s -C "$root" install DESTDIR="$stage" PREFIX=/opt/door LIBDIR=/opt/door/lib64 INCLUDEDIR=/opt/door/inc
expect_files "after install with LIBDIR and INCLUDEDIR" \
	"$foreign $(sed 's|usr/local/lib/|opt/door/lib64/|g; s|usr/local/include/|opt/door/inc/|g; s|usr/local/|opt/door/|g' <<<"$ours")"
PKG_CONFIG_LIBDIR="$stage/opt/door/lib64/pkgconfig" PKG_CONFIG_SYSROOT_DIR= pkg-config --cflags --libs door \
	| grep -qx -- '-I/opt/door/inc/libdoor -L/opt/door/lib64 -ldoor *' || fail "door.pc with LIBDIR and INCLUDEDIR"
make -s -C "$root" uninstall DESTDIR="$stage" PREFIX=/opt/door LIBDIR=/opt/door/lib64 INCLUDEDIR=/opt/door/inc
expect_files "after the second uninstall" "$foreign"
echo "install: ok ($libfile; built and ran 3 programs and a preloaded Python client against the staged copy)"
