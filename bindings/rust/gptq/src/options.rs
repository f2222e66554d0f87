//! `QuantOptions`: a builder over `gptq_quant_params`, starting from the library defaults.
use gptq_sys as sys;
use std::ffi::CString;

/// Quantization options. Every method sets one field of the C `gptq_quant_params` and
/// returns the builder; unset fields keep the library defaults (4 bits, group 128, ...).
///
/// ```
/// let opts = gptq::QuantOptions::new().bits(3).group_size(64).desc_act(true).mse(true);
/// assert_eq!(opts.get_bits(), 3);
/// ```
#[derive(Clone, Debug, Default)]
pub struct QuantOptions {
    params: sys::gptq_quant_params,
    layer_name: Option<CString>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident : $ty:ty => $field:ident $(as $conv:ty)?;)*) => {
        $( $(#[$doc])* pub fn $name(mut self, value: $ty) -> Self {
            self.params.$field = value $(as $conv)?;
            self
        } )*
    };
}

impl QuantOptions {
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// 2, 3, 4 or 8.
        bits: i32 => bits;
        /// -1 (one group per row) or >= 1.
        group_size: i32 => group_size;
        /// Symmetric quantization.
        sym: bool => sym as i32;
        /// Act-order: columns in descending order of diag(H).
        desc_act: bool => desc_act as i32;
        /// Group parameters fixed before GPTQ runs.
        static_groups: bool => static_groups as i32;
        /// Columns per lazy-update block.
        block_size: i32 => block_size;
        /// Relative damping of the mean diagonal of H.
        damp_percent: f32 => damp_percent;
        /// Added to the damping when the Cholesky factorization fails (0 = no retry).
        damp_auto_increment: f32 => damp_auto_increment;
        /// Cap on the damping.
        damp_max: f32 => damp_max;
        /// Search the clipping range that minimises the quantization error.
        mse: bool => mse as i32;
        /// Number of clipping candidates of the MSE search.
        mse_grid: i32 => mse_grid;
        /// Largest shrink of the range the MSE search tries.
        mse_maxshrink: f32 => mse_maxshrink;
        /// Norm of the MSE search's error.
        mse_norm: f32 => mse_norm;
    }

    /// A name used in the library's error messages. Interior NUL bytes are dropped.
    pub fn layer_name(mut self, name: &str) -> Self {
        self.layer_name = CString::new(name.replace('\0', "")).ok();
        self
    }

    pub fn get_bits(&self) -> i32 {
        self.params.bits
    }

    pub fn get_group_size(&self) -> i32 {
        self.params.group_size
    }

    /// The C struct (struct_size set by the library's init), valid while `self` lives.
    pub(crate) fn raw(&self) -> sys::gptq_quant_params {
        let mut p = self.params;
        p.layer_name = self
            .layer_name
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr());
        p
    }
}
