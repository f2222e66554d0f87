"""Quantizes a random layer to 4 bits with GPTQ and multiplies with it."""
import numpy as np

import gptq

n, k, tokens = 64, 256, 512
rng = np.random.default_rng(7)
acts = rng.standard_normal((tokens, k), dtype=np.float32)
weight = (0.05 * rng.standard_normal((n, k))).astype(np.float32)

with gptq.Context("cpu") as ctx:
    h = ctx.hessian(k)
    h.add(acts)
    layer, report = ctx.quantize(weight, h, bits=4, group_size=128, desc_act=True)
    tensors = layer.state_dict()  # qweight int32 [32, 64], qzeros, scales float16, g_idx
    y = layer.matmul(acts[:4])    # float32 [4, 64]
    print(f"{n} x {k} -> qweight {tensors['qweight'].shape}, relative output error "
          f"{report.rel_output_error:.4f}, y {y.shape}")
    try:
        ctx.quantize(weight, h, group=32)
    except TypeError as err:
        print("a misspelled option:", str(err)[:60], "...")
