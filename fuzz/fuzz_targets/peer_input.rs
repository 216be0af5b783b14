//! Everything libdoor decodes from a peer, fed arbitrary bytes: wire
//! messages (with the number of descriptors that came with each), the
//! fields of Calls and Replies, the errnos peers send, and attachment
//! records (the `meta` file an attacher writes and every opener reads).
//!
//! The first byte chooses what the rest is. Each decoder must never panic
//! (libFuzzer reports a crash), and what it accepts must be consistent:
//! the checks below are the properties the server and client rely on.
#![no_main]

use door::fuzzing::{Data, Identity, Kind, MAGIC, MSG_LEN, Meta, Msg, Payload, REPLY_CAP, REQUEST_CAP, peer_errno};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which & 1 == 0 { messages(rest) } else { meta(rest) }
});

/// Frames of `[descriptor count: u16 LE][length: u8][length bytes]`, as a
/// socket delivers them: each is decoded and, if it is a message, checked.
fn messages(mut input: &[u8]) {
    while input.len() >= 3 {
        let fds = usize::from(u16::from_le_bytes([input[0], input[1]]));
        let len = usize::from(input[2]).min(input.len() - 3);
        let bytes = &input[3..3 + len];
        input = &input[3 + len..];
        if let Some(msg) = Msg::decode(bytes) {
            message(&msg, bytes, fds);
        } else {
            assert!(bytes.len() != MSG_LEN || bytes[..4] != MAGIC.to_le_bytes() || !known_kind(bytes));
        }
    }
}

fn known_kind(bytes: &[u8]) -> bool {
    (1..=13).contains(&u32::from_le_bytes(bytes[4..8].try_into().unwrap()))
}

fn message(msg: &Msg, bytes: &[u8], fds: usize) {
    // Decoding loses nothing: the message encodes back to its bytes.
    assert_eq!(&msg.encode()[..], bytes);
    assert_eq!(Identity::from_msg(msg).is_some(), msg.kind == Kind::Identity);
    for area in [REQUEST_CAP, REPLY_CAP] {
        if let Some(p) = Payload::of(msg, fds, area) {
            payload(msg, &p, fds, area);
        }
    }
    for v in [msg.c, u64::from(msg.d), msg.a] {
        let e = peer_errno(v);
        assert!((1..4096).contains(&e));
        assert!(e == libc::EPROTO || u64::try_from(e) == Ok(v));
    }
}

/// What the server and client rely on from an accepted Call or Reply.
fn payload(msg: &Msg, p: &Payload, fds: usize, area: usize) {
    assert!(p.descs <= 1024, "more descriptors than illumos allows");
    assert_eq!(p.descs, msg.d as usize);
    assert_eq!(p.size as u64, msg.a);
    let extra = match p.data {
        Data::Region => {
            assert!(p.size <= area, "region data past its area");
            0
        }
        Data::Bulk { new } => usize::from(new),
        Data::Memfd => 1,
        Data::Pipe => {
            assert_eq!(msg.kind, Kind::Call, "a pipe carries only arguments");
            1
        }
    };
    assert_eq!(p.descs + extra, fds, "descriptors do not add up");
}

/// An attachment record: whatever decodes must describe a mode within
/// 07777 and survive re-encoding unchanged.
fn meta(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Some(m) = Meta::decode(text) {
        assert_eq!(m.perm.0 & !0o7777, 0);
        assert_eq!(Meta::decode(&m.encode()), Some(m));
    }
}
