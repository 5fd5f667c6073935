//! The lock handle, how to open one, owners, and inspection.
use std::ffi::CString;
use std::num::NonZeroU64;
use std::os::raw::{c_char, c_int};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prwlock_sys as sys;

use crate::error::{check, Error, Result, EINVAL, EOWNERDEAD, ERANGE};
use crate::guard::{OwnerReadGuard, OwnerWriteGuard, ReadGuard, WriteGuard};

/// A handle to an open lock. Closed when dropped (or by [`Lock::close`]).
///
/// Share it between threads by reference (`&Lock` is `Send`), in an `Arc`,
/// or open it again: every handle of a process on one lock file shares that
/// process's holds. Other processes reach it by its name, or by its
/// [`token`](Lock::token).
///
/// Closing the process's last handle on a lock ends the holds its threads
/// and owners still have there: read holds quietly, write holds as if their
/// writer died. The guards borrow the handle, so with this crate that
/// happens only to holds made through another handle, or to the
/// [`OwnerWriteGuard`]s and [`OwnerReadGuard`]s forgotten with
/// `std::mem::forget`.
#[derive(Debug)]
pub struct Lock {
    raw: NonNull<sys::prw_lock>,
}

// SAFETY: every function of the C API is thread-safe, and a handle may be
// shared by all threads of a process (prwlock.h, Conventions).
unsafe impl Send for Lock {}
unsafe impl Sync for Lock {}

/// A mode of holding the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Shared with other readers.
    Read,
    /// Exclusive.
    Write,
}

/// An explicit owner: a nonzero 64-bit value that names a holder of your
/// own (a task, a job, a request), for the `_as` calls. Its holds belong to
/// it, not to the thread that acquired, and may be released from any
/// thread. It is local to the process and to the lock's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(NonZeroU64);

impl Owner {
    /// The owner of value `v`; `None` for 0, which names nobody.
    pub const fn new(v: u64) -> Option<Owner> {
        match NonZeroU64::new(v) {
            Some(n) => Some(Owner(n)),
            None => None,
        }
    }

    /// A new owner, distinct from every other that `unique` returned in
    /// this process. (Values you pick yourself with [`Owner::new`] are not
    /// kept apart from these: use one scheme per lock.)
    pub fn unique() -> Owner {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let v = NEXT.fetch_add(1, Ordering::Relaxed) | (1 << 63);
        Owner(NonZeroU64::new(v).expect("nonzero"))
    }

    /// The value.
    pub const fn get(self) -> u64 {
        self.0.get()
    }
}

/// A snapshot of a lock's state ([`Lock::info`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Info {
    /// Holders of read (threads and owners).
    pub readers: u32,
    /// The process of the writer holding or draining the lock, or 0.
    pub writer_pid: u32,
    /// Its thread id (an owner's low 32 bits), or 0.
    pub writer_tid: u32,
    /// The writer holds the lock (it no longer waits for readers to leave).
    pub writer_active: bool,
    /// Readers waiting.
    pub waiting_readers: u32,
    /// Writers waiting, including a draining one.
    pub waiting_writers: u32,
    /// Holder slots of the lock.
    pub capacity: u32,
    /// Slots in use.
    pub used_slots: u32,
    /// Processes that have the lock open.
    pub attached: u32,
    /// A writer died holding the lock and no told writer has repaired it.
    pub owner_dead: bool,
    /// Slots of dead processes reclaimed, ever.
    pub recoveries: u64,
    /// Writers that died holding the lock, ever.
    pub owner_deaths: u64,
}

/// One hold or wait of the holder table ([`Lock::holders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's process.
    pub pid: u32,
    /// Its thread id, or an explicit owner's low 32 bits.
    pub tid: u32,
    /// The holder inside its process, all 64 bits: a thread id, or an
    /// explicit owner's value.
    pub owner: u64,
    /// A remote lock's fencing token of the hold; 0 for a local lock.
    pub fence: u64,
    /// A remote lock's holder's host; empty for a local lock.
    pub host: String,
    /// The mode held or waited for.
    pub mode: Mode,
    /// It waits for `mode` rather than holds it.
    pub waiting: bool,
    /// Recursion depth of a read hold.
    pub count: u32,
    /// CLOCK_MONOTONIC ns when the hold or wait began (0: unknown).
    pub since_ns: i64,
}

fn holder(x: &sys::prw_holder_ex_t) -> Holder {
    let h = &x.h;
    let host: Vec<u8> = x.host.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    Holder {
        pid: h.pid,
        tid: h.tid,
        owner: x.owner,
        mode: if h.mode == sys::PRW_MODE_WRITE { Mode::Write } else { Mode::Read },
        waiting: h.waiting != 0,
        count: h.count,
        since_ns: h.since_ns,
        fence: x.fence,
        host: String::from_utf8_lossy(&host).into_owned(),
    }
}

/// How to open a lock: [`Lock::options`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    create: bool,
    exclusive: bool,
    multi_user: bool,
    mode: u32,
    capacity: u32,
}

impl OpenOptions {
    /// Options that open an existing lock.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Create the lock if it does not exist.
    pub fn create(&mut self, yes: bool) -> &mut OpenOptions {
        self.create = yes;
        self
    }

    /// With `create`: fail with [`ErrorKind::AlreadyExists`](crate::ErrorKind)
    /// if it exists.
    pub fn exclusive(&mut self, yes: bool) -> &mut OpenOptions {
        self.exclusive = yes;
        self
    }

    /// Accept a lock shared between users (`PRW_MULTIUSER`).
    pub fn multi_user(&mut self, yes: bool) -> &mut OpenOptions {
        self.multi_user = yes;
        self
    }

    /// Permission bits of a lock this call creates (0: 0600).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode;
        self
    }

    /// Holder slots of a lock this call creates (0: the default).
    pub fn capacity(&mut self, capacity: u32) -> &mut OpenOptions {
        self.capacity = capacity;
        self
    }

    /// Opens the lock called `name`: a bare name is a file in /dev/shm, a
    /// name with '/' a path (see `prw_open`).
    pub fn open(&self, name: &str) -> Result<Lock> {
        let name = cstring(name)?;
        let mut flags: c_int = 0;
        if self.create {
            flags |= sys::PRW_CREATE;
        }
        if self.exclusive {
            flags |= sys::PRW_EXCL;
        }
        if self.multi_user {
            flags |= sys::PRW_MULTIUSER;
        }
        // SAFETY: name is NUL-terminated; out is a valid pointer.
        Lock::made(|out| unsafe { sys::prw_open_ex(name.as_ptr(), flags, self.mode, self.capacity, out) })
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::from_code(EINVAL))
}

/// Duration to the C API's timeout: ns, saturating.
fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// acquired turns an acquisition's code into whether the owner died.
fn acquired(rc: c_int) -> Result<bool> {
    match rc {
        0 => Ok(false),
        EOWNERDEAD => Ok(true),
        _ => Err(Error::from_code(rc)),
    }
}

impl Lock {
    fn made(f: impl FnOnce(*mut *mut sys::prw_lock) -> c_int) -> Result<Lock> {
        let mut out = std::ptr::null_mut();
        check(f(&mut out))?;
        match NonNull::new(out) {
            Some(raw) => Ok(Lock { raw }),
            None => Err(Error::from_code(EINVAL)),
        }
    }

    /// Creates an anonymous lock (a unique name, removed with its last
    /// user); others open it by its [`token`](Lock::token).
    pub fn create() -> Result<Lock> {
        // SAFETY: out is a valid pointer.
        Lock::made(|out| unsafe { sys::prw_create(out) })
    }

    /// [`Lock::create`] with `capacity` holder slots (0: the default).
    pub fn create_with_capacity(capacity: u32) -> Result<Lock> {
        // SAFETY: out is a valid pointer.
        Lock::made(|out| unsafe { sys::prw_create_ex(capacity, out) })
    }

    /// Opens the existing lock called `name`.
    pub fn open(name: &str) -> Result<Lock> {
        OpenOptions::new().open(name)
    }

    /// Opens the lock called `name`, creating it if needed.
    pub fn open_or_create(name: &str) -> Result<Lock> {
        OpenOptions::new().create(true).open(name)
    }

    /// Options for [`OpenOptions::open`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Opens the lock a [`token`](Lock::token) names.
    pub fn from_token(token: &str) -> Result<Lock> {
        let token = cstring(token)?;
        // SAFETY: token is NUL-terminated; out is a valid pointer.
        Lock::made(|out| unsafe { sys::prw_deserialize(token.as_ptr(), out) })
    }

    /// Removes the named lock's file; those who have it open keep using it.
    pub fn unlink(name: &str) -> Result<()> {
        let name = cstring(name)?;
        // SAFETY: name is NUL-terminated.
        check(unsafe { sys::prw_unlink(name.as_ptr()) })
    }

    /// Closes the handle, reporting an error that dropping it would ignore.
    pub fn close(self) -> Result<()> {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        // SAFETY: raw is our live handle, closed once.
        check(unsafe { sys::prw_close(raw) })
    }

    pub(crate) fn raw(&self) -> *mut sys::prw_lock {
        self.raw.as_ptr()
    }

    fn string(&self, f: unsafe extern "C" fn(*mut sys::prw_lock, *mut c_char, *mut usize) -> c_int) -> Result<String> {
        let mut buf = vec![0u8; 256];
        loop {
            let mut len = buf.len();
            // SAFETY: buf has len bytes; the call writes at most len.
            let rc = unsafe { f(self.raw(), buf.as_mut_ptr().cast(), &mut len) };
            if rc == ERANGE && len > buf.len() {
                buf.resize(len, 0);
                continue;
            }
            check(rc)?;
            buf.truncate(len);
            return String::from_utf8(buf).map_err(|_| Error::from_code(EINVAL));
        }
    }

    /// The lock's token: any process of this machine opens the same lock
    /// with [`Lock::from_token`].
    pub fn token(&self) -> Result<String> {
        self.string(sys::prw_serialize)
    }

    /// The path of the lock's file.
    pub fn path(&self) -> Result<String> {
        self.string(sys::prw_name)
    }

    /// Whether the lock is anonymous ([`Lock::create`]).
    pub fn is_anonymous(&self) -> Result<bool> {
        // SAFETY: a live handle.
        match unsafe { sys::prw_is_anonymous(self.raw()) } {
            0 => Ok(false),
            1 => Ok(true),
            rc => Err(Error::from_code(rc)),
        }
    }

    /// The lock's capacity: holder slots.
    pub fn capacity(&self) -> Result<u32> {
        let mut c = 0;
        // SAFETY: a live handle and a valid pointer.
        check(unsafe { sys::prw_capacity(self.raw(), &mut c) })?;
        Ok(c)
    }

    /// A snapshot of the lock's state.
    pub fn info(&self) -> Result<Info> {
        let mut i = sys::prw_info_t::default();
        // SAFETY: a live handle and a valid pointer.
        check(unsafe { sys::prw_info(self.raw(), &mut i) })?;
        Ok(Info {
            readers: i.readers,
            writer_pid: i.writer_pid,
            writer_tid: i.writer_tid,
            writer_active: i.writer_active != 0,
            waiting_readers: i.waiting_readers,
            waiting_writers: i.waiting_writers,
            capacity: i.capacity,
            used_slots: i.used_slots,
            attached: i.attached,
            owner_dead: i.owner_dead != 0,
            recoveries: i.recoveries,
            owner_deaths: i.owner_deaths,
        })
    }

    /// A snapshot of the holder table: every hold and wait, of all
    /// processes.
    pub fn holders(&self) -> Result<Vec<Holder>> {
        let mut v: Vec<sys::prw_holder_ex_t> = vec![Default::default(); 16];
        loop {
            let mut n = 0usize;
            // SAFETY: v has v.len() entries; the call writes at most that.
            let rc = unsafe { sys::prw_holders_ex(self.raw(), v.as_mut_ptr(), v.len(), &mut n) };
            if rc == ERANGE {
                v.resize(n.max(v.len() * 2), Default::default());
                continue;
            }
            check(rc)?;
            v.truncate(n);
            return Ok(v.iter().map(holder).collect());
        }
    }

    // The calling thread's holds.

    fn read_with(&self, timeout_ns: i64) -> Result<ReadGuard<'_>> {
        // SAFETY: a live handle.
        let died = acquired(unsafe { sys::prw_acquire_read(self.raw(), timeout_ns) })?;
        Ok(ReadGuard::new(self, died))
    }

    fn write_with(&self, timeout_ns: i64) -> Result<WriteGuard<'_>> {
        // SAFETY: a live handle.
        let died = acquired(unsafe { sys::prw_acquire_write(self.raw(), timeout_ns) })?;
        Ok(WriteGuard::new(self, died))
    }

    /// Takes the lock for reading for the calling thread, waiting as long
    /// as it takes. Reads are recursive: a thread that holds read may take
    /// it again (each guard releases one level).
    pub fn read(&self) -> Result<ReadGuard<'_>> {
        self.read_with(-1)
    }

    /// Takes the lock for writing for the calling thread, waiting as long
    /// as it takes. [`ErrorKind::Deadlock`](crate::ErrorKind) if the thread
    /// already holds it.
    pub fn write(&self) -> Result<WriteGuard<'_>> {
        self.write_with(-1)
    }

    /// [`Lock::read`] that does not wait: [`ErrorKind::Busy`](crate::ErrorKind)
    /// if the lock is not free for readers.
    pub fn try_read(&self) -> Result<ReadGuard<'_>> {
        self.read_with(0)
    }

    /// [`Lock::write`] that does not wait: [`ErrorKind::Busy`](crate::ErrorKind)
    /// if the lock is not free.
    pub fn try_write(&self) -> Result<WriteGuard<'_>> {
        self.write_with(0)
    }

    /// [`Lock::read`] that waits at most `timeout` (CLOCK_MONOTONIC):
    /// [`ErrorKind::TimedOut`](crate::ErrorKind) then. A zero timeout is
    /// [`Lock::try_read`].
    pub fn read_for(&self, timeout: Duration) -> Result<ReadGuard<'_>> {
        self.read_with(nanos(timeout))
    }

    /// [`Lock::write`] that waits at most `timeout`.
    pub fn write_for(&self, timeout: Duration) -> Result<WriteGuard<'_>> {
        self.write_with(nanos(timeout))
    }

    // Explicit owners' holds.

    fn read_as_with(&self, o: Owner, timeout_ns: i64) -> Result<OwnerReadGuard<'_>> {
        // SAFETY: a live handle.
        let died = acquired(unsafe { sys::prw_acquire_read_as(self.raw(), o.get(), timeout_ns) })?;
        Ok(OwnerReadGuard::new(self, o, died))
    }

    fn write_as_with(&self, o: Owner, timeout_ns: i64) -> Result<OwnerWriteGuard<'_>> {
        // SAFETY: a live handle.
        let died = acquired(unsafe { sys::prw_acquire_write_as(self.raw(), o.get(), timeout_ns) })?;
        Ok(OwnerWriteGuard::new(self, o, died))
    }

    /// Takes the lock for reading for owner `o`, waiting as long as it
    /// takes. The guard may be sent to, and dropped on, another thread.
    /// [`ErrorKind::Busy`](crate::ErrorKind) if another call for `o` on this
    /// lock is in progress on another thread.
    pub fn read_as(&self, o: Owner) -> Result<OwnerReadGuard<'_>> {
        self.read_as_with(o, -1)
    }

    /// Takes the lock for writing for owner `o`, waiting as long as it
    /// takes. [`ErrorKind::Deadlock`](crate::ErrorKind) if `o` already holds
    /// it.
    pub fn write_as(&self, o: Owner) -> Result<OwnerWriteGuard<'_>> {
        self.write_as_with(o, -1)
    }

    /// [`Lock::read_as`] that does not wait.
    pub fn try_read_as(&self, o: Owner) -> Result<OwnerReadGuard<'_>> {
        self.read_as_with(o, 0)
    }

    /// [`Lock::write_as`] that does not wait.
    pub fn try_write_as(&self, o: Owner) -> Result<OwnerWriteGuard<'_>> {
        self.write_as_with(o, 0)
    }

    /// [`Lock::read_as`] that waits at most `timeout`.
    pub fn read_as_for(&self, o: Owner, timeout: Duration) -> Result<OwnerReadGuard<'_>> {
        self.read_as_with(o, nanos(timeout))
    }

    /// [`Lock::write_as`] that waits at most `timeout`.
    pub fn write_as_for(&self, o: Owner, timeout: Duration) -> Result<OwnerWriteGuard<'_>> {
        self.write_as_with(o, nanos(timeout))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: our live handle, closed once.
        unsafe { sys::prw_close(self.raw()) };
    }
}
