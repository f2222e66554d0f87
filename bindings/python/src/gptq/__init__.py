"""Python binding of libgptq: GPTQ quantization of linear layers and quantized matmuls.

    import numpy as np, gptq
    with gptq.Context("cpu") as ctx:
        h = ctx.hessian(k)
        h.add(x)                                   # activations [tokens, k]
        layer, report = ctx.quantize(w, h, bits=4, group_size=128, desc_act=True)
        tensors = layer.state_dict()               # qweight, qzeros, scales, g_idx
        y = layer.matmul(x_new)                    # [m, n] float32

Arrays are NumPy arrays (float32 or float16; torch tensors and anything with __array__
work too). The library is found through $GPTQ_LIBRARY, next to the package, on the
system's library path, then through pkg-config.
"""
from ._lib import library_path, load_library
from ._objects import (Context, GptqError, Hessian, QLayer, QuantReport, backend_available,
                       version)
from ._options import ALIASES, QUANT_OPTIONS

__all__ = ["Context", "Hessian", "QLayer", "QuantReport", "GptqError", "version",
           "backend_available", "load_library", "library_path", "QUANT_OPTIONS", "ALIASES"]
__version__ = "0.1.0"
