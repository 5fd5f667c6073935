//! RAII guards: a hold lasts as long as its guard.
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use prwlock_sys as sys;

use crate::error::{check, Result};
use crate::lock::{Lock, Owner};

/// Not Send, not Sync: a thread's hold must be released by that thread.
type NotSend = PhantomData<*const ()>;

/// A read hold of the calling thread; released when dropped.
///
/// It cannot leave its thread, since the hold belongs to the thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let lock = prwlock::Lock::create().unwrap();
/// send(lock.read().unwrap());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct ReadGuard<'a> {
    lock: &'a Lock,
    owner_died: bool,
    _thread: NotSend,
}

/// A write hold of the calling thread; released when dropped.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let lock = prwlock::Lock::create().unwrap();
/// send(lock.write().unwrap());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct WriteGuard<'a> {
    lock: &'a Lock,
    told: bool,
    consistent: bool,
    _thread: NotSend,
}

/// A read hold of an explicit [`Owner`]; released when dropped, on
/// whatever thread that happens.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct OwnerReadGuard<'a> {
    lock: &'a Lock,
    owner: Owner,
    owner_died: bool,
}

/// A write hold of an explicit [`Owner`]; released when dropped, on
/// whatever thread that happens.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct OwnerWriteGuard<'a> {
    lock: &'a Lock,
    owner: Owner,
    told: bool,
    consistent: bool,
}

/// release_write ends a write hold: marking the data consistent only if the
/// holder was told the owner died and said it repaired the data.
fn release_write(lock: &Lock, owner: Option<Owner>, told: bool, consistent: bool) -> Result<()> {
    let unrepaired = told && !consistent;
    // SAFETY: a live handle (the guard borrows it).
    check(unsafe {
        match (owner, unrepaired) {
            (None, false) => sys::prw_release(lock.raw()),
            (None, true) => sys::prw_release_unrepaired(lock.raw()),
            (Some(o), false) => sys::prw_release_as(lock.raw(), o.get()),
            (Some(o), true) => sys::prw_release_unrepaired_as(lock.raw(), o.get()),
        }
    })
}

fn release_read(lock: &Lock, owner: Option<Owner>) -> Result<()> {
    // SAFETY: a live handle (the guard borrows it).
    check(unsafe {
        match owner {
            None => sys::prw_release(lock.raw()),
            Some(o) => sys::prw_release_as(lock.raw(), o.get()),
        }
    })
}

impl<'a> ReadGuard<'a> {
    pub(crate) fn new(lock: &'a Lock, owner_died: bool) -> Self {
        ReadGuard { lock, owner_died, _thread: PhantomData }
    }

    /// A writer died holding the lock and nobody has repaired its data
    /// since: what you read may be inconsistent.
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Releases the hold, reporting the error that dropping would ignore
    /// ([`ErrorKind::Lost`](crate::ErrorKind) if another process recovered
    /// it).
    pub fn unlock(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        release_read(this.lock, None)
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        let _ = release_read(self.lock, None);
    }
}

impl<'a> WriteGuard<'a> {
    pub(crate) fn new(lock: &'a Lock, told: bool) -> Self {
        WriteGuard { lock, told, consistent: false, _thread: PhantomData }
    }

    /// A writer died holding the lock: the data may be half written. Repair
    /// it, then call [`WriteGuard::mark_consistent`]; otherwise the lock
    /// stays marked for the next writer.
    pub fn owner_died(&self) -> bool {
        self.told
    }

    /// Says the data is consistent again (after an owner death): the
    /// release clears the mark. Does nothing if the owner did not die.
    pub fn mark_consistent(&mut self) {
        self.consistent = true;
    }

    /// Releases the hold, reporting the error that dropping would ignore.
    pub fn unlock(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        release_write(this.lock, None, this.told, this.consistent)
    }

    /// Turns the write hold into a read hold atomically: no writer gets in
    /// between. It vouches for the data, as a release after
    /// [`WriteGuard::mark_consistent`] does.
    pub fn downgrade(self) -> Result<ReadGuard<'a>> {
        let this = ManuallyDrop::new(self);
        // SAFETY: a live handle.
        check(unsafe { sys::prw_downgrade(this.lock.raw()) })?;
        Ok(ReadGuard::new(this.lock, false))
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let _ = release_write(self.lock, None, self.told, self.consistent);
    }
}

impl<'a> OwnerReadGuard<'a> {
    pub(crate) fn new(lock: &'a Lock, owner: Owner, owner_died: bool) -> Self {
        OwnerReadGuard { lock, owner, owner_died }
    }

    /// The owner that holds.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// As [`ReadGuard::owner_died`].
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Releases the hold, reporting the error that dropping would ignore.
    pub fn unlock(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        release_read(this.lock, Some(this.owner))
    }
}

impl Drop for OwnerReadGuard<'_> {
    fn drop(&mut self) {
        let _ = release_read(self.lock, Some(self.owner));
    }
}

impl<'a> OwnerWriteGuard<'a> {
    pub(crate) fn new(lock: &'a Lock, owner: Owner, told: bool) -> Self {
        OwnerWriteGuard { lock, owner, told, consistent: false }
    }

    /// The owner that holds.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// As [`WriteGuard::owner_died`].
    pub fn owner_died(&self) -> bool {
        self.told
    }

    /// As [`WriteGuard::mark_consistent`].
    pub fn mark_consistent(&mut self) {
        self.consistent = true;
    }

    /// Releases the hold, reporting the error that dropping would ignore.
    pub fn unlock(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        release_write(this.lock, Some(this.owner), this.told, this.consistent)
    }

    /// As [`WriteGuard::downgrade`], for the owner.
    pub fn downgrade(self) -> Result<OwnerReadGuard<'a>> {
        let this = ManuallyDrop::new(self);
        // SAFETY: a live handle.
        check(unsafe { sys::prw_downgrade_as(this.lock.raw(), this.owner.get()) })?;
        Ok(OwnerReadGuard::new(this.lock, this.owner, false))
    }
}

impl Drop for OwnerWriteGuard<'_> {
    fn drop(&mut self) {
        let _ = release_write(self.lock, Some(self.owner), self.told, self.consistent);
    }
}
