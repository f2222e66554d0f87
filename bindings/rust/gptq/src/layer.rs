//! Quantized layers: checkpoint tensors, unpacked views, the quantized matmul, and
//! building a layer from checkpoint tensors.
use crate::element::{self, Element};
use crate::{Context, Error, Result};
use gptq_sys as sys;
use std::ptr::{self, NonNull};

/// Shapes and settings of a quantized layer (`gptq_qlayer_info`); shapes are (rows, cols).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    pub n: usize,
    pub k: usize,
    pub bits: i32,
    pub group_size: i32,
    pub n_groups: usize,
    pub sym: bool,
    pub desc_act: bool,
    pub static_groups: bool,
    /// int32 [packed rows, n]: k codes per column, 32 / bits per word (3 bits: 3 words
    /// per 32 codes)
    pub qweight: (usize, usize),
    /// int32 [n_groups, packed n]
    pub qzeros: (usize, usize),
    /// fp16 [n_groups, n]
    pub scales: (usize, usize),
}

/// How a checkpoint stores zero points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZerosFormat {
    /// checkpoint_format "gptq": stores zero - 1.
    V1,
    /// checkpoint_format "gptq_v2": stores zero.
    V2,
}

impl ZerosFormat {
    fn raw(self) -> sys::gptq_zeros_format {
        match self {
            ZerosFormat::V1 => sys::GPTQ_ZEROS_V1,
            ZerosFormat::V2 => sys::GPTQ_ZEROS_V2,
        }
    }
}

/// A quantized layer. Borrows the [`Context`] it was made with.
pub struct QLayer<'ctx> {
    ctx: &'ctx Context,
    raw: NonNull<sys::gptq_qlayer>,
    info: LayerInfo,
}

fn dim(v: i64) -> usize {
    v.max(0) as usize
}

impl<'ctx> QLayer<'ctx> {
    pub(crate) fn adopt(ctx: &'ctx Context, raw: *mut sys::gptq_qlayer) -> Result<QLayer<'ctx>> {
        let raw = NonNull::new(raw).expect("libgptq returned OK and a NULL layer");
        let mut i = sys::gptq_qlayer_info::default();
        // SAFETY: live handle; i has struct_size set by Default. On error the handle is
        // destroyed below, so it is not leaked.
        let status = unsafe { sys::gptq_qlayer_get_info(raw.as_ptr(), &mut i) };
        if let Err(e) = ctx.check(status) {
            unsafe { sys::gptq_qlayer_destroy(raw.as_ptr()) };
            return Err(e);
        }
        let info = LayerInfo {
            n: dim(i.n),
            k: dim(i.k),
            bits: i.bits,
            group_size: i.group_size,
            n_groups: dim(i.n_groups),
            sym: i.sym != 0,
            desc_act: i.desc_act != 0,
            static_groups: i.static_groups != 0,
            qweight: (dim(i.qweight_rows), dim(i.qweight_cols)),
            qzeros: (dim(i.qzeros_rows), dim(i.qzeros_cols)),
            scales: (dim(i.scales_rows), dim(i.scales_cols)),
        };
        Ok(QLayer { ctx, raw, info })
    }

    pub fn info(&self) -> &LayerInfo {
        &self.info
    }

    /// Calls a getter that fills `len` elements.
    fn get<T: Copy + Default>(
        &self,
        len: usize,
        fill: impl FnOnce(*const sys::gptq_qlayer, *mut T, usize) -> sys::gptq_status,
    ) -> Result<Vec<T>> {
        let mut out = vec![T::default(); len];
        self.ctx
            .check(fill(self.raw.as_ptr(), out.as_mut_ptr(), out.len()))?;
        Ok(out)
    }

    /// Packed codes, int32 row-major [`LayerInfo::qweight`].
    pub fn qweight(&self) -> Result<Vec<i32>> {
        let (r, c) = self.info.qweight;
        // SAFETY (all getters): dst has `count` elements; the handle is live.
        self.get(r * c, |q, d, n| unsafe {
            sys::gptq_qlayer_get_qweight(q, d, n)
        })
    }

    /// Packed zero points, int32 row-major [`LayerInfo::qzeros`].
    pub fn qzeros(&self, format: ZerosFormat) -> Result<Vec<i32>> {
        let (r, c) = self.info.qzeros;
        self.get(r * c, |q, d, n| unsafe {
            sys::gptq_qlayer_get_qzeros(q, format.raw(), d, n)
        })
    }

    /// Scales as fp16 bit patterns, row-major [`LayerInfo::scales`].
    pub fn scales(&self) -> Result<Vec<crate::F16>> {
        let (r, c) = self.info.scales;
        let bits: Vec<u16> = self.get(r * c, |q, d, n| unsafe {
            sys::gptq_qlayer_get_scales_f16(q, d, n)
        })?;
        Ok(bits.into_iter().map(crate::F16).collect())
    }

    /// Group of every input column, int32 `[k]`.
    pub fn g_idx(&self) -> Result<Vec<i32>> {
        self.get(self.info.k, |q, d, n| unsafe {
            sys::gptq_qlayer_get_g_idx(q, d, n)
        })
    }

    /// Unpacked codes 0..2^bits-1, [n x k].
    pub fn codes(&self) -> Result<Vec<i32>> {
        self.get(self.info.n * self.info.k, |q, d, n| unsafe {
            sys::gptq_qlayer_get_codes(q, d, n)
        })
    }

    /// Scales in fp32, [n_groups x n].
    pub fn unpacked_scales(&self) -> Result<Vec<f32>> {
        let len = self.info.n_groups * self.info.n;
        self.get(len, |q, d, n| unsafe {
            sys::gptq_qlayer_get_scales(q, d, n)
        })
    }

    /// True zero points, [n_groups x n].
    pub fn zeros(&self) -> Result<Vec<i32>> {
        let len = self.info.n_groups * self.info.n;
        self.get(len, |q, d, n| unsafe {
            sys::gptq_qlayer_get_zeros(q, d, n)
        })
    }

    /// The dequantized weight [n x k].
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        let len = self.info.n * self.info.k;
        self.get(len, |q, d, n| unsafe {
            sys::gptq_qlayer_dequantize(q, d, n)
        })
    }

    /// y [m x n] = x [m x k] * dequant(W)^T, into `y`.
    pub fn matmul_into<T: Element>(&self, x: &[T], y: &mut [f32]) -> Result<()> {
        let m = element::matrix(x, "x", self.info.k as i64)?;
        let want = m.rows as usize * self.info.n;
        if y.len() != want {
            return Err(Error::shape(format!(
                "y: length {} for {} rows of x, expected {} x {} = {want}",
                y.len(),
                m.rows,
                m.rows,
                self.info.n
            )));
        }
        // SAFETY: x and y outlive the call and have the checked lengths.
        self.ctx.check(unsafe {
            sys::gptq_matmul_q(self.ctx.ptr(), self.raw.as_ptr(), &m, y.as_mut_ptr(), 0)
        })
    }

    /// y [m x n] = x [m x k] * dequant(W)^T.
    pub fn matmul<T: Element>(&self, x: &[T]) -> Result<Vec<f32>> {
        let rows = x.len() / self.info.k.max(1);
        let mut y = vec![0f32; rows * self.info.n];
        self.matmul_into(x, &mut y)?;
        Ok(y)
    }
}

impl Drop for QLayer<'_> {
    fn drop(&mut self) {
        // SAFETY: owned handle, destroyed once.
        unsafe { sys::gptq_qlayer_destroy(self.raw.as_ptr()) }
    }
}

/// Checkpoint scales: fp16 (as stored in checkpoints) or fp32.
#[derive(Clone, Copy, Debug)]
pub enum Scales<'a> {
    F16(&'a [crate::F16]),
    F32(&'a [f32]),
}

/// A layer in checkpoint layout, for [`Context::layer_from_packed`]. Lengths are checked
/// against the shapes that n, k, bits and group_size imply.
#[derive(Clone, Copy, Debug)]
pub struct PackedLayer<'a> {
    pub n: usize,
    pub k: usize,
    pub bits: i32,
    pub group_size: i32,
    pub zeros_format: ZerosFormat,
    pub qweight: &'a [i32],
    pub qzeros: &'a [i32],
    pub scales: Scales<'a>,
    /// None: column j is in group j / group_size.
    pub g_idx: Option<&'a [i32]>,
}

fn expect_len(name: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        return Ok(());
    }
    Err(Error::shape(format!(
        "{name}: length {got}, expected {want}"
    )))
}

impl Context {
    /// A quantized layer from checkpoint tensors.
    pub fn layer_from_packed(&self, p: &PackedLayer<'_>) -> Result<QLayer<'_>> {
        if !matches!(p.bits, 2 | 3 | 4 | 8) || p.group_size == 0 || p.group_size < -1 {
            return Err(Error::new(
                crate::Status::Unsupported,
                format!(
                    "bits {} / group_size {}: need 2, 3, 4 or 8 and -1 or >= 1",
                    p.bits, p.group_size
                ),
            ));
        }
        // Words per packed column (the checkpoint format: 3-bit codes go in blocks of 32).
        let packed = |len: usize| match p.bits {
            3 => len.div_ceil(32) * 3,
            b => len.div_ceil(32 / b as usize),
        };
        let groups = if p.group_size == -1 {
            1
        } else {
            p.k.div_ceil(p.group_size as usize)
        };
        expect_len("qweight", p.qweight.len(), packed(p.k) * p.n)?;
        expect_len("qzeros", p.qzeros.len(), groups * packed(p.n))?;
        let (scales, dtype, scales_len): (*const u16, _, _) = match p.scales {
            Scales::F16(s) => (s.as_ptr().cast(), sys::GPTQ_DTYPE_F16, s.len()),
            Scales::F32(s) => (s.as_ptr().cast(), sys::GPTQ_DTYPE_F32, s.len()),
        };
        expect_len("scales", scales_len, groups * p.n)?;
        if let Some(g) = p.g_idx {
            expect_len("g_idx", g.len(), p.k)?;
        }
        let raw_layer = sys::gptq_packed_layer {
            n: p.n as i64,
            k: p.k as i64,
            bits: p.bits,
            group_size: p.group_size,
            zeros_format: p.zeros_format.raw(),
            qweight: p.qweight.as_ptr(),
            qzeros: p.qzeros.as_ptr(),
            scales,
            scales_dtype: dtype,
            g_idx: p.g_idx.map_or(ptr::null(), |g| g.as_ptr()),
            ..Default::default()
        };
        let mut raw = ptr::null_mut();
        // SAFETY: every array has the length the library will read (checked above).
        self.check(unsafe { sys::gptq_qlayer_from_packed(self.ptr(), &raw_layer, &mut raw) })?;
        QLayer::adopt(self, raw)
    }
}
