//! `<ucred.h>`: the credential types illumos programs use.
#![allow(non_camel_case_types)]

/// An opaque credential record (illumos `struct ucred_s`).
pub struct ucred_s {
    _opaque: [u8; 0],
}

/// `ucred_t`: a self-contained credential record of `ucred_size()` bytes.
pub type ucred_t = ucred_s;

/// An opaque privilege set (illumos `struct priv_set`).
pub struct priv_set {
    _opaque: [u8; 0],
}

/// `priv_set_t`.
pub type priv_set_t = priv_set;

/// A privilege set name, such as `PRIV_EFFECTIVE`.
pub type priv_ptype_t = *const libc::c_char;

/// An opaque security label (illumos `struct _mac_label_impl`).
pub struct _mac_label_impl {
    _opaque: [u8; 0],
}

/// `m_label_t`.
pub type m_label_t = _mac_label_impl;

/// `bslabel_t`, the same type as `m_label_t`.
pub type bslabel_t = _mac_label_impl;

/// Zone id; Linux has one zone, the global zone 0.
pub type zoneid_t = libc::c_int;

/// Project id.
pub type projid_t = libc::c_int;

/// `ucred_get(P_MYID)`: the calling process.
pub const P_MYID: libc::pid_t = -1;
