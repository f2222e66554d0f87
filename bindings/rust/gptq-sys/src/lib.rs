//! Raw declarations of libgptq's C API, one to one with `include/gptq/gptq.h`.
//! Everything is `unsafe` and follows the header's ownership rules; the safe API is the
//! `gptq` crate. The `Default` of every struct with a `struct_size` field sets it (and
//! `gptq_quant_params` / `gptq_ctx_params` take the library's defaults).
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

pub type gptq_status = c_int;
pub const GPTQ_OK: gptq_status = 0;
pub const GPTQ_ERR_INVALID_ARGUMENT: gptq_status = 1;
pub const GPTQ_ERR_SHAPE: gptq_status = 2;
pub const GPTQ_ERR_UNSUPPORTED: gptq_status = 3;
pub const GPTQ_ERR_NON_FINITE: gptq_status = 4;
pub const GPTQ_ERR_NOT_POSITIVE_DEFINITE: gptq_status = 5;
pub const GPTQ_ERR_OUT_OF_MEMORY: gptq_status = 6;
pub const GPTQ_ERR_BACKEND_UNAVAILABLE: gptq_status = 7;
pub const GPTQ_ERR_DEVICE: gptq_status = 8;
pub const GPTQ_ERR_DEVICE_OUT_OF_MEMORY: gptq_status = 9;
pub const GPTQ_ERR_IO: gptq_status = 10;
pub const GPTQ_ERR_FORMAT: gptq_status = 11;
pub const GPTQ_ERR_CANCELLED: gptq_status = 12;
pub const GPTQ_ERR_WRONG_CONTEXT: gptq_status = 13;
pub const GPTQ_ERR_INTERNAL: gptq_status = 14;

pub type gptq_backend = c_int;
pub const GPTQ_BACKEND_AUTO: gptq_backend = 0;
pub const GPTQ_BACKEND_CPU: gptq_backend = 1;
pub const GPTQ_BACKEND_VULKAN: gptq_backend = 2;
pub const GPTQ_BACKEND_CUDA: gptq_backend = 3;

pub type gptq_dtype = c_int;
pub const GPTQ_DTYPE_F32: gptq_dtype = 0;
pub const GPTQ_DTYPE_F16: gptq_dtype = 1;
pub const GPTQ_DTYPE_BF16: gptq_dtype = 2;

pub type gptq_zeros_format = c_int;
pub const GPTQ_ZEROS_V1: gptq_zeros_format = 1;
pub const GPTQ_ZEROS_V2: gptq_zeros_format = 2;

#[repr(C)]
pub struct gptq_ctx {
    _private: [u8; 0],
}
#[repr(C)]
pub struct gptq_hessian {
    _private: [u8; 0],
}
#[repr(C)]
pub struct gptq_qlayer {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gptq_matrix {
    pub data: *const c_void,
    pub dtype: gptq_dtype,
    pub rows: i64,
    pub cols: i64,
    pub row_stride: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gptq_ctx_params {
    pub struct_size: u32,
    pub backend: gptq_backend,
    pub device_index: i32,
    pub n_threads: i32,
    pub pipeline_cache: *const c_void,
    pub pipeline_cache_size: usize,
}

pub type gptq_progress_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, done: i64, total: i64) -> c_int>;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gptq_quant_params {
    pub struct_size: u32,
    pub bits: i32,
    pub group_size: i32,
    pub sym: i32,
    pub desc_act: i32,
    pub static_groups: i32,
    pub block_size: i32,
    pub damp_percent: f32,
    pub damp_auto_increment: f32,
    pub damp_max: f32,
    pub mse: i32,
    pub mse_grid: i32,
    pub mse_maxshrink: f32,
    pub mse_norm: f32,
    pub layer_name: *const c_char,
    pub progress: gptq_progress_fn,
    pub progress_user: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gptq_quant_report {
    pub struct_size: u32,
    pub loss: f64,
    pub rel_output_error: f64,
    pub damp_used: f64,
    pub damp_retries: i32,
    pub dead_columns: i64,
    pub seconds: f64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gptq_qlayer_info {
    pub struct_size: u32,
    pub n: i64,
    pub k: i64,
    pub bits: i32,
    pub group_size: i32,
    pub n_groups: i64,
    pub sym: i32,
    pub desc_act: i32,
    pub static_groups: i32,
    pub qweight_rows: i64,
    pub qweight_cols: i64,
    pub qzeros_rows: i64,
    pub qzeros_cols: i64,
    pub scales_rows: i64,
    pub scales_cols: i64,
    pub g_idx_len: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gptq_packed_layer {
    pub struct_size: u32,
    pub n: i64,
    pub k: i64,
    pub bits: i32,
    pub group_size: i32,
    pub sym: i32,
    pub desc_act: i32,
    pub zeros_format: gptq_zeros_format,
    pub qweight: *const i32,
    pub qzeros: *const i32,
    pub scales: *const u16,
    pub scales_dtype: gptq_dtype,
    pub g_idx: *const i32,
}

/// `size_of::<T>()` as the `u32` every `struct_size` field holds.
const fn struct_size<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

impl Default for gptq_ctx_params {
    fn default() -> Self {
        // SAFETY: all-zero is a valid value of this plain-data struct; init then fills it.
        let mut p: Self = unsafe { std::mem::zeroed() };
        unsafe { gptq_ctx_params_init(&mut p) };
        p
    }
}

impl Default for gptq_quant_params {
    fn default() -> Self {
        // SAFETY: as above (null pointers and a None callback are valid).
        let mut p: Self = unsafe { std::mem::zeroed() };
        unsafe { gptq_quant_params_init(&mut p) };
        p
    }
}

impl Default for gptq_quant_report {
    fn default() -> Self {
        Self { struct_size: struct_size::<Self>(), loss: 0.0, rel_output_error: 0.0,
               damp_used: 0.0, damp_retries: 0, dead_columns: 0, seconds: 0.0 }
    }
}

impl Default for gptq_qlayer_info {
    fn default() -> Self {
        // SAFETY: integers only.
        let mut info: Self = unsafe { std::mem::zeroed() };
        info.struct_size = struct_size::<Self>();
        info
    }
}

impl Default for gptq_packed_layer {
    fn default() -> Self {
        Self { struct_size: struct_size::<Self>(), n: 0, k: 0, bits: 4, group_size: 128, sym: 0,
               desc_act: 0, zeros_format: GPTQ_ZEROS_V2, qweight: std::ptr::null(),
               qzeros: std::ptr::null(), scales: std::ptr::null(),
               scales_dtype: GPTQ_DTYPE_F16, g_idx: std::ptr::null() }
    }
}

extern "C" {
    pub fn gptq_version_number() -> c_uint;
    pub fn gptq_version_string() -> *const c_char;
    pub fn gptq_packed_format_version() -> c_uint;
    pub fn gptq_status_string(status: gptq_status) -> *const c_char;

    pub fn gptq_ctx_params_init(params: *mut gptq_ctx_params);
    pub fn gptq_backend_available(backend: gptq_backend) -> c_int;
    pub fn gptq_backend_name(backend: gptq_backend) -> *const c_char;
    pub fn gptq_ctx_create(params: *const gptq_ctx_params, out: *mut *mut gptq_ctx) -> gptq_status;
    pub fn gptq_ctx_destroy(ctx: *mut gptq_ctx);
    pub fn gptq_ctx_backend(ctx: *const gptq_ctx) -> gptq_backend;
    pub fn gptq_ctx_device_name(ctx: *const gptq_ctx) -> *const c_char;
    pub fn gptq_last_error(ctx: *const gptq_ctx) -> *const c_char;
    pub fn gptq_ctx_pipeline_cache(ctx: *mut gptq_ctx, dst: *mut c_void, capacity: usize,
                                   out_size: *mut usize) -> gptq_status;

    pub fn gptq_hessian_create(ctx: *mut gptq_ctx, k: i64, out: *mut *mut gptq_hessian)
        -> gptq_status;
    pub fn gptq_hessian_destroy(h: *mut gptq_hessian);
    pub fn gptq_hessian_add(h: *mut gptq_hessian, x: *const gptq_matrix) -> gptq_status;
    pub fn gptq_hessian_set(h: *mut gptq_hessian, m: *const f32, k: i64, n_tokens: i64)
        -> gptq_status;
    pub fn gptq_hessian_dim(h: *const gptq_hessian) -> i64;
    pub fn gptq_hessian_tokens(h: *const gptq_hessian) -> i64;
    pub fn gptq_hessian_get(h: *const gptq_hessian, dst: *mut f32, count: usize) -> gptq_status;

    pub fn gptq_quant_params_init(params: *mut gptq_quant_params);
    pub fn gptq_quantize_layer(ctx: *mut gptq_ctx, params: *const gptq_quant_params,
                               w: *const gptq_matrix, h: *const gptq_hessian,
                               out: *mut *mut gptq_qlayer, report: *mut gptq_quant_report)
        -> gptq_status;
    pub fn gptq_quantize_rtn(ctx: *mut gptq_ctx, params: *const gptq_quant_params,
                             w: *const gptq_matrix, out: *mut *mut gptq_qlayer) -> gptq_status;

    pub fn gptq_qlayer_get_info(q: *const gptq_qlayer, info: *mut gptq_qlayer_info)
        -> gptq_status;
    pub fn gptq_qlayer_get_qweight(q: *const gptq_qlayer, dst: *mut i32, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_get_qzeros(q: *const gptq_qlayer, format: gptq_zeros_format,
                                  dst: *mut i32, count: usize) -> gptq_status;
    pub fn gptq_qlayer_get_scales_f16(q: *const gptq_qlayer, dst: *mut u16, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_get_g_idx(q: *const gptq_qlayer, dst: *mut i32, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_get_codes(q: *const gptq_qlayer, dst: *mut i32, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_get_scales(q: *const gptq_qlayer, dst: *mut f32, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_get_zeros(q: *const gptq_qlayer, dst: *mut i32, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_get_perm(q: *const gptq_qlayer, dst: *mut i32, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_dequantize(q: *const gptq_qlayer, dst: *mut f32, count: usize)
        -> gptq_status;
    pub fn gptq_qlayer_from_packed(ctx: *mut gptq_ctx, packed: *const gptq_packed_layer,
                                   out: *mut *mut gptq_qlayer) -> gptq_status;
    pub fn gptq_qlayer_destroy(q: *mut gptq_qlayer);

    pub fn gptq_matmul_q4(ctx: *mut gptq_ctx, q: *const gptq_qlayer, x: *const gptq_matrix,
                          y: *mut f32, ldy: i64) -> gptq_status;
    pub fn gptq_matmul_q(ctx: *mut gptq_ctx, q: *const gptq_qlayer, x: *const gptq_matrix,
                         y: *mut f32, ldy: i64) -> gptq_status;
}
