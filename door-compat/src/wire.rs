//! The wire protocol: fixed-size messages on AF_UNIX SOCK_SEQPACKET sockets,
//! and the layout of a channel's shared region.
//!
//! Every message is exactly `MSG_LEN` bytes; descriptors ride along as
//! SCM_RIGHTS. Decoding never trusts the peer: the length, magic and kind are
//! checked here, and each size and count is checked against its limit where
//! it is used. `docs/ARCHITECTURE.md` describes who sends what, when.

use libc::c_int;

use crate::abi::DOOR_MAX_DESC;

/// "DOR7", little-endian; a new protocol version gets a new magic.
pub const MAGIC: u32 = 0x3752_4f44;
/// Every message's size.
pub const MSG_LEN: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// client → door socket: a new channel. fds: [channel end, region memfd].
    Hello = 1,
    /// client → door socket: describe the door. fds: [reply socket].
    Info = 2,
    /// server → reply socket, and server → door descriptor at creation
    /// (the "nameplate", only ever peeked): the door's identity.
    /// seq = uniquifier, a = procedure, b = cookie, c = pid, d = attributes.
    Identity = 3,
    /// attacher → door socket: serve this listening socket (an attachment).
    /// fds: [listener, reply socket]; a = mode, b = uid, c = gid of the
    /// covered file. Answered with Opened on the reply socket.
    Attach = 4,
    /// opener → attachment: open the door. d = the open(2) flags.
    Open = 5,
    /// fdetach → attachment: stop serving this attachment.
    Detach = 6,
    /// attachment → opener: d = errno (0: fds = [door descriptor]).
    Opened = 7,
    /// client → channel: a call. seq, a = data size, d = descriptor count,
    /// e = CALL_* flags. fds: descriptors, then the data memfd if CALL_DATA_MEMFD.
    Call = 8,
    /// server → channel: the results. seq, a = data size, c = errno,
    /// d = descriptor count, e = CALL_DATA_MEMFD. fds as for Call.
    Reply = 9,
    /// Either way on a channel, before a Call or Reply with more descriptors
    /// than one message carries: a batch of them. d = how many.
    Descs = 10,
    /// server → reply socket, after the Identity that answers Info: the
    /// door's limits. a = DATA_MAX, b = DATA_MIN, c = DESC_MAX.
    Params = 11,
    /// client → door socket: a new descriptor for this door, to pass on in
    /// a call (a reference of its own). fds: [reply socket]; the answer is
    /// Opened with the descriptor.
    Clone = 12,
    /// client → door socket: I gave up on call `seq` on channel `a` (the
    /// id the server wrote in the region). Lets the server cancel the thread
    /// serving it, unless the door is `DOOR_NO_CANCEL`.
    Abandon = 13,
}

impl Kind {
    fn from_u32(v: u32) -> Option<Kind> {
        use Kind::*;
        Some(match v {
            1 => Hello,
            2 => Info,
            3 => Identity,
            4 => Attach,
            5 => Open,
            6 => Detach,
            7 => Opened,
            8 => Call,
            9 => Reply,
            10 => Descs,
            11 => Params,
            12 => Clone,
            13 => Abandon,
            _ => return None,
        })
    }
}

/// Call/Reply flag: the data travels in a memfd of its own (too large for the region).
pub const DATA_MEMFD: u32 = 1;
/// Call flag: `door_call` was given no `door_arg_t`, so no results are accepted.
pub const NO_RESULTS: u32 = 2;
/// Call/Reply flag: the data is in the channel's bulk buffer of that
/// direction (for data larger than the region's area, up to `BULK_MAX`): a
/// sealed memfd its writer made once and reuses (`bulk.rs`).
pub const DATA_BULK: u32 = 4;
/// Call/Reply flag: with DATA_BULK, a new (larger) bulk buffer comes with
/// this message as the last descriptor, replacing the old one.
pub const NEW_BULK: u32 = 8;
/// Call flag: the argument bytes follow in a pipe of the call's own, whose
/// read end comes with the message as its last descriptor; the client
/// splices them in from its memory (`splice.rs`).
pub const DATA_PIPE: u32 = 16;
/// Call flag: with DATA_BULK (the buffer the server has), the argument is
/// being streamed through the buffer's window while the call travels
/// (`bulk::stream_in`): the server copies it out as the client writes it,
/// never from the buffer whole. Set on the socket copy of a call first
/// posted in the region.
pub const DATA_STREAMED: u32 = 32;
/// The largest bulk buffer a channel keeps; larger data uses a memfd per call.
pub const BULK_MAX: usize = 64 << 20;

/// Where the data of a Call or Reply is, as its flags say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    /// In the region's request (Call) or reply (Reply) area.
    Region,
    /// In the channel's bulk buffer of that direction; `new`: a new buffer
    /// came with the message as its last descriptor.
    Bulk { new: bool },
    /// In a memfd of its own, the message's last descriptor.
    Memfd,
    /// Coming through a pipe, the message's last descriptor (Calls only).
    Pipe,
}

/// What a Call or Reply carries, as its fields describe it, checked against
/// the descriptors that came with it: the peer's word, made consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Data bytes (checked against the region's area when they are there;
    /// against the bulk buffer or the memfd by whoever reads them).
    pub size: usize,
    /// The descriptors passed, the first `descs` of those received.
    pub descs: usize,
    pub data: Data,
}

impl Payload {
    /// Checks a Call or Reply `msg` against the `fds` descriptors received
    /// with it and its leading Descs batches; `area` is the capacity of the
    /// region area its data would be in. `None`: the peer broke the protocol.
    pub fn of(msg: &Msg, fds: usize, area: usize) -> Option<Payload> {
        let data = match (msg.e & DATA_MEMFD != 0, msg.e & DATA_BULK != 0, msg.e & DATA_PIPE != 0) {
            (true, false, false) => Data::Memfd,
            (false, true, false) => Data::Bulk { new: msg.e & NEW_BULK != 0 },
            (false, false, true) if msg.kind == Kind::Call => Data::Pipe,
            (false, false, false) => Data::Region,
            _ => return None,
        };
        if msg.e & DATA_STREAMED != 0 && (msg.kind != Kind::Call || data != (Data::Bulk { new: false })) {
            return None;
        }
        let extra = usize::from(matches!(data, Data::Memfd | Data::Bulk { new: true } | Data::Pipe));
        let descs = msg.d as usize;
        let size = usize::try_from(msg.a).ok()?;
        if descs > DOOR_MAX_DESC || descs + extra != fds || (data == Data::Region && size > area) {
            return None;
        }
        Some(Payload { size, descs, data })
    }
}

/// An errno a peer sent (a Reply's, the region's, an Opened answer's), as
/// the local caller gets it: anything but a plausible errno (1 to 4095) is
/// the peer breaking the protocol, `EPROTO`, so a hostile peer can never
/// make a call fail with errno 0 or a negative one.
pub fn peer_errno(v: u64) -> c_int {
    if (1..4096).contains(&v) { v as c_int } else { libc::EPROTO }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg {
    pub kind: Kind,
    pub seq: u64,
    pub a: u64,
    pub b: u64,
    pub c: u64,
    pub d: u32,
    pub e: u32,
}

impl Msg {
    pub fn new(kind: Kind) -> Msg {
        Msg { kind, seq: 0, a: 0, b: 0, c: 0, d: 0, e: 0 }
    }

    pub fn encode(&self) -> [u8; MSG_LEN] {
        let mut out = [0u8; MSG_LEN];
        out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&(self.kind as u32).to_le_bytes());
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..24].copy_from_slice(&self.a.to_le_bytes());
        out[24..32].copy_from_slice(&self.b.to_le_bytes());
        out[32..40].copy_from_slice(&self.c.to_le_bytes());
        out[40..44].copy_from_slice(&self.d.to_le_bytes());
        out[44..48].copy_from_slice(&self.e.to_le_bytes());
        out
    }

    /// Decodes a received message; `None` for anything malformed.
    pub fn decode(bytes: &[u8]) -> Option<Msg> {
        if bytes.len() != MSG_LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        if u32_at(0) != MAGIC {
            return None;
        }
        Some(Msg {
            kind: Kind::from_u32(u32_at(4))?,
            seq: u64_at(8),
            a: u64_at(16),
            b: u64_at(24),
            c: u64_at(32),
            d: u32_at(40),
            e: u32_at(44),
        })
    }
}

/// How many descriptors a message of `kind` carries when that number is
/// fixed; `None` for Call, Reply and Descs, whose count is in the message.
pub fn fixed_fd_count(kind: Kind) -> Option<usize> {
    use Kind::*;
    match kind {
        Hello => Some(2),
        Info | Clone => Some(1),
        Attach => Some(2),
        Identity | Open | Detach | Abandon | Params => Some(0),
        Opened | Call | Reply | Descs => None,
    }
}

/// Why a control message (on a door socket or an attachment connection)
/// was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Not `MSG_LEN` bytes, a wrong magic, or an unknown kind.
    Undecodable,
    /// A kind that is never sent this way.
    UnexpectedKind,
    /// Not the number of descriptors the kind carries.
    WrongFdCount,
}

/// Decodes a message a client sent to a server's control socket: a door
/// socket (`Hello`, `Info`, `Clone`, `Attach`, `Abandon`) or an attachment
/// connection (`Open`, `Detach`), with `nfds` descriptors attached. Pure:
/// bytes and a count in, a message that may be acted on or the reason it
/// may not out; the caller then closes the offender's connection.
pub fn decode_control(bytes: &[u8], nfds: usize, on_attachment: bool) -> Result<Msg, Malformed> {
    let msg = Msg::decode(bytes).ok_or(Malformed::Undecodable)?;
    let allowed: &[Kind] =
        if on_attachment { &[Kind::Open, Kind::Detach] } else { &[Kind::Hello, Kind::Info, Kind::Clone, Kind::Attach, Kind::Abandon] };
    if !allowed.contains(&msg.kind) {
        return Err(Malformed::UnexpectedKind);
    }
    if fixed_fd_count(msg.kind) != Some(nfds) {
        return Err(Malformed::WrongFdCount);
    }
    Ok(msg)
}

// ---------------------------------------------------------------------------
// A channel's shared region: made by the client, sealed against shrinking and
// growing, passed once in Hello, mapped by both sides for the channel's life.
//
//   0            header page: the request state word (below), and at
//                CHANNEL_ID_OFF the server's id for the channel, at
//                LIMITS_OFF the door's published limits
//   REQUEST_OFF  request data, written by the client, copied out by the server
//   REPLY_OFF    reply data, written by the server, copied out by the client

/// The state word (see `pending` and its successors).
pub const STATE_OFF: usize = 0;
/// Where the server writes its id for the channel (for Abandon).
pub const CHANNEL_ID_OFF: usize = 8;
/// Where the server publishes the door's state for the client's checks
/// before a call is sent (illumos makes them before choosing a server
/// thread): revoked (0/1), DATA_MIN, DATA_MAX, DESC_MAX, refuses
/// descriptors (0/1); one u64 each. The server checks again on receipt.
pub const LIMITS_OFF: usize = 16;
/// The hand-off words (`region.rs`): u32 futex words and flags, then the
/// region reply's header and the region request's header.
pub const MODE_OFF: usize = 64;
pub const REQ_WORD_OFF: usize = 68;
pub const SERVER_WAITING_OFF: usize = 72;
pub const REP_WORD_OFF: usize = 76;
/// `rep_word`'s bits, laid out as a robust futex word (deathwatch.rs): the
/// id of the server thread whose death marks it (0: not watched), the
/// kernel's mark of that death, and the client's "armed" bit
/// (`FUTEX_WAITERS`), which the server's reply clears.
pub const REP_ID_MASK: u32 = 0x3fff_ffff;
pub const REP_OWNER_DIED: u32 = 0x4000_0000;
pub const REP_ARMED: u32 = 0x8000_0000;
pub const CLIENT_WAITING_OFF: usize = 80;
pub const REQ_FLAGS_OFF: usize = 84;
pub const REQ_VIA_OFF: usize = 88;
pub const REP_SEQ_OFF: usize = 96;
pub const REP_ERRNO_OFF: usize = 104;
pub const REP_SIZE_OFF: usize = 112;
pub const REQ_SIZE_OFF: usize = 120;
/// The CPU (plus one) each side last ran on when it posted or waited.
pub const CLIENT_CPU_OFF: usize = 128;
pub const SERVER_CPU_OFF: usize = 132;
/// A call streamed through the bulk buffer (`region.rs`): how many of its
/// bytes the client has written so far (u64), a futex word it bumps after
/// each piece, and a flag the server sets while it sleeps on that word.
pub const BULK_READY_OFF: usize = 136;
pub const BULK_PROGRESS_OFF: usize = 144;
pub const BULK_WAITING_OFF: usize = 148;
/// When each side last woke the other with its post (the client's request,
/// the server's reply; CLOCK_MONOTONIC nanoseconds, u64): how long the
/// sleeper waited for it, without the wake-up's own delay, for its spin
/// budget (`spin::Budget::slept`). A lying peer only misleads how long
/// the other side spins, within the budget's limit.
pub const REQ_POSTED_NS_OFF: usize = 152;
pub const REP_POSTED_NS_OFF: usize = 160;
/// When the server had the whole of a streamed or spliced argument
/// (CLOCK_MONOTONIC nanoseconds, u64; the client zeroes it before such a
/// call): how long the way it was sent took, for the client's choice
/// between the two (`shared_cpu.rs`). A lying server only misleads that.
pub const ARG_TAKEN_NS_OFF: usize = 168;
/// A streamed argument (`bulk.rs`): how many of its bytes the server has
/// copied out so far (u64), which frees their place in the buffer's
/// window for the client's next piece; a futex word the server bumps
/// whenever it frees room; a flag the client sets while it sleeps on it.
pub const BULK_TAKEN_OFF: usize = 176;
pub const BULK_ROOM_OFF: usize = 184;
pub const BULK_ROOM_WAITING_OFF: usize = 188;
/// The ring of the bulk buffer a streamed argument goes round, bytes
/// (u64; `bulk::RING`), and where in it the argument starts (u64), both
/// chosen by the client for each such call.
pub const BULK_WINDOW_OFF: usize = 192;
pub const BULK_START_OFF: usize = 200;
/// Results announced in the region whose data is in the server's bulk
/// buffer: where in it they start (u64, whole pieces), and, for results
/// that would fit the reply area (from `bulk::RING_FROM` bytes), whether
/// they are in the buffer all the same (u32, 1) or in the reply area (0).
pub const REP_START_OFF: usize = 208;
pub const REP_IN_BULK_OFF: usize = 216;
pub const REQUEST_OFF: usize = 4096;
pub const REQUEST_CAP: usize = 64 * 1024;
pub const REPLY_OFF: usize = REQUEST_OFF + REQUEST_CAP;
pub const REPLY_CAP: usize = 64 * 1024;
pub const REGION_LEN: usize = REPLY_OFF + REPLY_CAP;
// Mapped whole pages: checked when the crate builds.
const _: () = assert!(REGION_LEN.is_multiple_of(4096));

// The request state word (offset 0) tells whether a server thread has taken a
// call: the client stores `pending(seq)` before sending, the server moves it
// to `picked(seq)` with a compare-and-swap when it takes the call, and a
// client interrupted while waiting tries to move it to `withdrawn(seq)`. The
// one that wins decides: withdrawn calls never run (EAGAIN), picked calls may
// have run (EINTR).
pub fn pending(seq: u64) -> u64 {
    seq << 2 | 1
}
pub fn picked(seq: u64) -> u64 {
    seq << 2 | 2
}
pub fn withdrawn(seq: u64) -> u64 {
    seq << 2 | 3
}
/// A taken call whose client gave up (interrupted): its server thread has
/// no client any more (`door_ucred` fails; results are discarded).
pub fn abandoned(seq: u64) -> u64 {
    seq << 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Msg { kind: Kind::Reply, seq: 7, a: 1 << 40, b: 3, c: u64::MAX, d: 9, e: DATA_MEMFD };
        assert_eq!(Msg::decode(&m.encode()), Some(m));
    }

    #[test]
    fn rejects_malformed() {
        let good = Msg::new(Kind::Call).encode();
        assert!(Msg::decode(&good[..MSG_LEN - 1]).is_none());
        let mut long = good.to_vec();
        long.push(0);
        assert!(Msg::decode(&long).is_none());
        let mut bad_magic = good;
        bad_magic[0] ^= 1;
        assert!(Msg::decode(&bad_magic).is_none());
        let mut bad_kind = good;
        bad_kind[4..8].copy_from_slice(&99u32.to_le_bytes());
        assert!(Msg::decode(&bad_kind).is_none());
        bad_kind[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert!(Msg::decode(&bad_kind).is_none());
    }

    #[test]
    fn payloads_match_their_descriptors() {
        let mut m = Msg::new(Kind::Call);
        m.a = 10;
        m.d = 2;
        assert_eq!(Payload::of(&m, 2, 64), Some(Payload { size: 10, descs: 2, data: Data::Region }));
        assert_eq!(Payload::of(&m, 3, 64), None);
        m.a = 65;
        assert_eq!(Payload::of(&m, 2, 64), None, "region data larger than the area");
        m.e = DATA_MEMFD;
        assert_eq!(Payload::of(&m, 3, 64), Some(Payload { size: 65, descs: 2, data: Data::Memfd }));
        assert_eq!(Payload::of(&m, 2, 64), None, "the memfd is missing");
        m.e = DATA_BULK;
        assert_eq!(Payload::of(&m, 2, 64), Some(Payload { size: 65, descs: 2, data: Data::Bulk { new: false } }));
        m.e = DATA_BULK | NEW_BULK;
        assert_eq!(Payload::of(&m, 3, 64), Some(Payload { size: 65, descs: 2, data: Data::Bulk { new: true } }));
        m.e = DATA_BULK | DATA_MEMFD;
        assert_eq!(Payload::of(&m, 3, 64), None);
        m.e = DATA_PIPE;
        assert_eq!(Payload::of(&m, 3, 64), Some(Payload { size: 65, descs: 2, data: Data::Pipe }));
        assert_eq!(Payload::of(&m, 2, 64), None, "the pipe is missing");
        m.e = DATA_PIPE | DATA_BULK;
        assert_eq!(Payload::of(&m, 3, 64), None);
        let mut reply = m;
        reply.kind = Kind::Reply;
        reply.e = DATA_PIPE;
        assert_eq!(Payload::of(&reply, 3, 64), None, "results never come through a pipe");
        m.e = DATA_BULK | DATA_STREAMED;
        assert_eq!(Payload::of(&m, 2, 64), Some(Payload { size: 65, descs: 2, data: Data::Bulk { new: false } }));
        for bad in [DATA_STREAMED, DATA_BULK | NEW_BULK | DATA_STREAMED, DATA_MEMFD | DATA_STREAMED] {
            m.e = bad;
            assert_eq!(Payload::of(&m, 3, 64), None, "streamed only through the bulk buffer the server has");
        }
        reply.e = DATA_BULK | DATA_STREAMED;
        assert_eq!(Payload::of(&reply, 2, 64), None, "streamed results are announced in the region");
        m.e = 0;
        m.a = 0;
        m.d = DOOR_MAX_DESC as u32 + 1;
        assert_eq!(Payload::of(&m, DOOR_MAX_DESC + 1, 64), None);
        m.d = u32::MAX;
        assert_eq!(Payload::of(&m, 0, 64), None);
    }

    #[test]
    fn peer_errnos_are_plausible() {
        assert_eq!(peer_errno(libc::EBADF as u64), libc::EBADF);
        for bad in [0, 4096, u64::MAX, (-5i64) as u64, 1 << 32 | 9, u32::MAX as u64] {
            assert_eq!(peer_errno(bad), libc::EPROTO, "{bad:#x}");
        }
    }

    /// The C tests that play a hostile peer (`tests/c/wire_test.h`) spell
    /// the protocol out again; they must say what this module says.
    #[test]
    fn c_tests_mirror_the_wire() {
        let header = include_str!("../../tests/c/wire_test.h");
        let value = |name: &str| -> u64 {
            let prefix = format!("#define WIRE_{name} ");
            let text = header.lines().find_map(|l| l.strip_prefix(prefix.as_str())).expect(name).trim();
            match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            }
            .expect(name)
        };
        let expected = [
            ("MAGIC", u64::from(MAGIC)),
            ("MSG_LEN", MSG_LEN as u64),
            ("KIND_INFO", Kind::Info as u64),
            ("KIND_IDENTITY", Kind::Identity as u64),
            ("KIND_DETACH", Kind::Detach as u64),
            ("KIND_PARAMS", Kind::Params as u64),
            ("KIND_OPENED", Kind::Opened as u64),
            ("KIND_CALL", Kind::Call as u64),
            ("STATE_OFF", STATE_OFF as u64),
            ("REQ_VIA_OFF", REQ_VIA_OFF as u64),
            ("REP_SEQ_OFF", REP_SEQ_OFF as u64),
            ("REP_ERRNO_OFF", REP_ERRNO_OFF as u64),
            ("REP_SIZE_OFF", REP_SIZE_OFF as u64),
            ("REQUEST_OFF", REQUEST_OFF as u64),
            ("REPLY_OFF", REPLY_OFF as u64),
            ("REGION_LEN", REGION_LEN as u64),
        ];
        for (name, want) in expected {
            assert_eq!(value(name), want, "WIRE_{name}");
        }
        assert_eq!(crate::region::VIA_SOCKET, 0, "wire_test.h stores 0 as req_via");
        let label = format!("#define WIRE_LABEL_PREFIX \"{}\"", String::from_utf8_lossy(crate::label::PREFIX).replace('\0', "\\0"));
        assert!(header.contains(&label), "{label}");
        assert_eq!(pending(5), 5 << 2 | 1, "WIRE_PENDING");
    }

    #[test]
    fn control_messages_carry_their_descriptors() {
        let hello = Msg::new(Kind::Hello).encode();
        assert_eq!(decode_control(&hello, 2, false).map(|m| m.kind), Ok(Kind::Hello));
        for n in [0, 1, 3, 253] {
            assert_eq!(decode_control(&hello, n, false), Err(Malformed::WrongFdCount));
        }
        assert_eq!(decode_control(&hello, 3, true), Err(Malformed::UnexpectedKind));
        let open = Msg::new(Kind::Open).encode();
        assert!(decode_control(&open, 0, true).is_ok());
        assert_eq!(decode_control(&open, 1, true), Err(Malformed::WrongFdCount));
        assert_eq!(decode_control(&open, 0, false), Err(Malformed::UnexpectedKind));
        for kind in [Kind::Call, Kind::Reply, Kind::Descs, Kind::Identity, Kind::Opened, Kind::Params] {
            assert_eq!(decode_control(&Msg::new(kind).encode(), 0, false), Err(Malformed::UnexpectedKind));
        }
        assert_eq!(decode_control(&open[..MSG_LEN - 1], 0, true), Err(Malformed::Undecodable));
        assert_eq!(decode_control(&[], 0, true), Err(Malformed::Undecodable));
    }

    #[test]
    fn states_are_distinct() {
        for seq in [0u64, 1, 1 << 40] {
            let s = [pending(seq), picked(seq), withdrawn(seq), abandoned(seq)];
            for i in 0..4 {
                for j in 0..i {
                    assert_ne!(s[i], s[j]);
                }
            }
        }
        assert_ne!(pending(1), pending(2));
    }
}
