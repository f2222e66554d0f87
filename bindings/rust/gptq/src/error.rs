//! `gptq::Error`: a libgptq status plus the library's (or the binding's) message.
use gptq_sys as sys;
use std::ffi::CStr;
use std::fmt;

/// The kind of failure: one variant per `gptq_status` code of the C API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    InvalidArgument,
    Shape,
    Unsupported,
    NonFinite,
    NotPositiveDefinite,
    OutOfMemory,
    BackendUnavailable,
    Device,
    DeviceOutOfMemory,
    Io,
    Format,
    Cancelled,
    WrongContext,
    Internal,
    /// A code this binding does not know (from a newer library).
    Other(i32),
}

impl Status {
    fn from_code(code: sys::gptq_status) -> Status {
        use Status::*;
        const KNOWN: [Status; 14] = [
            InvalidArgument,
            Shape,
            Unsupported,
            NonFinite,
            NotPositiveDefinite,
            OutOfMemory,
            BackendUnavailable,
            Device,
            DeviceOutOfMemory,
            Io,
            Format,
            Cancelled,
            WrongContext,
            Internal,
        ];
        match code {
            1..=14 => KNOWN[code as usize - 1],
            _ => Other(code),
        }
    }

    /// The `gptq_status` code.
    pub fn code(self) -> i32 {
        match self {
            Status::Other(code) => code,
            known => (1..=14)
                .find(|&c| Status::from_code(c) == known)
                .expect("every variant has a code"),
        }
    }
}

/// A failed call: what kind of failure, and a message naming the argument, shape or layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl Error {
    /// An error detected by the binding before calling the library.
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn shape(message: impl Into<String>) -> Error {
        Error::new(Status::Shape, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: gptq_status_string returns a static string for any value.
        let what = unsafe { CStr::from_ptr(sys::gptq_status_string(self.status.code())) };
        write!(f, "{}: {}", what.to_string_lossy(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Ok for GPTQ_OK, else the error with `gptq_last_error(ctx)` as the message.
pub(crate) fn check(status: sys::gptq_status, ctx: *const sys::gptq_ctx) -> Result<()> {
    if status == sys::GPTQ_OK {
        return Ok(());
    }
    // SAFETY: ctx is a live context or null; the string is copied at once.
    let message = unsafe { CStr::from_ptr(sys::gptq_last_error(ctx)) };
    Err(Error::new(
        Status::from_code(status),
        message.to_string_lossy().into_owned(),
    ))
}
