#!/usr/bin/env python3
"""square.py PATH NUMBER...: a client of ported-apps/square's server in
Python, a program that never linked libdoor. Run it as

    LD_PRELOAD=libdoor.so.1 python3 square.py PATH NUMBER...

The preloaded libdoor's open makes os.open of the attached PATH yield a
door descriptor, and door_call is found in the program's global scope
(dlopen(NULL)), where the preloaded library is. Without LD_PRELOAD,
os.open fails with ENXIO (PATH is a socket to libc).
"""
import ctypes
import os
import sys


class door_arg_t(ctypes.Structure):
    _fields_ = [
        ("data_ptr", ctypes.c_void_p),
        ("data_size", ctypes.c_size_t),
        ("desc_ptr", ctypes.c_void_p),
        ("desc_num", ctypes.c_uint),
        ("rbuf", ctypes.c_void_p),
        ("rsize", ctypes.c_size_t),
    ]


scope = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
for number in map(int, sys.argv[2:]):
    arg, result = ctypes.c_long(number), ctypes.c_long()
    call = door_arg_t(ctypes.addressof(arg), ctypes.sizeof(arg), None, 0,
                      ctypes.addressof(result), ctypes.sizeof(result))
    if scope.door_call(fd, ctypes.byref(call)) != 0:
        sys.exit("door_call: " + os.strerror(ctypes.get_errno()))
    print(number, "squared is", ctypes.c_long.from_address(call.data_ptr).value)
os.close(fd)
