//! Safe Rust API of libgptq: GPTQ quantization of linear layers and quantized matmul.
//!
//! ```no_run
//! use gptq::{Backend, Context, QuantOptions};
//! # fn main() -> gptq::Result<()> {
//! let (n, k) = (256, 512);
//! let (weight, acts) = (vec![0.01f32; n * k], vec![1.0f32; 64 * k]);
//! let ctx = Context::new(Backend::Cpu)?;
//! let mut h = ctx.hessian(k)?;
//! h.add(&acts)?;                                    // [tokens x k], row-major
//! let opts = QuantOptions::new().bits(4).group_size(128).desc_act(true);
//! let (layer, report) = ctx.quantize(&weight, &h, &opts)?;   // weight [n x k]
//! println!("relative output error {}", report.rel_output_error);
//! let qweight = layer.qweight()?;                   // checkpoint tensors
//! let y = layer.matmul(&acts[..k])?;                // [1 x n]
//! # Ok(()) }
//! ```
//!
//! Handles free themselves on drop; a [`Hessian`] or [`QLayer`] borrows its [`Context`], so
//! it cannot outlive it. Every fallible call returns [`Result`] with an [`Error`] carrying
//! the library's status and message. The library is linked through pkg-config (see the
//! README).
//!
//! Options are builder methods, so a misspelled option does not compile:
//! ```compile_fail
//! let opts = gptq::QuantOptions::new().act_order(true); // the option is `desc_act`
//! ```
//! and neither do matrices of an element type the library does not read:
//! ```compile_fail
//! # fn f(ctx: &gptq::Context, h: &gptq::Hessian) -> gptq::Result<()> {
//! let w = vec![0.0f64; 64];
//! ctx.quantize(&w, h, &gptq::QuantOptions::new())?; // f64 is not a gptq::Element
//! # Ok(()) }
//! ```
//! (the same two snippets with `desc_act` and `f32` compile: see the tests.)
mod element;
mod error;
mod layer;
mod options;

pub use element::{Bf16, Element, F16};
pub use error::{Error, Result, Status};
pub use layer::{LayerInfo, PackedLayer, QLayer, Scales, ZerosFormat};
pub use options::QuantOptions;

use error::check;
use gptq_sys as sys;
use std::ffi::CStr;
use std::ptr::{self, NonNull};

/// The library's version string, e.g. "0.1.0".
pub fn version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::gptq_version_string()) }
        .to_string_lossy()
        .into_owned()
}

/// Compute backend of a [`Context`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// CUDA, then a Vulkan GPU, then the CPU: the first that works.
    Auto,
    Cpu,
    Vulkan,
    Cuda,
}

impl Backend {
    fn raw(self) -> sys::gptq_backend {
        match self {
            Backend::Auto => sys::GPTQ_BACKEND_AUTO,
            Backend::Cpu => sys::GPTQ_BACKEND_CPU,
            Backend::Vulkan => sys::GPTQ_BACKEND_VULKAN,
            Backend::Cuda => sys::GPTQ_BACKEND_CUDA,
        }
    }

    /// Whether the backend is compiled in and has a usable device.
    pub fn is_available(self) -> bool {
        // SAFETY: any enum value is accepted.
        unsafe { sys::gptq_backend_available(self.raw()) != 0 }
    }
}

/// A libgptq context (`gptq_ctx`): a backend instance. It is `Send` but not `Sync`: the
/// library allows one thread at a time per context.
pub struct Context {
    raw: NonNull<sys::gptq_ctx>,
}

// SAFETY: a gptq_ctx may move between threads; !Sync keeps use to one thread at a time.
unsafe impl Send for Context {}

impl Context {
    /// A context on `backend` with default device and thread count.
    pub fn new(backend: Backend) -> Result<Context> {
        Context::with_params(backend, 0, 0)
    }

    /// `device_index` among the backend's devices; `n_threads` CPU threads (0 = all).
    pub fn with_params(backend: Backend, device_index: i32, n_threads: i32) -> Result<Context> {
        let p = sys::gptq_ctx_params {
            backend: backend.raw(),
            device_index,
            n_threads,
            ..Default::default()
        };
        let mut raw = ptr::null_mut();
        // SAFETY: p is initialised; raw receives the new handle.
        check(unsafe { sys::gptq_ctx_create(&p, &mut raw) }, ptr::null())?;
        Ok(Context {
            raw: NonNull::new(raw).expect("gptq_ctx_create returned OK and NULL"),
        })
    }

    pub(crate) fn ptr(&self) -> *mut sys::gptq_ctx {
        self.raw.as_ptr()
    }

    pub(crate) fn check(&self, status: sys::gptq_status) -> Result<()> {
        check(status, self.ptr())
    }

    /// Human-readable device name, e.g. "CPU (2 threads)".
    pub fn device_name(&self) -> String {
        // SAFETY: live context; the string is copied at once.
        unsafe { CStr::from_ptr(sys::gptq_ctx_device_name(self.ptr())) }
            .to_string_lossy()
            .into_owned()
    }

    /// An empty Hessian accumulator for a layer with `k` inputs.
    pub fn hessian(&self, k: usize) -> Result<Hessian<'_>> {
        let mut raw = ptr::null_mut();
        // SAFETY: live context.
        self.check(unsafe { sys::gptq_hessian_create(self.ptr(), k as i64, &mut raw) })?;
        Ok(Hessian {
            ctx: self,
            raw: NonNull::new(raw).expect("OK and NULL"),
            k,
        })
    }

    /// GPTQ on `weight` [n x k] (row-major; k = the Hessian's dimension).
    pub fn quantize<T: Element>(
        &self,
        weight: &[T],
        hessian: &Hessian<'_>,
        options: &QuantOptions,
    ) -> Result<(QLayer<'_>, Report)> {
        let w = element::matrix(weight, "weight", hessian.k as i64)?;
        let params = options.raw();
        let mut report = sys::gptq_quant_report::default();
        let mut raw = ptr::null_mut();
        // SAFETY: w points into `weight` for the call; params' strings live in `options`.
        self.check(unsafe {
            sys::gptq_quantize_layer(
                self.ptr(),
                &params,
                &w,
                hessian.raw.as_ptr(),
                &mut raw,
                &mut report,
            )
        })?;
        let report = Report {
            loss: report.loss,
            rel_output_error: report.rel_output_error,
            damp_used: report.damp_used,
            damp_retries: report.damp_retries,
            dead_columns: report.dead_columns,
            seconds: report.seconds,
        };
        Ok((QLayer::adopt(self, raw)?, report))
    }

    /// Round-to-nearest of `weight` [n x k] with the same quantizer grid.
    pub fn quantize_rtn<T: Element>(
        &self,
        weight: &[T],
        k: usize,
        options: &QuantOptions,
    ) -> Result<QLayer<'_>> {
        let w = element::matrix(weight, "weight", k as i64)?;
        let params = options.raw();
        let mut raw = ptr::null_mut();
        // SAFETY: as in quantize.
        self.check(unsafe { sys::gptq_quantize_rtn(self.ptr(), &params, &w, &mut raw) })?;
        QLayer::adopt(self, raw)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: borrowers (Hessian, QLayer) are gone: the borrow checker ensures it.
        unsafe { sys::gptq_ctx_destroy(self.ptr()) }
    }
}

/// What quantizing one layer reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// GPTQ loss: sum of (w - q)^2 / d^2 / 2.
    pub loss: f64,
    /// tr(D H D^T) / tr(W H W^T), D = W - Q.
    pub rel_output_error: f64,
    pub damp_used: f64,
    pub damp_retries: i32,
    pub dead_columns: i64,
    pub seconds: f64,
}

/// Accumulator of H = (2/n) sum x x^T for a layer with `k` inputs.
pub struct Hessian<'ctx> {
    ctx: &'ctx Context,
    raw: NonNull<sys::gptq_hessian>,
    k: usize,
}

impl Hessian<'_> {
    pub fn dim(&self) -> usize {
        self.k
    }

    /// Adds activations `x` [tokens x k], row-major.
    pub fn add<T: Element>(&mut self, x: &[T]) -> Result<()> {
        let m = element::matrix(x, "x", self.k as i64)?;
        // SAFETY: m points into x for the call.
        self.ctx
            .check(unsafe { sys::gptq_hessian_add(self.raw.as_ptr(), &m) })
    }

    /// Tokens added so far.
    pub fn tokens(&self) -> i64 {
        // SAFETY: live handle.
        unsafe { sys::gptq_hessian_tokens(self.raw.as_ptr()) }
    }

    /// The scaled Hessian [k x k].
    pub fn get(&self) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.k * self.k];
        // SAFETY: out has the count passed.
        self.ctx.check(unsafe {
            sys::gptq_hessian_get(self.raw.as_ptr(), out.as_mut_ptr(), out.len())
        })?;
        Ok(out)
    }

    /// Replaces the accumulated state by a scaled, symmetric `[k x k]` matrix; `tokens` is
    /// recorded for the report only.
    pub fn set(&mut self, m: &[f32], tokens: i64) -> Result<()> {
        if m.len() != self.k * self.k {
            return Err(Error::shape(format!(
                "m: length {}, expected {} x {}",
                m.len(),
                self.k,
                self.k
            )));
        }
        // SAFETY: m has k * k elements, read during the call only.
        self.ctx.check(unsafe {
            sys::gptq_hessian_set(self.raw.as_ptr(), m.as_ptr(), self.k as i64, tokens)
        })
    }
}

impl Drop for Hessian<'_> {
    fn drop(&mut self) {
        // SAFETY: owned handle, destroyed once.
        unsafe { sys::gptq_hessian_destroy(self.raw.as_ptr()) }
    }
}
