//! The API's lifecycles within one process: revocation on drop, detaching
//! on drop, unreferenced notifications, refused descriptors, concurrent
//! calls, and the procedure freed once its door is gone.

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, mpsc};

use common::{DEADLINE, TempDir};
use libdoor::{Args, Attributes, Client, Door, Request, Response, detach};

/// A procedure may be a function as well as a closure.
fn echo_procedure(req: Request<'_>) -> Response<'_> {
    Response::new(req.data())
}

fn echo() -> Door {
    Door::create(echo_procedure).unwrap()
}

#[test]
fn dropping_the_door_revokes_it() {
    let door = echo();
    let client = door.client().unwrap();
    assert_eq!(client.call(b"x").unwrap().data(), b"x");
    let info = door.info().unwrap();
    assert!(info.is_local() && !info.is_revoked());
    assert_eq!(info.server, Some(std::process::id() as i32));
    drop(door);
    assert_eq!(client.call(b"x").unwrap_err().raw_os_error(), Some(libc::EBADF));
    assert!(client.info().unwrap().is_revoked());
}

#[test]
fn the_procedure_is_freed_with_its_door() {
    let state = Arc::new(());
    let captured = state.clone();
    let door = Door::create(move |_req| {
        let _ = &captured;
        Response::empty()
    })
    .unwrap();
    door.client().unwrap().call(b"").unwrap();
    assert_eq!(Arc::strong_count(&state), 2);
    drop(door);
    assert_eq!(Arc::strong_count(&state), 1);
}

#[test]
fn dropping_the_attachment_detaches() {
    let dir = TempDir::new("detach");
    let path = dir.file("door");
    let door = echo();
    let attachment = door.attach(&path).unwrap();
    assert_eq!(attachment.path(), path);
    let client = Client::open(&path).unwrap();
    assert_eq!(client.info().unwrap().id, door.info().unwrap().id);
    // Attached twice: EBUSY, as on illumos.
    assert_eq!(door.attach(&path).unwrap_err().raw_os_error(), Some(libc::EBUSY));
    drop(attachment);
    assert_eq!(Client::open(&path).unwrap_err().raw_os_error(), Some(libc::ENOTSUP));
    assert_eq!(std::fs::read(&path).unwrap(), b"covered");
    // Opened before: still works.
    assert_eq!(client.call(b"y").unwrap().data(), b"y");

    // Kept: attached until detached by path.
    let kept = door.attach(&path).unwrap().keep();
    assert!(Client::open(&kept).is_ok());
    detach(&kept).unwrap();
    assert_eq!(detach(&kept).unwrap_err().raw_os_error(), Some(libc::EINVAL));
}

#[test]
fn opening_what_is_no_door() {
    let dir = TempDir::new("open");
    let file = dir.file("plain");
    assert_eq!(Client::open(dir.path().join("missing")).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    assert_eq!(Client::open(&file).unwrap_err().raw_os_error(), Some(libc::ENOTSUP));
    let fd: OwnedFd = std::fs::File::open(&file).unwrap().into();
    assert_eq!(Client::from_fd(fd).unwrap_err().raw_os_error(), Some(libc::EBADF));
}

#[test]
fn unreferenced_notification() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let door = Door::create_with(Attributes::UNREF, move |req| {
        if req.is_unref() {
            tx.lock().unwrap().send(()).unwrap();
        }
        Response::empty()
    })
    .unwrap();
    let client = door.client().unwrap();
    client.call(b"").unwrap();
    drop(client);
    rx.recv_timeout(DEADLINE).expect("an unreferenced notification");
}

#[test]
fn attributes_this_api_cannot_serve() {
    for a in [Attributes::PRIVATE, Attributes::REVOKED, Attributes::UNREF | Attributes::UNREF_MULTI] {
        assert_eq!(Door::create_with(a, echo_procedure).unwrap_err().raw_os_error(), Some(libc::EINVAL), "{a:?}");
    }
}

#[test]
fn refused_descriptors() {
    let door = Door::create_with(Attributes::REFUSE_DESC, |_| Response::empty()).unwrap();
    assert!(door.info().unwrap().attributes.contains(Attributes::REFUSE_DESC));
    let client = door.client().unwrap();
    let e = client.call(Args::new(b"").fd(client.as_fd())).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTSUP));
    // A given descriptor is closed even when the call fails.
    let (r, w) = common::pipe();
    assert!(client.call(Args::new(b"").give_fd(w)).is_err());
    assert!(common::read_all(r).is_empty());
}

#[test]
fn concurrent_calls() {
    let door = echo();
    let client = door.client().unwrap();
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let client = &client;
            s.spawn(move || {
                for i in 0..200u32 {
                    let msg = [&[t][..], &i.to_le_bytes()].concat();
                    assert_eq!(client.call(&msg).unwrap().data(), msg);
                }
            });
        }
    });
}

#[test]
fn a_door_passed_to_itself() {
    // The procedure calls the door it receives (another door of ours).
    let inner = echo();
    let outer = Door::create(|mut req| {
        let client = Client::from_fd(req.take_fds().pop().unwrap()).unwrap();
        let reply = client.call(b"nested").unwrap();
        Response::new(reply.data().to_vec())
    })
    .unwrap();
    let reply = outer.client().unwrap().call(Args::new(b"").fd(inner.as_fd())).unwrap();
    assert_eq!(reply.data(), b"nested");
}
