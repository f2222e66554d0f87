// What eval and generate hold: a Hugging Face model loaded lazily keeps its tensors in the
// stored dtype (the tiny-random models are bf16) and computes the logits of the fp32 path,
// and the resident-size report (llama::resident_sizes, the CLI's "resident:" line) counts
// exactly the tensors of the checkpoint by kind.
// Part of test_e2e_hf_arch.cpp, which includes it once inside its anonymous namespace (it
// uses that program's model_dir and read_golden, and its includes: memory_report.h).
#pragma once

// Every floating-point weight of m is held as a bf16 view, and after make_resident every
// unquantized linear and the classifier has a bf16 dense layer.
void expect_stored_dtype(const Model &m) {
    assert_true(m.embed.is_view());
    assert_int_equal(m.embed.matrix().dtype, GPTQ_DTYPE_BF16);
    assert_true(m.embed.weight().empty());
    for (const Block &b : m.blocks)
        for (const Linear &lin : b.lin) {
            assert_true(lin.quantized() || lin.has_dense());
            if (!lin.quantized()) {
                assert_true(lin.is_view() && lin.weight().empty());
                assert_int_equal(lin.dense_dtype(), GPTQ_DTYPE_BF16);
            }
        }
    assert_true(m.classifier().has_dense());
    assert_int_equal(m.classifier().dense_dtype(), GPTQ_DTYPE_BF16);
}

// The stored-dtype path against the fp32 path (every tensor widened to an fp32 vector at
// load). bf16 widens exactly, so both feed the same numbers to the same products: embedding
// rows must be bit-equal. The logits may differ only by the dense product's summation order
// (the CPU backend widens the weight panel by panel into the same GEMM, so it is in fact
// bit-equal there); gptq_matmul_dense bounds each product by K 2^-23 sum|x w|, which over two
// layers of width <= 192 and a 64-wide classifier stays below 1e-5 of the largest logit.
constexpr double kStoredVsF32 = 1e-5;

void test_stored_dtype_logits(void **) {
    gptq_ctx *ctx = e2e::shared_ctx();
    for (const char *name : kModels) {
        const Model f32 = load_hf(model_dir(name), ctx);
        const Model stored = load_hf(model_dir(name), ctx, /*lazy=*/true);
        assert_string_equal(stored.source_dtype.c_str(), "BF16");
        make_resident(stored, ctx);
        expect_stored_dtype(stored);
        make_resident(f32, ctx);
        assert_int_equal(f32.classifier().dense_dtype(), GPTQ_DTYPE_F32);

        const Forward a(f32, ctx), b(stored, ctx);
        double diff = 0.0, scale = 0.0;
        for (const auto &row : read_golden(model_dir(name)).rows) {
            const std::vector<float> ea = a.embed(row), eb = b.embed(row);
            assert_memory_equal(ea.data(), eb.data(), ea.size() * sizeof(float));
            std::vector<LayerKV> ca, cb;
            const std::vector<float> la = a.logits(row, 0, ca), lb = b.logits(row, 0, cb);
            assert_int_equal(la.size(), lb.size());
            for (size_t i = 0; i < la.size(); ++i) {
                diff = std::max(diff, std::fabs(double(la[i]) - double(lb[i])));
                scale = std::max(scale, std::fabs(double(la[i])));
            }
        }
        std::printf("%s: stored bf16 vs fp32 path, max |diff| %.3g of max |logit| %.3g\n", name,
                    diff, scale);
        assert_true(scale > 0.0);
        assert_true(diff <= kStoredVsF32 * scale);
    }
}

bool ends_with(const std::string &s, const char *tail) {
    const size_t n = std::strlen(tail);
    return s.size() >= n && s.compare(s.size() - n, n, tail) == 0;
}

// The expected report of a model directory loaded lazily and made resident: from the
// tensors in its files. Quantized parts count as stored; weights of 2-D tensors other than
// the embedding become dense layers in their dtype; 1-D tensors (norms, biases) are fp32;
// the embedding table stays mapped. dense_f32: the backend keeps dense layers in fp32 (CUDA).
ResidentSizes expected_sizes(const std::string &dir, bool tied, bool dense_f32) {
    const SafeTensorsFile f(dir + "/model.safetensors");
    ResidentSizes r;
    for (const auto &kv : f.tensors()) {
        const std::string &t = kv.first;
        const TensorInfo &info = kv.second;
        if (ends_with(t, ".qweight")) ++r.quantized_layers;
        if (ends_with(t, ".qweight") || ends_with(t, ".qzeros") || ends_with(t, ".scales") ||
            ends_with(t, ".g_idx")) {
            r.quantized_bytes += info.nbytes;
        } else if (t == "model.embed_tokens.weight") {
            r.mapped_bytes += info.nbytes;
            if (tied) {  // also the classifier's dense layer
                ++r.dense_layers;
                r.dense_bytes += dense_f32 ? uint64_t(info.numel) * 4 : info.nbytes;
            }
        } else if (info.shape.size() == 2) {
            ++r.dense_layers;
            r.dense_bytes += dense_f32 ? uint64_t(info.numel) * 4 : info.nbytes;
        } else {
            r.f32_bytes += uint64_t(info.numel) * 4;
        }
    }
    return r;
}

void expect_sizes(const Model &m, const std::string &dir, const char *what) {
    const ResidentSizes got = resident_sizes(m, e2e::shared_ctx());
    const bool dense_f32 = gptq_ctx_backend(e2e::shared_ctx()) == GPTQ_BACKEND_CUDA;
    const ResidentSizes want = expected_sizes(dir, m.cfg.tied_embeddings, dense_f32);
    std::printf("%s: quantized %lld layers %llu B, dense %lld layers %llu B (%s), fp32 %llu B, "
                "mapped %llu B (%s)\n", what, (long long)got.quantized_layers,
                (unsigned long long)got.quantized_bytes, (long long)got.dense_layers,
                (unsigned long long)got.dense_bytes, dtype_names(got.dense_dtypes).c_str(),
                (unsigned long long)got.f32_bytes, (unsigned long long)got.mapped_bytes,
                dtype_names(got.mapped_dtypes).c_str());
    assert_int_equal(got.quantized_layers, want.quantized_layers);
    assert_int_equal(got.quantized_bytes, want.quantized_bytes);
    assert_int_equal(got.dense_layers, want.dense_layers);
    assert_int_equal(got.dense_bytes, want.dense_bytes);
    assert_int_equal(got.f32_bytes, want.f32_bytes);
    assert_int_equal(got.mapped_bytes, want.mapped_bytes);
    assert_string_equal(dtype_names(got.mapped_dtypes).c_str(), "bf16");
    assert_int_equal(got.total_held(), want.quantized_bytes + want.dense_bytes + want.f32_bytes);
}

// The report of the bf16 source (every linear dense) and of its 4-bit checkpoint (14
// quantized layers whose packed bytes are the checkpoint's; the classifier dense).
void test_resident_sizes(void **) {
    gptq_ctx *ctx = e2e::shared_ctx();
    const std::vector<int32_t> text = [] {
        std::vector<int32_t> ids(2000);
        uint32_t s = 7;
        for (int32_t &t : ids) t = int32_t((s = s * 1664525u + 1013904223u) >> 23);  // < 512
        return ids;
    }();
    const auto calib = sample_windows(text, 4, 32, 1);
    for (const char *name : kModels) {
        const Model src = load_hf(model_dir(name), ctx, true);
        make_resident(src, ctx);
        expect_sizes(src, model_dir(name), name);
        assert_string_equal(dtype_names(resident_sizes(src, ctx).dense_dtypes).c_str(),
                            gptq_ctx_backend(ctx) == GPTQ_BACKEND_CUDA ? "f32" : "bf16");

        const std::string tmp = e2e::make_temp_dir(), out = tmp + "/q";
        Model m = load_hf(model_dir(name), ctx);
        QuantizeOptions opt;
        opt.params.bits = 4;
        opt.params.group_size = 32;
        opt.compare_rtn = false;
        quantize_model(m, ctx, calib, opt);
        save_checkpoint(m, ctx, out, SaveOptions());
        const Model q = load_hf(out, ctx, true);
        make_resident(q, ctx);
        expect_sizes(q, out, (std::string(name) + " 4-bit").c_str());
        assert_int_equal(resident_sizes(q, ctx).quantized_layers, 2 * kNumModules);
        e2e::remove_tree(tmp);
    }
}
