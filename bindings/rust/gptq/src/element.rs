//! Element types a matrix argument may have: `f32`, and IEEE half / bfloat16 as raw bits.
use gptq_sys as sys;

/// IEEE 754 binary16 value, stored as its bit pattern (Rust has no stable `f16`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

/// bfloat16 value, stored as its bit pattern.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

/// A type libgptq reads matrices of. Sealed: only `f32`, [`F16`] and [`Bf16`].
pub trait Element: Copy + sealed::Sealed {
    #[doc(hidden)]
    const DTYPE: sys::gptq_dtype;
}

impl Element for f32 {
    const DTYPE: sys::gptq_dtype = sys::GPTQ_DTYPE_F32;
}
impl Element for F16 {
    const DTYPE: sys::gptq_dtype = sys::GPTQ_DTYPE_F16;
}
impl Element for Bf16 {
    const DTYPE: sys::gptq_dtype = sys::GPTQ_DTYPE_BF16;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for super::F16 {}
    impl Sealed for super::Bf16 {}
}

/// The `gptq_matrix` view of `data` as `rows` x `cols`, after checking its length.
pub(crate) fn matrix<T: Element>(
    data: &[T],
    name: &str,
    cols: i64,
) -> crate::Result<sys::gptq_matrix> {
    let len = data.len() as i64;
    if cols <= 0 || len == 0 || len % cols != 0 {
        return Err(crate::Error::shape(format!(
            "{name}: length {len} is not a positive multiple of its {cols} columns"
        )));
    }
    Ok(sys::gptq_matrix {
        data: data.as_ptr().cast(),
        dtype: T::DTYPE,
        rows: len / cols,
        cols,
        row_stride: 0,
    })
}
