//! A Rust program that links libdoor as an rlib gets what a C program
//! linked with -ldoor gets: the library's constructor runs before `main`,
//! and the program's own `open`, `stat` and `dup` calls (Rust's `std`
//! included) are libdoor's. One test only, so that nothing else in this
//! binary touches libdoor first.

mod common;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use libdoor::{Client, Door, Response};

/// The socket inode behind a descriptor.
fn socket_of(fd: &impl AsRawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap().to_string_lossy().into_owned()
}

#[test]
fn constructor_and_interposers() {
    assert!(door::rust::initialised(), "libdoor's constructor did not run before main");

    let dir = common::TempDir::new("linkage");
    let path = dir.file("door");
    let door = Door::create(|req| Response::new(req.data())).unwrap();
    let _attachment = door.attach(&path).unwrap();

    // std's open of an attached path gives a door.
    let fd: OwnedFd = std::fs::File::open(&path).unwrap().into();
    // stat says S_IFDOOR, for the path and for the descriptor.
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & libc::S_IFMT, 0xd000);
    assert_eq!(std::fs::File::from(fd.try_clone().unwrap()).metadata().unwrap().mode() & libc::S_IFMT, 0xd000);
    // dup (std's try_clone) makes a reference of its own: another socket.
    let copy = fd.as_fd().try_clone_to_owned().unwrap();
    assert_ne!(socket_of(&fd), socket_of(&copy));
    let client = Client::from_fd(copy).unwrap();
    assert_eq!(client.call(b"linked").unwrap().data(), b"linked");
    assert_eq!(Client::from_fd(fd).unwrap().info().unwrap().id, door.info().unwrap().id);
}
