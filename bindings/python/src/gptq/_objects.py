"""Context, Hessian and QLayer: owners of libgptq handles."""
import ctypes
import dataclasses
import weakref

import numpy as np

from . import _lib
from ._arrays import MatrixArg, address, int32_array, scales_array
from ._options import quant_params


class GptqError(RuntimeError):
    """A libgptq call failed. .status is the gptq_status code, .status_name its text,
    .message the library's explanation (it names the argument or layer)."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = _lib.load_library().gptq_status_string(status).decode()
        self.message = message
        super().__init__(f"{self.status_name}: {message}")


def _check(status, ctx_handle):
    if status != 0:
        message = _lib.load_library().gptq_last_error(ctx_handle).decode()
        raise GptqError(status, message)


def version():
    """The loaded library's version string, e.g. "0.1.0"."""
    return _lib.load_library().gptq_version_string().decode()


def _backend_value(name):
    if name not in _lib.BACKENDS:
        raise ValueError(f"backend {name!r} is not one of {', '.join(_lib.BACKENDS)}")
    return _lib.BACKENDS[name]


def backend_available(name):
    """True if the backend ("cpu", "vulkan", "cuda", "auto") is compiled in and has a device."""
    return bool(_lib.load_library().gptq_backend_available(_backend_value(name)))


@dataclasses.dataclass(frozen=True)
class QuantReport:
    """What gptq_quantize_layer reports about one layer."""
    loss: float
    rel_output_error: float
    damp_used: float
    damp_retries: int
    dead_columns: int
    seconds: float


class _Handle:
    """Owns one C handle; close() is idempotent and __del__ never raises."""
    _destroy_name = ""
    _h = None

    def close(self):
        """Frees the C object now (also done by `with` and by garbage collection)."""
        handle, self._h = self._h, None
        if handle:
            getattr(_lib.load_library(), self._destroy_name)(handle)

    def _handle(self):
        if not self._h:
            raise ValueError(f"operation on a closed {type(self).__name__}")
        return self._h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown, half-built object, ...
            pass


class Context(_Handle):
    """A gptq_ctx: one backend instance ("auto", "cpu", "vulkan", "cuda"). Use it from one
    thread at a time. Closing it first closes the Hessians and layers made with it."""
    _destroy_name = "gptq_ctx_destroy"

    def __init__(self, backend="auto", *, device_index=0, n_threads=0):
        lib = _lib.load_library()
        p = _lib.CtxParams()
        lib.gptq_ctx_params_init(ctypes.byref(p))
        p.backend, p.device_index, p.n_threads = _backend_value(backend), device_index, n_threads
        self._children = weakref.WeakSet()
        h = ctypes.c_void_p()
        _check(lib.gptq_ctx_create(ctypes.byref(p), ctypes.byref(h)), None)
        self._h = h

    def close(self):
        for child in list(getattr(self, "_children", ())):
            child.close()
        super().close()

    @property
    def backend(self):
        value = _lib.load_library().gptq_ctx_backend(self._handle())
        return next(name for name, v in _lib.BACKENDS.items() if v == value)

    @property
    def device_name(self):
        return _lib.load_library().gptq_ctx_device_name(self._handle()).decode()

    def _call(self, status):
        _check(status, self._h)

    def _adopt(self, obj):
        self._children.add(obj)
        return obj

    def hessian(self, k):
        """A new, empty Hessian accumulator for a layer with k inputs."""
        h = ctypes.c_void_p()
        self._call(_lib.load_library().gptq_hessian_create(self._handle(), k, ctypes.byref(h)))
        return self._adopt(Hessian(self, h, k))

    def quantize(self, weight, hessian, *, progress=None, **options):
        """GPTQ on weight [N, K] (float32/float16) with the Hessian of its K inputs.

        Options (keyword only, unknown names raise TypeError): bits, group_size, sym,
        desc_act, static_groups, block_size, damp_percent, damp_auto_increment, damp_max,
        mse, mse_grid, mse_maxshrink, mse_norm, layer_name; aliases act_order, groupsize,
        percdamp, wbits. progress(done, total) is called during the work; a true result
        cancels. Returns (QLayer, QuantReport)."""
        if not isinstance(hessian, Hessian):
            raise TypeError(f"hessian: expected a gptq.Hessian, got {type(hessian).__name__}")
        w = MatrixArg(weight, "weight", cols=hessian.k)
        callback = _progress_callback(progress)
        params = quant_params(options, "quantize", callback)
        rep = _lib.QuantReport()
        rep.struct_size = ctypes.sizeof(rep)
        out = ctypes.c_void_p()
        self._call(_lib.load_library().gptq_quantize_layer(
            self._handle(), ctypes.byref(params), w.ref(), hessian._handle(), ctypes.byref(out),
            ctypes.byref(rep)))
        report = QuantReport(*(getattr(rep, f.name) for f in dataclasses.fields(QuantReport)))
        return self._adopt(QLayer(self, out)), report

    def quantize_rtn(self, weight, **options):
        """Round-to-nearest on weight [N, K] with the same grid (the GPTQ baseline). Takes
        quantize()'s options; act-order, static groups and damping are ignored."""
        w = MatrixArg(weight, "weight")
        params = quant_params(options, "quantize_rtn")
        out = ctypes.c_void_p()
        self._call(_lib.load_library().gptq_quantize_rtn(self._handle(), ctypes.byref(params),
                                                        w.ref(), ctypes.byref(out)))
        return self._adopt(QLayer(self, out))

    def layer_from_packed(self, qweight, qzeros, scales, g_idx=None, *, bits, group_size,
                          k=None, zeros_format="v2", sym=False, desc_act=False):
        """A QLayer from checkpoint tensors: qweight int32 [ceil(K*bits/32), N], qzeros int32
        [n_groups, ceil(N*bits/32)], scales float16/float32 [n_groups, N], g_idx int32 [K].
        K is len(g_idx), else k=, else qweight's rows * 32 / bits."""
        qw = int32_array(qweight, "qweight", 2)
        qz = int32_array(qzeros, "qzeros", 2)
        sc, sc_dtype = scales_array(scales)
        gi = None if g_idx is None else int32_array(g_idx, "g_idx", 1)
        if zeros_format not in _lib.ZEROS_FORMATS:
            raise ValueError(f"zeros_format {zeros_format!r} is not one of v1, v2")
        if k is None:
            k = len(gi) if gi is not None else qw.shape[0] * 32 // bits
        p = _lib.PackedLayer()
        p.struct_size = ctypes.sizeof(p)
        p.n, p.k, p.bits, p.group_size = qw.shape[1], k, bits, group_size
        p.sym, p.desc_act = int(sym), int(desc_act)
        p.zeros_format, p.scales_dtype = _lib.ZEROS_FORMATS[zeros_format], sc_dtype
        p.qweight, p.qzeros, p.scales = qw.ctypes.data, qz.ctypes.data, sc.ctypes.data
        p.g_idx = None if gi is None else gi.ctypes.data
        out = ctypes.c_void_p()
        self._call(_lib.load_library().gptq_qlayer_from_packed(self._handle(), ctypes.byref(p),
                                                              ctypes.byref(out)))
        return self._adopt(QLayer(self, out))


def _progress_callback(progress):
    if progress is None:
        return None
    if not callable(progress):
        raise TypeError("progress: expected a callable progress(done, total)")

    def call(_user, done, total):
        try:
            return 1 if progress(done, total) else 0
        except Exception:  # noqa: BLE001 - an exception cannot cross the C frames: cancel
            return 1
    return _lib.PROGRESS_FN(call)


class Hessian(_Handle):
    """Accumulator of H = (2/n) sum x x^T for a layer with k inputs (from Context.hessian)."""
    _destroy_name = "gptq_hessian_destroy"

    def __init__(self, ctx, handle, k):
        self._ctx, self._h, self.k = ctx, handle, k

    def add(self, x):
        """Adds activations x [tokens, k] (or one token [k]), float32 or float16."""
        m = MatrixArg(x, "x", cols=self.k, allow_1d=True)
        self._ctx._call(_lib.load_library().gptq_hessian_add(self._handle(), m.ref()))

    def set(self, h, n_tokens=0):
        """Replaces the accumulated state by a scaled, symmetric [k, k] matrix."""
        m = MatrixArg(h, "h", cols=self.k)
        if m.rows != self.k:
            raise ValueError(f"h: expected shape ({self.k}, {self.k}), got {m.array.shape}")
        arr = np.ascontiguousarray(m.array, dtype=np.float32)
        self._ctx._call(_lib.load_library().gptq_hessian_set(self._handle(), address(arr),
                                                            self.k, n_tokens))

    @property
    def tokens(self):
        return _lib.load_library().gptq_hessian_tokens(self._handle())

    def get(self):
        """The scaled Hessian as float32 [k, k]."""
        out = np.empty((self.k, self.k), np.float32)
        self._ctx._call(_lib.load_library().gptq_hessian_get(self._handle(), address(out),
                                                            out.size))
        return out


class QLayer(_Handle):
    """A quantized layer: checkpoint tensors, unpacked views and the quantized matmul."""
    _destroy_name = "gptq_qlayer_destroy"

    def __init__(self, ctx, handle):
        self._ctx, self._h = ctx, handle
        info = _lib.QLayerInfo()
        info.struct_size = ctypes.sizeof(info)
        ctx._call(_lib.load_library().gptq_qlayer_get_info(self._h, ctypes.byref(info)))
        self.info = {name: getattr(info, name) for name, _ in _lib.QLayerInfo._fields_[1:]}
        self.n, self.k, self.bits = self.info["n"], self.info["k"], self.info["bits"]

    def _get(self, fn_name, dtype, shape, *before):
        out = np.empty(shape, dtype)
        fn = getattr(_lib.load_library(), fn_name)
        self._ctx._call(fn(self._handle(), *before, address(out), out.size))
        return out

    def _shape(self, what):
        return (self.info[what + "_rows"], self.info[what + "_cols"])

    def qweight(self):
        """Packed codes, int32 [ceil(K*bits/32), N] (checkpoint tensor)."""
        return self._get("gptq_qlayer_get_qweight", np.int32, self._shape("qweight"))

    def qzeros(self, zeros_format="v2"):
        """Packed zero points, int32 [n_groups, ceil(N*bits/32)]; "v1" stores zero - 1."""
        if zeros_format not in _lib.ZEROS_FORMATS:
            raise ValueError(f"zeros_format {zeros_format!r} is not one of v1, v2")
        return self._get("gptq_qlayer_get_qzeros", np.int32, self._shape("qzeros"),
                         _lib.ZEROS_FORMATS[zeros_format])

    def scales(self):
        """Scales, float16 [n_groups, N] (checkpoint tensor)."""
        raw = self._get("gptq_qlayer_get_scales_f16", np.uint16, self._shape("scales"))
        return raw.view(np.float16)

    def g_idx(self):
        """Group of each input column, int32 [K] (checkpoint tensor)."""
        return self._get("gptq_qlayer_get_g_idx", np.int32, (self.info["g_idx_len"],))

    def state_dict(self, zeros_format="v2"):
        """The four checkpoint tensors by their checkpoint names."""
        return {"qweight": self.qweight(), "qzeros": self.qzeros(zeros_format),
                "scales": self.scales(), "g_idx": self.g_idx()}

    def codes(self):
        """Unpacked codes 0..2^bits-1, int32 [N, K]."""
        return self._get("gptq_qlayer_get_codes", np.int32, (self.n, self.k))

    def unpacked_scales(self):
        """Scales in fp32 as computed, float32 [n_groups, N]."""
        return self._get("gptq_qlayer_get_scales", np.float32, (self.info["n_groups"], self.n))

    def zeros(self):
        """True zero points, int32 [n_groups, N]."""
        return self._get("gptq_qlayer_get_zeros", np.int32, (self.info["n_groups"], self.n))

    def perm(self):
        """Act-order permutation (perm[i] = column quantized i-th), int32 [K]."""
        return self._get("gptq_qlayer_get_perm", np.int32, (self.k,))

    def dequantize(self):
        """The dequantized weight, float32 [N, K]."""
        return self._get("gptq_qlayer_dequantize", np.float32, (self.n, self.k))

    def matmul(self, x):
        """y = x @ dequantize().T for x [M, K] (or [K]) float32/float16; y float32 [M, N]
        (or [N])."""
        m = MatrixArg(x, "x", cols=self.k, allow_1d=True)
        y = np.empty((m.rows, self.n), np.float32)
        self._ctx._call(_lib.load_library().gptq_matmul_q(
            self._ctx._handle(), self._handle(), m.ref(), address(y), 0))
        return y[0] if m.was_1d else y
