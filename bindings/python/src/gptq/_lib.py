"""Finding and loading libgptq, and the ctypes declarations of include/gptq/gptq.h."""
import ctypes
import ctypes.util
import os
import shutil
import subprocess

# Values of the C enums (pinned by the header).
BACKENDS = {"auto": 0, "cpu": 1, "vulkan": 2, "cuda": 3}
DTYPE_F32, DTYPE_F16, DTYPE_BF16 = 0, 1, 2
ZEROS_FORMATS = {"v1": 1, "v2": 2}

_i32, _i64, _u32 = ctypes.c_int32, ctypes.c_int64, ctypes.c_uint32
_f32, _f64 = ctypes.c_float, ctypes.c_double
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, _i64, _i64)


class CtxParams(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("backend", ctypes.c_int), ("device_index", _i32),
                ("n_threads", _i32), ("pipeline_cache", ctypes.c_void_p),
                ("pipeline_cache_size", ctypes.c_size_t)]


class Matrix(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("rows", _i64),
                ("cols", _i64), ("row_stride", _i64)]


class QuantParams(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("bits", _i32), ("group_size", _i32), ("sym", _i32),
                ("desc_act", _i32), ("static_groups", _i32), ("block_size", _i32),
                ("damp_percent", _f32), ("damp_auto_increment", _f32), ("damp_max", _f32),
                ("mse", _i32), ("mse_grid", _i32), ("mse_maxshrink", _f32), ("mse_norm", _f32),
                ("layer_name", ctypes.c_char_p), ("progress", PROGRESS_FN),
                ("progress_user", ctypes.c_void_p)]


class QuantReport(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("loss", _f64), ("rel_output_error", _f64),
                ("damp_used", _f64), ("damp_retries", _i32), ("dead_columns", _i64),
                ("seconds", _f64)]


class QLayerInfo(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("n", _i64), ("k", _i64), ("bits", _i32),
                ("group_size", _i32), ("n_groups", _i64), ("sym", _i32), ("desc_act", _i32),
                ("static_groups", _i32), ("qweight_rows", _i64), ("qweight_cols", _i64),
                ("qzeros_rows", _i64), ("qzeros_cols", _i64), ("scales_rows", _i64),
                ("scales_cols", _i64), ("g_idx_len", _i64)]


class PackedLayer(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("n", _i64), ("k", _i64), ("bits", _i32),
                ("group_size", _i32), ("sym", _i32), ("desc_act", _i32),
                ("zeros_format", ctypes.c_int), ("qweight", ctypes.c_void_p),
                ("qzeros", ctypes.c_void_p), ("scales", ctypes.c_void_p),
                ("scales_dtype", ctypes.c_int), ("g_idx", ctypes.c_void_p)]


def _signatures():
    P, vp, sz, st = ctypes.POINTER, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    getter = (st, [vp, vp, sz])
    return {
        "gptq_version_string": (ctypes.c_char_p, []),
        "gptq_status_string": (ctypes.c_char_p, [st]),
        "gptq_backend_available": (ctypes.c_int, [ctypes.c_int]),
        "gptq_ctx_params_init": (None, [P(CtxParams)]),
        "gptq_ctx_create": (st, [P(CtxParams), P(vp)]),
        "gptq_ctx_destroy": (None, [vp]),
        "gptq_ctx_backend": (ctypes.c_int, [vp]),
        "gptq_ctx_device_name": (ctypes.c_char_p, [vp]),
        "gptq_last_error": (ctypes.c_char_p, [vp]),
        "gptq_hessian_create": (st, [vp, _i64, P(vp)]),
        "gptq_hessian_destroy": (None, [vp]),
        "gptq_hessian_add": (st, [vp, P(Matrix)]),
        "gptq_hessian_set": (st, [vp, vp, _i64, _i64]),
        "gptq_hessian_tokens": (_i64, [vp]),
        "gptq_hessian_get": getter,
        "gptq_quant_params_init": (None, [P(QuantParams)]),
        "gptq_quantize_layer": (st, [vp, P(QuantParams), P(Matrix), vp, P(vp), P(QuantReport)]),
        "gptq_quantize_rtn": (st, [vp, P(QuantParams), P(Matrix), P(vp)]),
        "gptq_qlayer_get_info": (st, [vp, P(QLayerInfo)]),
        "gptq_qlayer_get_qweight": getter,
        "gptq_qlayer_get_qzeros": (st, [vp, ctypes.c_int, vp, sz]),
        "gptq_qlayer_get_scales_f16": getter,
        "gptq_qlayer_get_g_idx": getter,
        "gptq_qlayer_get_codes": getter,
        "gptq_qlayer_get_scales": getter,
        "gptq_qlayer_get_zeros": getter,
        "gptq_qlayer_get_perm": getter,
        "gptq_qlayer_dequantize": getter,
        "gptq_qlayer_from_packed": (st, [vp, P(PackedLayer), P(vp)]),
        "gptq_qlayer_destroy": (None, [vp]),
        "gptq_matmul_q": (st, [vp, vp, P(Matrix), vp, _i64]),
    }


_SONAME = "libgptq.so.0"
_lib = None
_lib_path = None


def _in_dir(directory):
    for name in (_SONAME, "libgptq.so", "libgptq.dylib", "gptq.dll"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def _next_to_package():
    """The library copied into the package, or where `cmake --install` put it."""
    here = os.path.dirname(os.path.abspath(__file__))
    found = _in_dir(here)
    if found:
        return found
    try:
        from . import _install_location  # written by `cmake --install` only
    except ImportError:
        return None
    return _in_dir(os.path.normpath(os.path.join(here, _install_location.LIBDIR_FROM_PACKAGE)))


def _from_pkg_config():
    """The libdir of an installed libgptq that pkg-config knows (PKG_CONFIG_PATH)."""
    exe = shutil.which("pkg-config")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--variable=libdir", "gptq"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    return _in_dir(libdir) if out.returncode == 0 and libdir else None


def _candidates():
    """(where, path) pairs in search order: the first that loads wins."""
    env = os.environ.get("GPTQ_LIBRARY")
    if env:  # an explicit choice: used alone, so a wrong value is reported, not bypassed
        path = _in_dir(env) if os.path.isdir(env) else env
        yield "GPTQ_LIBRARY", path or os.path.join(env, _SONAME)
        return
    nearby = _next_to_package()
    if nearby:
        yield "next to the package", nearby
    yield "the system's library path", ctypes.util.find_library("gptq") or _SONAME
    from_pc = _from_pkg_config()
    if from_pc:
        yield "pkg-config", from_pc


def load_library():
    """Loads libgptq once and returns the ctypes.CDLL.

    Search order: $GPTQ_LIBRARY (the library file or its directory; when set, nothing else
    is tried), the package's directory and the install prefix's libdir (`cmake --install`),
    the system's library path, then the libdir pkg-config reports for `gptq`.
    """
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    tried = []
    for where, path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{where}: {exc}")
            continue
        for name, (res, args) in _signatures().items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        _lib, _lib_path = lib, path
        return lib
    raise OSError("libgptq could not be loaded; set GPTQ_LIBRARY to the library file "
                  "(libgptq.so.0) or the directory holding it.\n  tried " + "\n  tried ".join(tried))


def library_path():
    """The path libgptq was loaded from."""
    load_library()
    return _lib_path
