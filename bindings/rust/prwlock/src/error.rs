//! Errors: the C API's error number, with the library's own text.
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

/// The result of the calls of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An error number returned by libprwlock: an errno value, or
/// `PRW_EFORKED`. [`Error::code`] is the number; [`Error::kind`] sorts it.
/// Its text is the library's (`prw_strerror`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    code: c_int,
}

/// What went wrong, by the library's error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// EBUSY: a try found the lock taken; or, for an owner, another call
    /// for the same owner on the same lock is in progress.
    Busy,
    /// ETIMEDOUT: the timeout expired.
    TimedOut,
    /// EDEADLK: the holder asked again in a conflicting mode.
    Deadlock,
    /// EPERM: the holder (this thread, or this owner) holds nothing that
    /// the call needs.
    NotHeld,
    /// EAGAIN: every slot of the lock is in use (see its capacity).
    Full,
    /// ENOTRECOVERABLE: the hold was lost (another process recovered it).
    Lost,
    /// EPROTO: not a prwlock segment, or its shared state is corrupt.
    Corrupt,
    /// EBADF: the lock was closed.
    Closed,
    /// EINVAL: an invalid argument (a name with a NUL byte, say).
    InvalidArgument,
    /// ENOENT: no such lock.
    NotFound,
    /// EEXIST: the lock exists (exclusive create).
    AlreadyExists,
    /// EACCES: permission denied.
    PermissionDenied,
    /// ENOTSUP: not supported on this lock (explicit owners on a remote
    /// lock; a fencing token of a local lock).
    Unsupported,
    /// ENOTCONN: a remote lock's server did not answer.
    Unavailable,
    /// PRW_EFORKED: a fork child where the library cannot run its engine.
    Forked,
    /// Any other number (ENOMEM, EMFILE, ...).
    Other,
}

// Linux's errno values (the library is Linux-only).
pub(crate) const EPERM: c_int = 1;
pub(crate) const ENOENT: c_int = 2;
pub(crate) const EBADF: c_int = 9;
pub(crate) const EAGAIN: c_int = 11;
pub(crate) const EACCES: c_int = 13;
pub(crate) const EBUSY: c_int = 16;
pub(crate) const EEXIST: c_int = 17;
pub(crate) const EINVAL: c_int = 22;
pub(crate) const ERANGE: c_int = 34;
pub(crate) const EDEADLK: c_int = 35;
pub(crate) const EPROTO: c_int = 71;
pub(crate) const ENOTSUP: c_int = 95;
pub(crate) const ENOTCONN: c_int = 107;
pub(crate) const ETIMEDOUT: c_int = 110;
pub(crate) const EOWNERDEAD: c_int = 130;
pub(crate) const ENOTRECOVERABLE: c_int = 131;

impl Error {
    /// The error of number `code` (as returned by the C API).
    pub fn from_code(code: i32) -> Error {
        Error { code }
    }

    /// The error number: an errno value, or 1024 (`PRW_EFORKED`).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        match self.code {
            EBUSY => ErrorKind::Busy,
            ETIMEDOUT => ErrorKind::TimedOut,
            EDEADLK => ErrorKind::Deadlock,
            EPERM => ErrorKind::NotHeld,
            EAGAIN => ErrorKind::Full,
            ENOTRECOVERABLE => ErrorKind::Lost,
            EPROTO => ErrorKind::Corrupt,
            EBADF => ErrorKind::Closed,
            EINVAL => ErrorKind::InvalidArgument,
            ENOENT => ErrorKind::NotFound,
            EEXIST => ErrorKind::AlreadyExists,
            EACCES => ErrorKind::PermissionDenied,
            ENOTSUP => ErrorKind::Unsupported,
            ENOTCONN => ErrorKind::Unavailable,
            prwlock_sys::PRW_EFORKED => ErrorKind::Forked,
            _ => ErrorKind::Other,
        }
    }

    /// The library's description of the error.
    pub fn message(&self) -> &'static str {
        // SAFETY: prw_strerror returns a static NUL-terminated string for
        // every number, never NULL.
        unsafe { CStr::from_ptr(prwlock_sys::prw_strerror(self.code)) }
            .to_str()
            .unwrap_or("unknown error")
    }
}

/// check turns a return code into a Result.
pub(crate) fn check(rc: c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::from_code(rc))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("kind", &self.kind())
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (error {})", self.message(), self.code)
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    /// An errno value becomes the OS error of that number; PRW_EFORKED,
    /// which is none, an error of kind Other with the library's text.
    fn from(e: Error) -> std::io::Error {
        if e.code == prwlock_sys::PRW_EFORKED {
            std::io::Error::new(std::io::ErrorKind::Other, e)
        } else {
            std::io::Error::from_raw_os_error(e.code)
        }
    }
}
