//! A reader-writer lock shared by the processes of one machine, and by the
//! threads of each: a safe binding of libprwlock (`include/prwlock.h` is the
//! contract; this crate adds no semantics of its own).
//!
//! ```no_run
//! use prwlock::Lock;
//!
//! let lock = Lock::open_or_create("jobs")?;
//! {
//!     let g = lock.write()?; // held until g is dropped
//!     if g.owner_died() {
//!         // a writer died holding the lock: repair the data, then say so
//!     }
//! }
//! let r = lock.read()?;
//! drop(r);
//! # Ok::<(), prwlock::Error>(())
//! ```
//!
//! # Who holds
//!
//! [`Lock::read`], [`Lock::write`] and their `try_`/`_for` forms take the
//! lock for the **calling OS thread**, as a pthread rwlock does. Their
//! guards are neither `Send` nor `Sync`: the thread that acquired releases.
//! A thread that exits holding the lock loses its holds (a write hold as if
//! it had died).
//!
//! The `_as` forms ([`Lock::write_as`], ...) take it for an explicit
//! [`Owner`]: a nonzero 64-bit value of your choosing (a task, a job, a
//! request). Their guards are `Send`, so the hold can move between threads,
//! and be released on another one, as async runtimes and thread pools need.
//! An owner's holds end when released, when the process dies, or when the
//! process closes its last handle on the lock's file; never when a thread
//! exits. Owners and threads are distinct holders: a thread's hold cannot be
//! released as an owner's, nor the reverse.
//!
//! Both follow the same rules: reads are recursive, asking again in a
//! conflicting mode is [`ErrorKind::Deadlock`] instead of a hang, a waiting
//! writer keeps new readers out, and the holds of a process that dies (even
//! by SIGKILL) are recovered by the others.
//!
//! # Owner died
//!
//! When a writer died holding the lock, the data it protected may be half
//! written. The next acquisitions still succeed, but their guards report
//! [`WriteGuard::owner_died`] (and [`ReadGuard::owner_died`]). A write guard
//! that was told so keeps the lock marked "owner died" when dropped, until
//! you call [`WriteGuard::mark_consistent`] after repairing the data. This
//! is the C API's `prw_release` versus `prw_release_unrepaired`, with the
//! safe choice as the default.
#![warn(missing_docs)]

mod error;
mod guard;
mod lock;

pub use error::{Error, ErrorKind, Result};
pub use guard::{OwnerReadGuard, OwnerWriteGuard, ReadGuard, WriteGuard};
pub use lock::{Holder, Info, Lock, Mode, OpenOptions, Owner};

/// The version of the loaded library, `"MAJOR.MINOR.PATCH"`.
pub fn version() -> &'static str {
    // SAFETY: prw_version returns a static NUL-terminated ASCII string.
    unsafe { std::ffi::CStr::from_ptr(prwlock_sys::prw_version()) }
        .to_str()
        .unwrap_or("")
}

// The README's example compiles with the tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
