"""Quantization, checkpoint tensors and the matmul through the NumPy API, checked against
independent NumPy computations."""
import numpy as np
import pytest

import gptq
from conftest import GROUP, K, N, TOKENS, correlated_activations


def test_version_and_backend(ctx):
    assert gptq.version().count(".") == 2
    assert gptq.backend_available("cpu")
    assert ctx.backend == "cpu" and ctx.device_name


def test_hessian_matches_numpy(ctx, problem, hessian):
    x = problem[0].astype(np.float64)
    expect = 2.0 / TOKENS * x.T @ x
    got = hessian.get()
    assert got.dtype == np.float32 and got.shape == (K, K)
    assert hessian.tokens == TOKENS
    # fp32 accumulation of TOKENS products per entry: relative error well below 1e-4.
    assert np.allclose(got, expect, rtol=1e-4, atol=1e-4 * np.abs(expect).max())


def test_checkpoint_tensors_have_checkpoint_shapes_and_dtypes(ctx, problem, hessian):
    layer, report = ctx.quantize(problem[1], hessian, bits=4, group_size=GROUP, desc_act=True)
    groups = K // GROUP
    tensors = layer.state_dict()
    assert tensors["qweight"].dtype == np.int32 and tensors["qweight"].shape == (K * 4 // 32, N)
    assert tensors["qzeros"].dtype == np.int32 and tensors["qzeros"].shape == (groups, N * 4 // 32)
    assert tensors["scales"].dtype == np.float16 and tensors["scales"].shape == (groups, N)
    assert tensors["g_idx"].dtype == np.int32 and tensors["g_idx"].shape == (K,)
    assert sorted(layer.perm()) == list(range(K))
    assert 0.0 < report.rel_output_error < 0.05, report
    # The fp16 checkpoint scales are the fp32 scales rounded to half precision.
    assert np.array_equal(tensors["scales"], layer.unpacked_scales().astype(np.float16))


def test_dequantize_is_scale_times_code_minus_zero(ctx, problem, hessian):
    layer, _ = ctx.quantize(problem[1], hessian, bits=3, group_size=GROUP, desc_act=True)
    codes, zeros, scales, g = layer.codes(), layer.zeros(), layer.unpacked_scales(), layer.g_idx()
    assert codes.min() >= 0 and codes.max() <= 7
    expect = scales[g, :].T * (codes - zeros[g, :].T)  # exact in float32: one product
    assert np.array_equal(layer.dequantize(), expect.astype(np.float32))


def test_matmul_equals_dequantized_product(ctx, problem, hessian):
    layer, _ = ctx.quantize(problem[1], hessian, bits=4, group_size=GROUP)
    x = correlated_activations(3, K, np.random.default_rng(9))
    y = layer.matmul(x)
    assert y.dtype == np.float32 and y.shape == (3, N)
    products = x.astype(np.float64)[:, None, :] * layer.dequantize().astype(np.float64)[None]
    exact, magnitude = products.sum(-1), np.abs(products).sum(-1)
    # fp32 dot product of K terms: |error| <= 2 K u sum|x w| (u = 2^-24).
    assert np.all(np.abs(y - exact) <= 2 * K * 2.0 ** -24 * magnitude + 1e-30)
    # One row given as a 1-D vector comes back as a 1-D vector.
    assert np.array_equal(layer.matmul(x[1]), y[1])


def test_packed_tensors_rebuild_the_layer(ctx, problem, hessian):
    layer, _ = ctx.quantize(problem[1], hessian, bits=4, group_size=GROUP, desc_act=True)
    for fmt in ("v1", "v2"):
        t = layer.state_dict(fmt)
        again = ctx.layer_from_packed(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], bits=4,
                                      group_size=GROUP, zeros_format=fmt)
        assert (again.n, again.k) == (N, K)
        assert np.array_equal(again.codes(), layer.codes())
        # The rebuilt layer has the fp16 checkpoint scales, the original its fp32 ones.
        assert np.array_equal(again.unpacked_scales(), t["scales"].astype(np.float32))
        assert np.array_equal(again.zeros(), layer.zeros())


def test_rtn_is_a_worse_baseline(ctx, problem, hessian):
    x, w = problem
    gptq_layer, _ = ctx.quantize(w, hessian, bits=3, group_size=GROUP, act_order=True)
    rtn_layer = ctx.quantize_rtn(w, bits=3, group_size=GROUP)
    held_out = correlated_activations(256, K, np.random.default_rng(11))
    ref = held_out @ w.T
    err = [np.linalg.norm(layer.matmul(held_out) - ref) for layer in (gptq_layer, rtn_layer)]
    assert err[0] < 0.8 * err[1], err


def test_progress_is_called_and_can_cancel(ctx, problem, hessian):
    seen = []
    ctx.quantize(problem[1], hessian, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == K
    with pytest.raises(gptq.GptqError) as err:
        ctx.quantize(problem[1], hessian, progress=lambda done, total: True)
    assert err.value.status == 12  # GPTQ_ERR_CANCELLED


def test_hessian_set_replaces_the_accumulated_state(ctx, problem, hessian):
    again = ctx.hessian(K)
    again.set(hessian.get(), n_tokens=TOKENS)
    a, _ = ctx.quantize(problem[1], hessian, group_size=GROUP)
    b, _ = ctx.quantize(problem[1], again, group_size=GROUP)
    assert np.array_equal(a.qweight(), b.qweight())
    with pytest.raises(ValueError, match="^h"):
        again.set(np.eye(K - 1, dtype=np.float32))
