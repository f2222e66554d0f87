"""ctypes binding of libgptq (include/gptq/gptq.h), standard library only.

Matrices are passed as flat row-major float32 buffers: array.array('f'), a numpy float32
array, any other buffer of float32, or a list of floats. Results come back as
array.array. The library is found through $GPTQ_LIBRARY, then the system's search path.

    import gptq, array
    with gptq.Context("cpu") as ctx:
        h = ctx.hessian(k)
        h.add(x, rows=n_tokens)
        layer, report = ctx.quantize(w, n, k, h, bits=4, group_size=128)
        y = layer.matmul(x_new, rows=1)
"""
import array
import ctypes
import ctypes.util
import os

__all__ = ["GptqError", "Context", "Hessian", "QLayer", "version", "backend_available",
           "load_library"]

# Values of the C enums (pinned by the header).
_BACKENDS = {"auto": 0, "cpu": 1, "vulkan": 2, "cuda": 3}
_BACKEND_NAMES = {v: k for k, v in _BACKENDS.items()}
_F32, _F16, _BF16 = 0, 1, 2
ZEROS_V1, ZEROS_V2 = 1, 2

_c_i32, _c_i64, _c_u32 = ctypes.c_int32, ctypes.c_int64, ctypes.c_uint32
_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, _c_i64, _c_i64)


class _CtxParams(ctypes.Structure):
    _fields_ = [("struct_size", _c_u32), ("backend", ctypes.c_int), ("device_index", _c_i32),
                ("n_threads", _c_i32), ("pipeline_cache", ctypes.c_void_p),
                ("pipeline_cache_size", ctypes.c_size_t)]


class _Matrix(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("rows", _c_i64),
                ("cols", _c_i64), ("row_stride", _c_i64)]


class _QuantParams(ctypes.Structure):
    _fields_ = [("struct_size", _c_u32), ("bits", _c_i32), ("group_size", _c_i32),
                ("sym", _c_i32), ("desc_act", _c_i32), ("static_groups", _c_i32),
                ("block_size", _c_i32), ("damp_percent", ctypes.c_float),
                ("damp_auto_increment", ctypes.c_float), ("damp_max", ctypes.c_float),
                ("mse", _c_i32), ("mse_grid", _c_i32), ("mse_maxshrink", ctypes.c_float),
                ("mse_norm", ctypes.c_float), ("layer_name", ctypes.c_char_p),
                ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


class _QuantReport(ctypes.Structure):
    _fields_ = [("struct_size", _c_u32), ("loss", ctypes.c_double),
                ("rel_output_error", ctypes.c_double), ("damp_used", ctypes.c_double),
                ("damp_retries", _c_i32), ("dead_columns", _c_i64), ("seconds", ctypes.c_double)]


class _QLayerInfo(ctypes.Structure):
    _fields_ = [("struct_size", _c_u32), ("n", _c_i64), ("k", _c_i64), ("bits", _c_i32),
                ("group_size", _c_i32), ("n_groups", _c_i64), ("sym", _c_i32),
                ("desc_act", _c_i32), ("static_groups", _c_i32),
                ("qweight_rows", _c_i64), ("qweight_cols", _c_i64),
                ("qzeros_rows", _c_i64), ("qzeros_cols", _c_i64),
                ("scales_rows", _c_i64), ("scales_cols", _c_i64), ("g_idx_len", _c_i64)]


class _PackedLayer(ctypes.Structure):
    _fields_ = [("struct_size", _c_u32), ("n", _c_i64), ("k", _c_i64), ("bits", _c_i32),
                ("group_size", _c_i32), ("sym", _c_i32), ("desc_act", _c_i32),
                ("zeros_format", ctypes.c_int), ("qweight", ctypes.c_void_p),
                ("qzeros", ctypes.c_void_p), ("scales", ctypes.c_void_p),
                ("scales_dtype", ctypes.c_int), ("g_idx", ctypes.c_void_p)]


_lib = None


def load_library(path=None):
    """Loads libgptq once (path, else $GPTQ_LIBRARY, else the system search path)."""
    global _lib
    if _lib is not None:
        return _lib
    path = path or os.environ.get("GPTQ_LIBRARY") or ctypes.util.find_library("gptq") \
        or "libgptq.so.0"
    lib = ctypes.CDLL(path)
    P, vp = ctypes.POINTER, ctypes.c_void_p
    sigs = {
        "gptq_version_string": (ctypes.c_char_p, []),
        "gptq_version_number": (ctypes.c_uint, []),
        "gptq_status_string": (ctypes.c_char_p, [ctypes.c_int]),
        "gptq_backend_available": (ctypes.c_int, [ctypes.c_int]),
        "gptq_ctx_params_init": (None, [P(_CtxParams)]),
        "gptq_ctx_create": (ctypes.c_int, [P(_CtxParams), P(vp)]),
        "gptq_ctx_destroy": (None, [vp]),
        "gptq_ctx_backend": (ctypes.c_int, [vp]),
        "gptq_ctx_device_name": (ctypes.c_char_p, [vp]),
        "gptq_last_error": (ctypes.c_char_p, [vp]),
        "gptq_hessian_create": (ctypes.c_int, [vp, _c_i64, P(vp)]),
        "gptq_hessian_destroy": (None, [vp]),
        "gptq_hessian_add": (ctypes.c_int, [vp, P(_Matrix)]),
        "gptq_hessian_tokens": (_c_i64, [vp]),
        "gptq_hessian_get": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_quant_params_init": (None, [P(_QuantParams)]),
        "gptq_quantize_layer": (ctypes.c_int, [vp, P(_QuantParams), P(_Matrix), vp, P(vp),
                                               P(_QuantReport)]),
        "gptq_quantize_rtn": (ctypes.c_int, [vp, P(_QuantParams), P(_Matrix), P(vp)]),
        "gptq_qlayer_get_info": (ctypes.c_int, [vp, P(_QLayerInfo)]),
        "gptq_qlayer_get_qweight": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_get_qzeros": (ctypes.c_int, [vp, ctypes.c_int, vp, ctypes.c_size_t]),
        "gptq_qlayer_get_scales_f16": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_get_g_idx": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_get_codes": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_get_scales": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_get_zeros": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_get_perm": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_dequantize": (ctypes.c_int, [vp, vp, ctypes.c_size_t]),
        "gptq_qlayer_from_packed": (ctypes.c_int, [vp, P(_PackedLayer), P(vp)]),
        "gptq_qlayer_destroy": (None, [vp]),
        "gptq_matmul_q": (ctypes.c_int, [vp, vp, P(_Matrix), vp, _c_i64]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    _lib = lib
    return lib


class GptqError(Exception):
    """A libgptq call failed: .status is the gptq_status value, .message the detail."""

    def __init__(self, status, message):
        lib = load_library()
        super().__init__(f"{lib.gptq_status_string(status).decode()}: {message}")
        self.status = status
        self.message = message


def _check(status, ctx_handle):
    if status != 0:
        raise GptqError(status, load_library().gptq_last_error(ctx_handle).decode())


def version():
    return load_library().gptq_version_string().decode()


def backend_available(name):
    return bool(load_library().gptq_backend_available(_BACKENDS[name]))


def _f32_buffer(data, count, what):
    """A ctypes float array over `data` (shared when possible, else a copy) of `count`."""
    if isinstance(data, (list, tuple)):
        if len(data) != count:
            raise ValueError(f"{what}: {len(data)} values, expected {count}")
        return (ctypes.c_float * count)(*data)
    mv = memoryview(data)
    if mv.format != "f" or not mv.c_contiguous:
        raise TypeError(f"{what}: need a contiguous float32 buffer, got format {mv.format!r}")
    if mv.nbytes != 4 * count:
        raise ValueError(f"{what}: {mv.nbytes // 4} values, expected {count}")
    if mv.readonly:
        return (ctypes.c_float * count).from_buffer_copy(mv)
    return (ctypes.c_float * count).from_buffer(mv)


def _matrix(buf, rows, cols):
    return _Matrix(ctypes.cast(buf, ctypes.c_void_p), _F32, rows, cols, 0)


class Context:
    """A gptq_ctx: a backend instance. One thread at a time."""

    def __init__(self, backend="auto", device_index=0, n_threads=0):
        lib = load_library()
        p = _CtxParams()
        lib.gptq_ctx_params_init(ctypes.byref(p))
        p.backend, p.device_index, p.n_threads = _BACKENDS[backend], device_index, n_threads
        h = ctypes.c_void_p()
        _check(lib.gptq_ctx_create(ctypes.byref(p), ctypes.byref(h)), None)
        self._h = h
        self._children = []  # hessians/layers must be destroyed before the context

    def close(self):
        if self._h:
            for c in self._children:
                c.close()
            load_library().gptq_ctx_destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    @property
    def backend(self):
        return _BACKEND_NAMES[load_library().gptq_ctx_backend(self._h)]

    @property
    def device_name(self):
        return load_library().gptq_ctx_device_name(self._h).decode()

    def _adopt(self, obj):
        self._children.append(obj)
        return obj

    def hessian(self, k):
        h = ctypes.c_void_p()
        _check(load_library().gptq_hessian_create(self._h, k, ctypes.byref(h)), self._h)
        return self._adopt(Hessian(self, h, k))

    @staticmethod
    def _params(bits, group_size, sym, desc_act, static_groups, **extra):
        p = _QuantParams()
        load_library().gptq_quant_params_init(ctypes.byref(p))
        p.bits, p.group_size, p.sym = bits, group_size, int(sym)
        p.desc_act, p.static_groups = int(desc_act), int(static_groups)
        for key, value in extra.items():
            if key == "layer_name":
                value = value.encode()
            setattr(p, key, value)
        return p

    def quantize(self, weight, n, k, hessian, bits=4, group_size=128, sym=False,
                 desc_act=False, static_groups=False, **extra):
        """GPTQ on weight [n x k]; returns (QLayer, report dict)."""
        p = self._params(bits, group_size, sym, desc_act, static_groups, **extra)
        w = _f32_buffer(weight, n * k, "weight")
        rep = _QuantReport()
        rep.struct_size = ctypes.sizeof(_QuantReport)
        out = ctypes.c_void_p()
        _check(load_library().gptq_quantize_layer(self._h, ctypes.byref(p),
                                                  ctypes.byref(_matrix(w, n, k)), hessian._h,
                                                  ctypes.byref(out), ctypes.byref(rep)), self._h)
        report = {name: getattr(rep, name) for name, _ in _QuantReport._fields_[1:]}
        return self._adopt(QLayer(self, out)), report

    def quantize_rtn(self, weight, n, k, bits=4, group_size=128, sym=False):
        p = self._params(bits, group_size, sym, False, False)
        w = _f32_buffer(weight, n * k, "weight")
        out = ctypes.c_void_p()
        _check(load_library().gptq_quantize_rtn(self._h, ctypes.byref(p),
                                                ctypes.byref(_matrix(w, n, k)),
                                                ctypes.byref(out)), self._h)
        return self._adopt(QLayer(self, out))

    def layer_from_packed(self, n, k, bits, group_size, qweight, qzeros, scales_f16, g_idx=None,
                          zeros_format=ZEROS_V2, sym=False, desc_act=False):
        """A QLayer from checkpoint tensors (array('i') / array('H') buffers)."""
        keep = [array.array("i", qweight), array.array("i", qzeros), array.array("H", scales_f16)]
        if g_idx is not None:
            keep.append(array.array("i", g_idx))
        p = _PackedLayer()
        p.struct_size = ctypes.sizeof(_PackedLayer)
        p.n, p.k, p.bits, p.group_size = n, k, bits, group_size
        p.sym, p.desc_act, p.zeros_format, p.scales_dtype = int(sym), int(desc_act), zeros_format, _F16
        p.qweight, p.qzeros, p.scales = (a.buffer_info()[0] for a in keep[:3])
        p.g_idx = keep[3].buffer_info()[0] if g_idx is not None else None
        out = ctypes.c_void_p()
        _check(load_library().gptq_qlayer_from_packed(self._h, ctypes.byref(p), ctypes.byref(out)),
               self._h)
        return self._adopt(QLayer(self, out))


class Hessian:
    """Accumulator of H = (2/n) sum x x^T for a layer with k inputs."""

    def __init__(self, ctx, handle, k):
        self._ctx, self._h, self.k = ctx, handle, k

    def close(self):
        if self._h:
            load_library().gptq_hessian_destroy(self._h)
            self._h = None

    def add(self, x, rows):
        buf = _f32_buffer(x, rows * self.k, "x")
        _check(load_library().gptq_hessian_add(self._h, ctypes.byref(_matrix(buf, rows, self.k))),
               self._ctx._h)

    @property
    def tokens(self):
        return load_library().gptq_hessian_tokens(self._h)

    def get(self):
        out = array.array("f", bytes(4 * self.k * self.k))
        _check(load_library().gptq_hessian_get(self._h, out.buffer_info()[0], len(out)),
               self._ctx._h)
        return out


class QLayer:
    """A quantized layer: checkpoint tensors, unpacked views, and the quantized matmul."""

    def __init__(self, ctx, handle):
        self._ctx, self._h = ctx, handle
        info = _QLayerInfo()
        info.struct_size = ctypes.sizeof(_QLayerInfo)
        _check(load_library().gptq_qlayer_get_info(self._h, ctypes.byref(info)), ctx._h)
        self.info = {name: getattr(info, name) for name, _ in _QLayerInfo._fields_[1:]}

    def close(self):
        if self._h:
            load_library().gptq_qlayer_destroy(self._h)
            self._h = None

    def _get(self, fn, typecode, count, *pre):
        out = array.array(typecode, bytes(array.array(typecode).itemsize * count))
        _check(fn(self._h, *pre, out.buffer_info()[0], count), self._ctx._h)
        return out

    def qweight(self):
        i = self.info
        return self._get(load_library().gptq_qlayer_get_qweight, "i",
                         i["qweight_rows"] * i["qweight_cols"])

    def qzeros(self, zeros_format=ZEROS_V2):
        i = self.info
        return self._get(load_library().gptq_qlayer_get_qzeros, "i",
                         i["qzeros_rows"] * i["qzeros_cols"], zeros_format)

    def scales_f16(self):
        i = self.info
        return self._get(load_library().gptq_qlayer_get_scales_f16, "H",
                         i["scales_rows"] * i["scales_cols"])

    def g_idx(self):
        return self._get(load_library().gptq_qlayer_get_g_idx, "i", self.info["g_idx_len"])

    def codes(self):
        return self._get(load_library().gptq_qlayer_get_codes, "i", self.info["n"] * self.info["k"])

    def scales(self):
        return self._get(load_library().gptq_qlayer_get_scales, "f",
                         self.info["n_groups"] * self.info["n"])

    def zeros(self):
        return self._get(load_library().gptq_qlayer_get_zeros, "i",
                         self.info["n_groups"] * self.info["n"])

    def perm(self):
        return self._get(load_library().gptq_qlayer_get_perm, "i", self.info["k"])

    def dequantize(self):
        return self._get(load_library().gptq_qlayer_dequantize, "f", self.info["n"] * self.info["k"])

    def matmul(self, x, rows):
        """y [rows x n] = x [rows x k] * dequant(W)^T, fp32."""
        k, n = self.info["k"], self.info["n"]
        buf = _f32_buffer(x, rows * k, "x")
        y = array.array("f", bytes(4 * rows * n))
        _check(load_library().gptq_matmul_q(self._ctx._h, self._h,
                                            ctypes.byref(_matrix(buf, rows, k)),
                                            y.buffer_info()[0], 0), self._ctx._h)
        return y
