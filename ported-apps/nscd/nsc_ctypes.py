#!/usr/bin/env python3
"""A name service cache client that never linked libdoor.

Run under LD_PRELOAD=.../libdoor.so: os.open() of the attached path goes
through libdoor's open and yields a door descriptor, and door_info and
door_call come from the preloaded library through ctypes.CDLL(None). It
checks the door as libc's client does (the cookie, not revoked, a live
server), then calls it with the request and the reply in one buffer
(data_ptr == rbuf); a reply too large for that buffer arrives in a
mapping door_call made, which is read and unmapped.

Usage: nsc_ctypes.py DOOR passwd|group KEY
Prints the entry as getent does; exit status 0 found, 2 not found,
1 no daemon or bad arguments.
"""
import ctypes
import os
import struct
import sys

NSC_VERSION = 1
NSC_DOOR_COOKIE = 0x4E534344 + NSC_VERSION
NSC_BUFSIZE = 8192
DOOR_REVOKED = 0x08
CALLS = {("passwd", False): 1, ("passwd", True): 2,
         ("group", False): 3, ("group", True): 4}
NSC_SUCCESS, NSC_NOTFOUND = 0, 1
HDR = struct.Struct("=8I")     # nsc_hdr_t: eight uint32_t


class DoorInfo(ctypes.Structure):
    """door_info_t: #pragma pack(4), 48 bytes."""
    _pack_ = 4
    _fields_ = [("di_target", ctypes.c_int32),
                ("di_proc", ctypes.c_uint64),
                ("di_data", ctypes.c_uint64),
                ("di_attributes", ctypes.c_uint32),
                ("di_uniquifier", ctypes.c_uint64),
                ("di_resv", ctypes.c_int32 * 4)]


class DoorArg(ctypes.Structure):
    """door_arg_t: natural layout, 48 bytes."""
    _fields_ = [("data_ptr", ctypes.c_void_p),
                ("data_size", ctypes.c_size_t),
                ("desc_ptr", ctypes.c_void_p),
                ("desc_num", ctypes.c_uint),
                ("rbuf", ctypes.c_void_p),
                ("rsize", ctypes.c_size_t)]


def fail(msg):
    print("nsc_ctypes: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("passwd", "group"):
        fail("usage: nsc_ctypes.py DOOR passwd|group KEY")
    path, db, key = sys.argv[1:]
    assert ctypes.sizeof(DoorInfo) == 48 and ctypes.sizeof(DoorArg) == 48

    libc = ctypes.CDLL(None, use_errno=True)    # libdoor is preloaded
    libc.door_info.argtypes = [ctypes.c_int, ctypes.POINTER(DoorInfo)]
    libc.door_call.argtypes = [ctypes.c_int, ctypes.POINTER(DoorArg)]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        fail("%s: %s" % (path, e.strerror))
    info = DoorInfo()
    if libc.door_info(fd, ctypes.byref(info)) != 0:
        fail("door_info: " + os.strerror(ctypes.get_errno()))
    if (info.di_data != NSC_DOOR_COOKIE or info.di_target == -1
            or info.di_attributes & DOOR_REVOKED):
        fail("%s is not a live nscd door" % path)

    byid = key.isdigit()
    name = b"" if byid else key.encode()
    buf = ctypes.create_string_buffer(NSC_BUFSIZE)
    req = HDR.pack(CALLS[(db, byid)], 0, 0, int(key) if byid else 0,
                   len(name), 0, 0, 0) + name
    ctypes.memmove(buf, req, len(req))
    arg = DoorArg(ctypes.addressof(buf), len(req), None, 0,
                  ctypes.addressof(buf), NSC_BUFSIZE)
    if libc.door_call(fd, ctypes.byref(arg)) != 0:
        fail("door_call: " + os.strerror(ctypes.get_errno()))
    reply = ctypes.string_at(arg.data_ptr, arg.data_size)
    if arg.rbuf != ctypes.addressof(buf):
        print("nsc_ctypes: %d-byte reply in a new %d-byte mapping"
              % (arg.data_size, arg.rsize), file=sys.stderr)
        libc.munmap(arg.rbuf, arg.rsize)
    os.close(fd)

    _, status, err, _, _, datalen, pid, _ = HDR.unpack_from(reply)
    print("nsc_ctypes: answered by pid %d" % pid, file=sys.stderr)
    if status == NSC_NOTFOUND:
        sys.exit(2)
    if status != NSC_SUCCESS:
        fail("nscd: " + os.strerror(err))
    sys.stdout.write(reply[HDR.size:HDR.size + datalen].decode())


if __name__ == "__main__":
    main()
