"""Handles: context managers, close(), use after close, garbage collection, bad backends."""
import gc
import os
import subprocess
import sys

import pytest

import gptq
from conftest import K


def test_unknown_backend_is_a_value_error_without_del_noise():
    unraisable = []
    old, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with pytest.raises(ValueError, match="gpu"):
            gptq.Context("gpu")
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert not unraisable


def test_library_errors_carry_status_and_message(ctx):
    with pytest.raises(gptq.GptqError) as err:
        ctx.hessian(0)
    assert err.value.status == 2 and err.value.status_name  # GPTQ_ERR_SHAPE
    assert "k" in err.value.message and err.value.message in str(err.value)


def test_close_is_idempotent_and_use_after_close_is_refused(problem):
    with gptq.Context("cpu") as ctx:
        h = ctx.hessian(K)
        layer = ctx.quantize_rtn(problem[1])
    with pytest.raises(ValueError, match="closed Hessian"):
        h.add(problem[0])
    with pytest.raises(ValueError, match="closed QLayer"):
        layer.qweight()
    ctx.close()
    layer.close()


def test_layers_outlive_dropped_references(problem):
    ctx = gptq.Context("cpu")
    layer = ctx.quantize_rtn(problem[1])
    del ctx  # the layer keeps its context alive
    gc.collect()
    assert layer.dequantize().shape == problem[1].shape


def _load_in_child(env_value):
    env = dict(os.environ, GPTQ_LIBRARY=env_value)
    code = "import gptq; print(gptq.library_path()); print(gptq.version())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_gptq_library_may_name_the_file_or_its_directory():
    path = gptq.library_path()
    for value in (path, os.path.dirname(path)):
        out = _load_in_child(value)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[1] == gptq.version()


def test_a_wrong_gptq_library_is_reported_by_name(tmp_path):
    out = _load_in_child(str(tmp_path))
    assert out.returncode != 0 and "GPTQ_LIBRARY" in out.stderr
