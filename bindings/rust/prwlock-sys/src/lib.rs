//! Raw declarations of the C API of libprwlock, written from
//! `include/prwlock.h`, which is the contract: read it for what each
//! function does and returns. Every `int` function returns 0 or a positive
//! error number (an errno value, or [`PRW_EFORKED`]); errno is never used.
//!
//! The safe wrapper is the `prwlock` crate. A test of this crate checks that
//! every function the header declares is declared here.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint};

pub const PRW_VERSION_MAJOR: u32 = 1;

/// Flags of [`prw_open`].
pub const PRW_CREATE: c_int = 1;
pub const PRW_EXCL: c_int = 2;
pub const PRW_MULTIUSER: c_int = 4;

pub const PRW_DEFAULT_CAPACITY: c_uint = 1024;
pub const PRW_MAX_CAPACITY: c_uint = 4096;

/// Modes, as in [`prw_holder_t::mode`] and [`prw_acquire_slice`].
pub const PRW_MODE_READ: c_int = 1;
pub const PRW_MODE_WRITE: c_int = 2;

/// Returned in a fork child where the library cannot load its private copy.
pub const PRW_EFORKED: c_int = 1024;

/// A handle to an open lock. Opaque, never dereferenced.
#[repr(C)]
pub struct prw_lock {
    _private: [u8; 0],
    // Not Send, Sync or Unpin by itself: the safe crate decides.
    _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct prw_info_t {
    pub readers: u32,
    pub writer_pid: u32,
    pub writer_tid: u32,
    pub writer_active: u32,
    pub waiting_readers: u32,
    pub waiting_writers: u32,
    pub capacity: u32,
    pub used_slots: u32,
    pub attached: u32,
    pub owner_dead: u32,
    pub recoveries: u64,
    pub owner_deaths: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct prw_holder_t {
    pub pid: u32,
    pub tid: u32,
    pub mode: i32,
    pub waiting: i32,
    pub count: u32,
    pub reserved: u32,
    pub since_ns: i64,
}

/// An entry of [`prw_holders_ex`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct prw_holder_ex_t {
    pub h: prw_holder_t,
    pub owner: u64,
    pub fence: u64,
    pub host: [c_char; 256],
}

impl Default for prw_holder_ex_t {
    fn default() -> Self {
        prw_holder_ex_t { h: Default::default(), owner: 0, fence: 0, host: [0; 256] }
    }
}

extern "C" {
    pub fn prw_create(out: *mut *mut prw_lock) -> c_int;
    pub fn prw_create_ex(capacity: c_uint, out: *mut *mut prw_lock) -> c_int;
    pub fn prw_open(name: *const c_char, flags: c_int, mode: c_uint, out: *mut *mut prw_lock) -> c_int;
    pub fn prw_open_ex(
        name: *const c_char,
        flags: c_int,
        mode: c_uint,
        capacity: c_uint,
        out: *mut *mut prw_lock,
    ) -> c_int;
    pub fn prw_close(lock: *mut prw_lock) -> c_int;
    pub fn prw_unlink(name: *const c_char) -> c_int;

    pub fn prw_acquire_read(lock: *mut prw_lock, timeout_ns: i64) -> c_int;
    pub fn prw_acquire_write(lock: *mut prw_lock, timeout_ns: i64) -> c_int;
    pub fn prw_acquire_slice(lock: *mut prw_lock, mode: c_int, deadline_ns: i64, slice_end_ns: i64) -> c_int;
    pub fn prw_cancel(lock: *mut prw_lock) -> c_int;
    pub fn prw_try_acquire_read(lock: *mut prw_lock) -> c_int;
    pub fn prw_try_acquire_write(lock: *mut prw_lock) -> c_int;
    pub fn prw_release(lock: *mut prw_lock) -> c_int;
    pub fn prw_release_unrepaired(lock: *mut prw_lock) -> c_int;
    pub fn prw_downgrade(lock: *mut prw_lock) -> c_int;

    pub fn prw_acquire_read_as(lock: *mut prw_lock, owner: u64, timeout_ns: i64) -> c_int;
    pub fn prw_acquire_write_as(lock: *mut prw_lock, owner: u64, timeout_ns: i64) -> c_int;
    pub fn prw_try_acquire_read_as(lock: *mut prw_lock, owner: u64) -> c_int;
    pub fn prw_try_acquire_write_as(lock: *mut prw_lock, owner: u64) -> c_int;
    pub fn prw_acquire_slice_as(
        lock: *mut prw_lock,
        owner: u64,
        mode: c_int,
        deadline_ns: i64,
        slice_end_ns: i64,
    ) -> c_int;
    pub fn prw_cancel_as(lock: *mut prw_lock, owner: u64) -> c_int;
    pub fn prw_release_as(lock: *mut prw_lock, owner: u64) -> c_int;
    pub fn prw_release_unrepaired_as(lock: *mut prw_lock, owner: u64) -> c_int;
    pub fn prw_downgrade_as(lock: *mut prw_lock, owner: u64) -> c_int;

    pub fn prw_fence(lock: *mut prw_lock, fence: *mut u64) -> c_int;
    pub fn prw_serialize(lock: *mut prw_lock, buf: *mut c_char, len: *mut usize) -> c_int;
    pub fn prw_deserialize(token: *const c_char, out: *mut *mut prw_lock) -> c_int;
    pub fn prw_name(lock: *mut prw_lock, buf: *mut c_char, len: *mut usize) -> c_int;
    pub fn prw_is_anonymous(lock: *mut prw_lock) -> c_int;
    pub fn prw_info(lock: *mut prw_lock, info: *mut prw_info_t) -> c_int;
    pub fn prw_capacity(lock: *mut prw_lock, capacity: *mut u32) -> c_int;
    pub fn prw_holders(lock: *mut prw_lock, out: *mut prw_holder_t, cap: usize, count: *mut usize) -> c_int;
    pub fn prw_holders_ex(
        lock: *mut prw_lock,
        out: *mut prw_holder_ex_t,
        cap: usize,
        count: *mut usize,
    ) -> c_int;
    pub fn prw_strerror(err: c_int) -> *const c_char;
    pub fn prw_version() -> *const c_char;
}
