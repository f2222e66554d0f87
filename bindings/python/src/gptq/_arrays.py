"""Turning caller arrays (NumPy, torch, DLPack producers, anything with __array__, nested
lists) into NumPy arrays and gptq_matrix views."""
import ctypes

import numpy as np

from . import _lib

_DTYPES = {np.dtype(np.float32): _lib.DTYPE_F32, np.dtype(np.float16): _lib.DTYPE_F16}


def _from_torch(x):
    """A NumPy array sharing a CPU torch tensor's memory (a copy for other devices).

    Returns (array, gptq dtype or None); bfloat16, which NumPy lacks, travels as its raw
    16-bit pattern with GPTQ_DTYPE_BF16."""
    import torch  # only reached when x is a torch.Tensor, so torch is importable

    x = x.detach()
    if x.device.type != "cpu":
        x = x.cpu()
    if x.dtype == torch.bfloat16:
        return x.view(torch.int16).numpy(), _lib.DTYPE_BF16
    return x.numpy(), None


def _is_torch(x):
    return type(x).__module__.startswith("torch") and hasattr(x, "__dlpack__")


def _to_numpy(value):
    """(array, gptq dtype or None) for torch tensors, DLPack producers without __array__
    (shared memory, no copy), and anything np.asarray takes."""
    if _is_torch(value):
        return _from_torch(value)
    if hasattr(value, "__dlpack__") and not hasattr(value, "__array__"):
        return np.from_dlpack(value), None
    return np.asarray(value), None


class MatrixArg:
    """A 2-D float matrix argument, kept alive for the duration of one C call."""

    def __init__(self, value, name, cols=None, allow_1d=False):
        try:
            arr, gptq_dtype = _to_numpy(value)
        except (TypeError, ValueError, BufferError, RuntimeError) as exc:
            raise TypeError(f"{name}: not an array of numbers ({exc})") from exc
        if gptq_dtype is None:
            if arr.dtype not in _DTYPES:
                raise TypeError(f"{name}: dtype {arr.dtype} is not supported; pass float32 "
                                f"or float16 (e.g. {name}.astype(numpy.float32))")
            gptq_dtype = _DTYPES[arr.dtype]
        self.was_1d = arr.ndim == 1 and allow_1d
        if self.was_1d:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            want = "1-D or 2-D" if allow_1d else "2-D"
            raise ValueError(f"{name}: expected a {want} array, got shape {arr.shape}")
        if cols is not None and arr.shape[1] != cols:
            raise ValueError(f"{name}: expected shape (rows, {cols}), got {arr.shape}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"{name}: empty array of shape {arr.shape}")
        # Rows may be strided (the C API takes a row stride); anything else is copied.
        item = arr.itemsize
        if arr.strides[1] != item or arr.strides[0] % item or arr.strides[0] < arr.shape[1] * item:
            arr = np.ascontiguousarray(arr)
        self.array = arr
        self.struct = _lib.Matrix(arr.ctypes.data, gptq_dtype, arr.shape[0], arr.shape[1],
                                  arr.strides[0] // item)

    @property
    def rows(self):
        return self.array.shape[0]

    @property
    def cols(self):
        return self.array.shape[1]

    def ref(self):
        return ctypes.byref(self.struct)


def int32_array(value, name, ndim):
    """A C-contiguous int32 array of ndim dimensions, or TypeError/ValueError naming it."""
    arr = _array(value)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: dtype {arr.dtype} is not supported; pass int32")
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.int32)


def scales_array(value, name="scales"):
    """Checkpoint scales as C-contiguous float16 or float32 and the matching gptq dtype."""
    arr = _array(value)
    if arr.dtype not in _DTYPES:
        raise TypeError(f"{name}: dtype {arr.dtype} is not supported; pass float16 or float32")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr), _DTYPES[arr.dtype]


def _array(value):
    arr, gptq_dtype = _to_numpy(value)
    if gptq_dtype == _lib.DTYPE_BF16:
        raise TypeError("bfloat16 checkpoint tensors are not supported; pass float16")
    return arr


def address(arr):
    return ctypes.c_void_p(arr.ctypes.data)
