#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, one valid input of each
kind, in each target's framing:

- peer_input: first byte 0 = messages, 1 = attachment record; a message
  frame is [descriptor count u16 LE][length u8][bytes];
- door_socket: a 48-byte message, then one byte per descriptor to send
  with it (fuzz_targets/door_socket.rs, `make`: 0 socket, 1 sealed region
  memfd, 4 eventfd, ...).

The message layout is docs/ARCHITECTURE.md's "Wire protocol": 48 bytes,
magic "DOR7", kind, seq, a, b, c (u64), d, e (u32). Run from anywhere; it
replaces fuzz/corpus/*/seed-*."""
import os
import struct

MAGIC = 0x37524F44
DATA_MEMFD, NO_RESULTS, DATA_BULK, NEW_BULK, DATA_STREAMED = 1, 2, 4, 8, 32


def msg(kind, seq=0, a=0, b=0, c=0, d=0, e=0):
    return struct.pack("<IIQQQQII", MAGIC, kind, seq, a, b, c, d, e)


def frame(fds, m):
    return struct.pack("<HB", fds, len(m)) + m


# (name, [(descriptors, message)...]): what each side really sends.
MESSAGES = [
    ("hello", [(2, msg(1))]),
    ("info", [(1, msg(2))]),
    ("identity-params", [(0, msg(3, seq=0x1234, a=0x401000, b=7, c=4242, d=0x10)),
                         (0, msg(11, a=2**64 - 1, b=0, c=2**31 - 1))]),
    ("attach", [(2, msg(4, a=0o644, b=1000, c=100))]),
    ("open-opened", [(0, msg(5, d=os.O_RDWR)), (1, msg(7))]),
    ("detach-eperm", [(0, msg(6)), (0, msg(7, d=1))]),
    ("call-region", [(0, msg(8, seq=1, a=64, e=NO_RESULTS))]),
    ("call-descs", [(253, msg(10, seq=2, d=253)), (2, msg(8, seq=2, a=16, d=255))]),
    ("call-memfd", [(1, msg(8, seq=3, a=128 << 20, e=DATA_MEMFD))]),
    ("call-bulk", [(1, msg(8, seq=4, a=1 << 20, e=DATA_BULK | NEW_BULK)),
                   (0, msg(8, seq=5, a=1 << 20, e=DATA_BULK)),
                   (0, msg(8, seq=6, a=4 << 20, e=DATA_BULK | DATA_STREAMED))]),
    ("reply", [(0, msg(9, seq=1, a=10)), (0, msg(9, seq=2, c=9)), (1, msg(9, seq=3, a=70000, e=DATA_MEMFD))]),
    ("clone-abandon", [(1, msg(12)), (0, msg(13, seq=9, a=3))]),
]

# door_socket: (name, message, descriptor kinds).
DOOR_SOCKET = [
    ("hello", msg(1), [0, 1]),
    ("hello-unsealed", msg(1), [0, 2]),
    ("hello-short-region", msg(1), [0, 3]),
    ("hello-not-a-socket", msg(1), [5, 1]),
    ("info", msg(2), [0]),
    ("clone", msg(12), [0]),
    ("abandon", msg(13, seq=1, a=2), []),
    ("call-on-door", msg(8, seq=1, a=1), [1]),
]

META = ("libdoor-attachment 1\ndev 2049\nino 123456\nmode 644\nuid 1000\ngid 100\n"
        "uniq deadbeef00000001\n")


def corpus(target):
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", target)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.startswith("seed-"):
            os.remove(os.path.join(out, f))
    return out


def main():
    out = corpus("peer_input")
    for name, frames in MESSAGES:
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(b"\0" + b"".join(frame(n, m) for n, m in frames))
    with open(os.path.join(out, "seed-meta"), "wb") as f:
        f.write(b"\1" + META.encode())
    out = corpus("door_socket")
    for name, m, kinds in DOOR_SOCKET:
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(m + bytes(kinds))


if __name__ == "__main__":
    main()
