"""Shared fixtures: a CPU context and a small correlated calibration problem."""
import numpy as np
import pytest

import gptq

N, K, TOKENS, GROUP = 32, 128, 512, 32


def correlated_activations(rows, k, rng):
    """Activations whose neighbouring features are correlated and whose scales differ, so
    GPTQ's error feedback has something to exploit."""
    x = np.empty((rows, k), np.float32)
    prev = np.zeros(rows)
    for j in range(k):
        prev = 0.8 * prev + 0.6 * rng.standard_normal(rows)
        x[:, j] = prev * (1 + j % 5)
    return x


@pytest.fixture
def ctx():
    with gptq.Context("cpu") as c:
        yield c


@pytest.fixture
def problem():
    rng = np.random.default_rng(5)
    x = correlated_activations(TOKENS, K, rng)
    w = (0.05 * rng.standard_normal((N, K))).astype(np.float32)
    return x, w


@pytest.fixture
def hessian(ctx, problem):
    h = ctx.hessian(K)
    h.add(problem[0])
    return h
