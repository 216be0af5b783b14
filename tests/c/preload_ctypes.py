#!/usr/bin/env python3
"""An unmodified interpreter as a door client, through LD_PRELOAD alone.

run.sh runs this script with LIBDOOR_LIB pointing at libdoor.so. The script
plays three roles, each in its own process:

- the orchestrator (no arguments): makes a file, starts the server and the
  client, checks what they report, and that the server detached cleanly;
- the server (`server PATH`): loads libdoor with ctypes, creates a door
  whose procedure is built from a ctypes callback, attaches it at PATH,
  says "ready", serves until its stdin closes, then fdetaches;
- the client (`client PATH SERVER_PID`): run as `env
  LD_PRELOAD=$LIBDOOR_LIB python3 this-script client PATH SERVER_PID`. It never loads libdoor itself: os.open goes
  through the interposed open because of LD_PRELOAD, and door_call and
  door_info are looked up in the global scope (dlopen(NULL)), where only
  the preloaded library provides them.

Prints "ok" and exits 0 on success.

Why the server's procedure is not simply the ctypes callback calling
door_return: door_return never returns; libdoor siglongjmps back to its
service loop, abandoning the caller's frames as illumos does. When those
frames include CPython's evaluation loop, the interpreter is left with
tstate->cframe pointing into the abandoned stack (CPython 3.11), and the
next invocation's callback reads garbage from it: its tracing flag is ORed
into every opcode, and the callback dies with "XXX lineno: N, opcode: M"
(SystemError); the procedure then returns, the server thread ends, and the
client's door_call fails with EINTR. So the procedure is a 43-byte x86-64
trampoline, written into an executable page at run time (nothing is
compiled): it calls the ctypes callback, which returns normally with a
pointer to its reply, then tail-calls door_return(reply, len, NULL, 0).
Only the trampoline's frame is abandoned; every Python frame has returned.
"""

import ctypes
import errno
import mmap
import os
import platform
import select
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

DOOR_REVOKED = 0x08


class door_arg_t(ctypes.Structure):
    _fields_ = [
        ("data_ptr", ctypes.c_void_p),
        ("data_size", ctypes.c_size_t),
        ("desc_ptr", ctypes.c_void_p),
        ("desc_num", ctypes.c_uint),
        ("rbuf", ctypes.c_void_p),
        ("rsize", ctypes.c_size_t),
    ]


class door_info_t(ctypes.Structure):
    _pack_ = 4
    _fields_ = [
        ("di_target", ctypes.c_int),
        ("di_proc", ctypes.c_uint64),
        ("di_data", ctypes.c_uint64),
        ("di_attributes", ctypes.c_uint),
        ("di_uniquifier", ctypes.c_uint64),
        ("di_resv", ctypes.c_int * 4),
    ]


assert ctypes.sizeof(door_arg_t) == 48, ctypes.sizeof(door_arg_t)
assert ctypes.sizeof(door_info_t) == 48, ctypes.sizeof(door_info_t)

class reply_t(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t)]


# The Python half of the procedure: (cookie, argp, size, dp, n) -> reply_t *
PY_PROC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_void_p, ctypes.c_uint)


def fail(msg):
    sys.stderr.write("FAIL preload_ctypes (%s): %s\n" % (sys.argv[1] if len(sys.argv) > 1 else "main", msg))
    sys.stderr.flush()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def library_path():
    lib = os.environ.get("LIBDOOR_LIB")
    if not lib or not os.path.exists(lib):
        fail("LIBDOOR_LIB is not set to libdoor.so (got %r)" % lib)
    return os.path.realpath(lib)


def mapped_libdoor():
    """Paths of mapped files named like libdoor in this process."""
    with open("/proc/self/maps") as f:
        return {line.split()[-1] for line in f if "libdoor" in line.split()[-1]}


# --------------------------------------------------------------------------
# Server.

def make_procedure(py_proc, door_return):
    """An x86-64 door server procedure: calls py_proc with the procedure's
    arguments, then tail-calls door_return(r->data, r->size, NULL, 0) with the
    reply_t *r it returned. Returns (address, the mapping that holds it)."""
    code = b"".join([
        b"\x48\x83\xec\x08",                            # sub rsp, 8 (align)
        b"\x48\xb8" + py_proc.to_bytes(8, "little"),      # movabs rax, py_proc
        b"\xff\xd0",                                    # call rax
        b"\x48\x83\xc4\x08",                            # add rsp, 8
        b"\x48\x8b\x38",                                # mov rdi, [rax]
        b"\x48\x8b\x70\x08",                            # mov rsi, [rax + 8]
        b"\x31\xd2",                                    # xor edx, edx
        b"\x31\xc9",                                    # xor ecx, ecx
        b"\x48\xb8" + door_return.to_bytes(8, "little"),  # movabs rax, door_return
        b"\xff\xe0",                                    # jmp rax
    ])
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    page.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.mprotect(addr, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        fail("mprotect: errno %d" % ctypes.get_errno())
    return addr, page


def server(path):
    lib = ctypes.CDLL(library_path(), use_errno=True)
    lib.door_create.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint]
    lib.door_create.restype = ctypes.c_int
    lib.fattach.argtypes = [ctypes.c_int, ctypes.c_char_p]
    lib.fdetach.argtypes = [ctypes.c_char_p]

    # Each server thread's last reply stays alive until its next call;
    # door_return copies it before it jumps anyway.
    replies = {}

    def procedure(cookie, argp, size, dp, n):
        try:
            data = ctypes.string_at(argp, size) if argp and size else b""
            out = b"pong:" + data[::-1] + b":%d" % os.getpid()
        except BaseException as e:  # never return NULL to the trampoline
            out = b"error:" + repr(e).encode()
        buf = ctypes.create_string_buffer(out, len(out))
        r = reply_t(ctypes.addressof(buf), len(out))
        replies[threading.get_ident()] = (buf, r)
        return ctypes.addressof(r)

    py_proc = PY_PROC(procedure)
    addr, page = make_procedure(ctypes.cast(py_proc, ctypes.c_void_p).value,
                                ctypes.cast(lib.door_return, ctypes.c_void_p).value)
    d = lib.door_create(addr, None, 0)
    check(d >= 0, "door_create: errno %d" % ctypes.get_errno())
    if lib.fattach(d, os.fsencode(path)) != 0:
        fail("fattach: errno %d" % ctypes.get_errno())
    sys.stdout.write("ready %d\n" % os.getpid())
    sys.stdout.flush()
    # Serve until the orchestrator closes our stdin.
    while os.read(0, 1):
        pass
    if lib.fdetach(os.fsencode(path)) != 0:
        fail("fdetach: errno %d" % ctypes.get_errno())
    sys.stdout.write("detached\n")
    sys.stdout.flush()
    # The door's threads are parked in libdoor and the trampoline page
    # must outlive them: leave without finalising the interpreter.
    os._exit(0)


# --------------------------------------------------------------------------
# Client.

def client(path, server_pid):
    lib = library_path()
    check(os.environ.get("LD_PRELOAD") == os.environ.get("LIBDOOR_LIB"), "LD_PRELOAD is not libdoor")
    # libdoor is here only because of LD_PRELOAD: mapped, from the start.
    maps = mapped_libdoor()
    check(maps == {lib}, "libdoor mappings %r, wanted {%r}" % (maps, lib))

    glob = ctypes.CDLL(None, use_errno=True)
    door_call = glob.door_call
    door_call.argtypes = [ctypes.c_int, ctypes.POINTER(door_arg_t)]
    door_call.restype = ctypes.c_int
    door_info = glob.door_info
    door_info.argtypes = [ctypes.c_int, ctypes.POINTER(door_info_t)]
    door_info.restype = ctypes.c_int

    # A plain os.open: the interposed open hands back a door descriptor.
    fd = os.open(path, os.O_RDONLY)
    check(fd >= 0, "os.open gave %d" % fd)

    info = door_info_t()
    if door_info(fd, ctypes.byref(info)) != 0:
        fail("door_info: errno %d" % ctypes.get_errno())
    check(info.di_target == server_pid, "di_target %d, wanted %d" % (info.di_target, server_pid))
    check((info.di_attributes & DOOR_REVOKED) == 0, "door reported revoked")
    check(info.di_uniquifier != 0, "no uniquifier")

    # Many calls: each one abandons a trampoline frame in the server.
    for msg in [b"hello", b"x" * 3000, b""] + [b"call %d" % i for i in range(200)]:
        arg = ctypes.create_string_buffer(msg, len(msg)) if msg else None
        rbuf = ctypes.create_string_buffer(64)
        a = door_arg_t(ctypes.cast(arg, ctypes.c_void_p) if arg else None, len(msg), None, 0,
                       ctypes.cast(rbuf, ctypes.c_void_p), ctypes.sizeof(rbuf))
        if door_call(fd, ctypes.byref(a)) != 0:
            fail("door_call(%d bytes): errno %d" % (len(msg), ctypes.get_errno()))
        got = ctypes.string_at(a.data_ptr, a.data_size)
        want = b"pong:" + msg[::-1] + b":%d" % server_pid
        check(got == want, "door_call(%d bytes) answered %r..., wanted %r..." % (len(msg), got[:40], want[:40]))
        if a.rbuf != ctypes.cast(rbuf, ctypes.c_void_p).value:
            # Results overflowed rbuf into a fresh mapping: unmap it.
            check(a.data_size > ctypes.sizeof(rbuf), "rbuf replaced for a small result")
            munmap = glob.munmap
            munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            check(munmap(a.rbuf, a.rsize) == 0, "munmap")
        else:
            check(a.data_size <= ctypes.sizeof(rbuf), "big result claimed to fit in rbuf")
    os.close(fd)

    # os.open with other flags; O_CLOEXEC is what Python itself adds.
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    check(door_info(fd, ctypes.byref(info)) == 0 and info.di_target == server_pid, "O_RDWR open")
    check(not os.get_inheritable(fd), "O_CLOEXEC not honoured")
    os.close(fd)
    # Python's built-in open() on the door path: the descriptor is a door.
    with open(path, "rb", buffering=0) as f:
        check(door_info(f.fileno(), ctypes.byref(info)) == 0 and info.di_target == server_pid, "builtin open")

    # Everything else is untouched: missing files, plain files, sockets.
    try:
        os.open(path + ".missing", os.O_RDONLY)
        fail("missing path opened")
    except FileNotFoundError:
        pass
    with open(__file__, "rb") as f:
        check(f.read(2) == b"#!", "reading a plain file")
    sock_path = os.path.join(os.path.dirname(path), "plain.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock_path)
    try:
        os.open(sock_path, os.O_RDONLY)
        fail("a plain socket opened")
    except OSError as e:
        check(e.errno == errno.ENXIO, "plain socket: errno %d, wanted ENXIO" % e.errno)
    s.close()
    os.unlink(sock_path)

    # Still nothing but the preloaded copy.
    check(mapped_libdoor() == {lib}, "libdoor mapped again: %r" % mapped_libdoor())
    print("client ok")


# --------------------------------------------------------------------------
# Orchestrator.

def read_line(f, deadline):
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        check(left > 0, "timed out waiting for the server (got %r)" % buf)
        r, _, _ = select.select([f], [], [], left)
        if r:
            c = os.read(f.fileno(), 1)
            check(c != b"", "server ended early (got %r)" % buf)
            buf += c
    return buf.decode().strip()


def main():
    if platform.machine() not in ("x86_64", "AMD64"):
        print("note: the server's trampoline is x86-64 code; skipped on %s" % platform.machine())
        print("ok")
        return
    lib = library_path()
    check(not mapped_libdoor(), "the orchestrator must not have libdoor loaded")
    base = os.environ.get("LIBDOOR_TEST_TMP", "/tmp")
    with tempfile.TemporaryDirectory(prefix="preload_ctypes.", dir=base) as d:
        os.chmod(d, 0o755)
        path = os.path.join(d, "door")
        with open(path, "w") as f:
            f.write("covered\n")
        os.chmod(path, 0o644)
        before = os.stat(path)

        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        srv = subprocess.Popen([sys.executable, os.path.abspath(__file__), "server", path],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        try:
            line = read_line(srv.stdout, time.monotonic() + 20)
            check(line.startswith("ready "), "server said %r" % line)
            server_pid = int(line.split()[1])
            check(server_pid == srv.pid, "server pid")
            check(not stat.S_ISREG(os.stat(path).st_mode), "path not attached")

            cli = subprocess.run(["env", "LD_PRELOAD=" + lib, sys.executable, os.path.abspath(__file__),
                                  "client", path, str(server_pid)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, env=env)
            sys.stderr.write(cli.stderr.decode())
            check(cli.returncode == 0, "client exited with %d" % cli.returncode)
            check(cli.stdout.decode().strip() == "client ok", "client said %r" % cli.stdout)

            srv.stdin.close()
            line = read_line(srv.stdout, time.monotonic() + 20)
            check(line == "detached", "server said %r" % line)
            check(srv.wait(timeout=20) == 0, "server exit status %r" % srv.returncode)
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()
        after = os.stat(path)
        check(stat.S_ISREG(after.st_mode) and after.st_ino == before.st_ino, "covered file not restored")
        with open(path) as f:
            check(f.read() == "covered\n", "covered file content")
        check(not os.path.exists(os.path.join(d, ".door.door")), "stash left behind")
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "server":
        server(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]))
    else:
        main()
