"""Smoke test of the ctypes binding: run with GPTQ_LIBRARY=<path to libgptq.so>."""
import array
import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gptq  # noqa: E402

N, K, T = 32, 128, 512


def correlated_activations(rows, k, rng):
    x = array.array("f")
    for _ in range(rows):
        prev = 0.0
        for j in range(k):
            prev = 0.8 * prev + 0.6 * rng.gauss(0.0, 1.0)
            x.append(prev * (1 + j % 5))
    return x


class BindingTest(unittest.TestCase):
    def setUp(self):
        self.ctx = gptq.Context("cpu")

    def tearDown(self):
        self.ctx.close()

    def test_version_and_backends(self):
        self.assertRegex(gptq.version(), r"^\d+\.\d+\.\d+")
        self.assertTrue(gptq.backend_available("cpu"))
        self.assertEqual(self.ctx.backend, "cpu")
        self.assertTrue(self.ctx.device_name)

    def test_errors_are_exceptions(self):
        with self.assertRaises(gptq.GptqError) as cm:
            self.ctx.hessian(0)
        self.assertEqual(cm.exception.status, 2)  # GPTQ_ERR_SHAPE
        self.assertIn("k", cm.exception.message)
        h = self.ctx.hessian(K)
        with self.assertRaises(ValueError):
            h.add(array.array("f", [0.0] * 3), rows=1)  # caught before the C call

    def test_quantize_and_matmul(self):
        rng = random.Random(5)
        h = self.ctx.hessian(K)
        h.add(correlated_activations(T, K, rng), rows=T)
        self.assertEqual(h.tokens, T)
        w = array.array("f", (rng.gauss(0.0, 0.05) for _ in range(N * K)))
        layer, report = self.ctx.quantize(w, N, K, h, bits=4, group_size=32, desc_act=True,
                                          layer_name="smoke")
        info = layer.info
        self.assertEqual((info["n"], info["k"], info["bits"], info["n_groups"]), (N, K, 4, 4))
        self.assertEqual(len(layer.qweight()), K // 8 * N)
        self.assertEqual(len(layer.qzeros()), 4 * N // 8)
        self.assertEqual(len(layer.scales_f16()), 4 * N)
        self.assertEqual(sorted(layer.perm()), list(range(K)))
        self.assertTrue(0.0 < report["rel_output_error"] < 0.05, report)

        # The matmul must equal x * dequant(W)^T computed here in double precision.
        wd = layer.dequantize()
        x = correlated_activations(3, K, rng)
        y = layer.matmul(x, rows=3)
        for i in range(3):
            for n in range(N):
                exact = math.fsum(x[i * K + k] * wd[n * K + k] for k in range(K))
                mag = math.fsum(abs(x[i * K + k] * wd[n * K + k]) for k in range(K))
                self.assertLessEqual(abs(y[i * N + n] - exact), 2 * K * 2.0 ** -24 * mag + 1e-30)

        # The checkpoint tensors rebuild the same layer.
        again = self.ctx.layer_from_packed(N, K, 4, 32, layer.qweight(), layer.qzeros(),
                                           layer.scales_f16(), layer.g_idx())
        self.assertEqual(list(again.codes()), list(layer.codes()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
