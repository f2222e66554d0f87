"""Misspelled options, wrong shapes and wrong dtypes raise Python's usual exceptions with
the argument's name; arrays of any layout give the same results as contiguous ones."""
import numpy as np
import pytest

import gptq
from conftest import GROUP, K, N


def test_unknown_option_is_a_type_error_listing_valid_names(ctx, problem, hessian):
    for wrong in ("group", "damp", "actorder"):
        with pytest.raises(TypeError) as err:
            ctx.quantize(problem[1], hessian, **{wrong: 1})
        assert repr(wrong) in str(err.value)
        assert "group_size" in str(err.value) and "damp_percent" in str(err.value)
    with pytest.raises(TypeError, match="group"):
        ctx.quantize_rtn(problem[1], group=32)


def test_aliases_mean_the_same_as_the_header_names(ctx, problem, hessian):
    a, _ = ctx.quantize(problem[1], hessian, desc_act=True, group_size=GROUP, damp_percent=0.05)
    b, _ = ctx.quantize(problem[1], hessian, act_order=True, groupsize=GROUP, percdamp=0.05)
    assert a.info == b.info and a.info["desc_act"] == 1 and a.info["group_size"] == GROUP
    assert np.array_equal(a.qweight(), b.qweight())
    with pytest.raises(TypeError, match="twice"):
        ctx.quantize(problem[1], hessian, desc_act=True, act_order=True)


def test_option_of_the_wrong_type(ctx, problem, hessian):
    with pytest.raises(TypeError, match="bits"):
        ctx.quantize(problem[1], hessian, bits="four")


def test_bad_option_value_is_a_library_error(ctx, problem, hessian):
    with pytest.raises(gptq.GptqError) as err:
        ctx.quantize(problem[1], hessian, bits=5)
    assert err.value.status == 3 and "bits" in err.value.message  # GPTQ_ERR_UNSUPPORTED


def test_wrong_shape_names_the_argument(ctx, problem, hessian):
    x, w = problem
    with pytest.raises(ValueError, match="weight"):
        ctx.quantize(w[:, :-1], hessian)
    with pytest.raises(ValueError, match="weight"):
        ctx.quantize(w.reshape(-1), hessian)
    with pytest.raises(ValueError, match="^x"):
        hessian.add(x[:, :10])
    layer = ctx.quantize_rtn(w)
    with pytest.raises(ValueError, match="^x"):
        layer.matmul(np.zeros((2, K + 1), np.float32))


def test_wrong_dtype_names_the_argument(ctx, problem, hessian):
    x, w = problem
    with pytest.raises(TypeError, match="weight.*float64"):
        ctx.quantize(w.astype(np.float64), hessian)
    with pytest.raises(TypeError, match="^x.*int64"):
        hessian.add(np.ones((2, K), np.int64))
    with pytest.raises(TypeError, match="hessian"):
        ctx.quantize(w, "not a hessian")
    with pytest.raises(TypeError, match="scales"):
        ctx.layer_from_packed(np.zeros((16, N), np.int32), np.zeros((4, 4), np.int32),
                              np.zeros((4, N), np.float64), bits=4, group_size=GROUP)


def test_any_layout_and_half_precision(ctx, problem, hessian):
    x, w = problem
    ref, _ = ctx.quantize(w, hessian, group_size=GROUP)
    fortran, _ = ctx.quantize(np.asfortranarray(w), hessian, group_size=GROUP)
    wide = np.zeros((N, 2 * K), np.float32)
    wide[:, ::2] = w  # every other column: non-contiguous, copied
    strided, _ = ctx.quantize(wide[:, ::2], hessian, group_size=GROUP)
    padded = np.zeros((N, K + 7), np.float32)
    padded[:, :K] = w  # contiguous rows at a larger pitch: passed with a row stride
    pitched, _ = ctx.quantize(padded[:, :K], hessian, group_size=GROUP)
    for layer in (fortran, strided, pitched):
        assert np.array_equal(layer.qweight(), ref.qweight())
    # float16 weights quantize like their exact float32 copies.
    w16 = w.astype(np.float16)
    a, _ = ctx.quantize(w16, hessian, group_size=GROUP)
    b, _ = ctx.quantize(w16.astype(np.float32), hessian, group_size=GROUP)
    assert np.array_equal(a.qweight(), b.qweight())
    # Nested lists go through np.asarray (float64 is refused, so give float32 values).
    y = ref.matmul(np.asarray(x[:2].tolist(), np.float32))
    assert np.array_equal(y, ref.matmul(x[:2]))


class DLPackOnly:
    """An array exporter that speaks only DLPack (like some GPU array libraries)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, stream=None):
        return self._array.__dlpack__()

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_dlpack_producers(ctx, problem, hessian):
    x, w = problem
    ref, _ = ctx.quantize(w, hessian, group_size=GROUP)
    layer, _ = ctx.quantize(DLPackOnly(w), hessian, group_size=GROUP)
    assert np.array_equal(layer.qweight(), ref.qweight())
    assert np.array_equal(layer.matmul(DLPackOnly(x[:2])), ref.matmul(x[:2]))


def test_torch_tensors_when_torch_is_installed(ctx, problem, hessian):
    torch = pytest.importorskip("torch")
    x, w = problem
    ref, _ = ctx.quantize(w, hessian, group_size=GROUP)
    layer, _ = ctx.quantize(torch.from_numpy(w).t().contiguous().t(), hessian, group_size=GROUP)
    assert np.array_equal(layer.qweight(), ref.qweight())
    y = layer.matmul(torch.from_numpy(x[:3]).to(torch.bfloat16))
    assert y.shape == (3, N)
