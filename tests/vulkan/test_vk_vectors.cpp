// The 25 reference vectors (../shared/vectors) through the Vulkan backend's quantize(), with
// W and H from the file, compared with the file's expected outputs (tolerances of
// docs/reference-vectors.md §6) and with the CPU backend run on the same input. Codes identical to
// the CPU backend wherever fp32 rounding allows; any difference is printed per case.
// Also: Hessian accumulation on the device from X_calib (cases 007 F32, 008 F16) within
// 1e-5 of max|H| of the stored H (docs/reference-vectors.md §6: orders measured to move H by <= 4e-6).
#include <filesystem>  // before cmocka.h, whose macros clash with libstdc++

#include "vk_test_common.h"

#include "safetensors.h"

#include "core/options.h"

#include <string>

using namespace vkt;

namespace {

const char *g_dir = nullptr;

struct Case {
    st_file *f = nullptr;
    int64_t n = 0, k = 0;
    gptq::QuantOptions opt;
    std::vector<float> w, h;
    ~Case() { st_close(f); }
};

int meta_int(const st_file *f, const char *key) {
    const char *v = st_meta(f, key);
    return v ? std::atoi(v) : 0;
}
bool meta_bool(const st_file *f, const char *key) {
    const char *v = st_meta(f, key);
    return v && (std::string(v) == "true" || std::string(v) == "True" || std::string(v) == "1");
}

bool load(Case &c, int idx, std::string *name) {
    char pat[32];
    std::snprintf(pat, sizeof pat, "case_%03d_", idx);
    // Find the file by prefix: names encode the options.
    std::string dir(g_dir);
    FILE *ls = popen(("ls " + dir + " 2>/dev/null").c_str(), "r");
    if (!ls) return false;
    char line[512];
    std::string file;
    while (std::fgets(line, sizeof line, ls)) {
        std::string s(line);
        if (!s.empty() && s.back() == '\n') s.pop_back();
        if (s.rfind(pat, 0) == 0 && s.find(".safetensors") != std::string::npos) file = s;
    }
    pclose(ls);
    if (file.empty()) return false;
    *name = file;
    c.f = st_open((dir + "/" + file).c_str());
    if (!c.f) return false;
    c.n = meta_int(c.f, "rows_N");
    c.k = meta_int(c.f, "cols_K");
    c.opt.bits = meta_int(c.f, "bits");
    c.opt.group_size = meta_int(c.f, "group_size");
    c.opt.sym = meta_bool(c.f, "sym");
    c.opt.desc_act = meta_bool(c.f, "act_order");
    c.opt.static_groups = meta_bool(c.f, "static_groups");
    c.opt.block_size = meta_int(c.f, "blocksize");
    c.opt.damp_percent = float(std::atof(st_meta(c.f, "damp_percent")));
    c.opt.mse = meta_bool(c.f, "mse");
    int64_t cnt = 0;
    float *w = st_read_f32(c.f, "W", &cnt);
    c.w.assign(w, w + cnt);
    std::free(w);
    float *h = st_read_f32(c.f, "H", &cnt);
    c.h.assign(h, h + cnt);
    std::free(h);
    return true;
}

gptq::QuantResult run(gptq::Backend &b, const Case &c) {
    auto hs = b.create_hessian(c.k);
    hs->set(c.h.data(), 0);
    std::vector<float> w = c.w;
    gptq::QuantResult r;
    b.quantize(c.opt, w.data(), c.n, c.k, *hs, &r);
    return r;
}

// Returns the number of differing codes; fails on anything outside docs/reference-vectors.md §6.
int64_t compare_codes(const char *what, const std::string &name, const gptq::QuantResult &r,
                      const int32_t *codes, int64_t n, int64_t k) {
    int64_t diff = 0;
    for (int64_t i = 0; i < n * k; ++i) {
        const int d = int(r.codes[size_t(i)]) - codes[i];
        if (d != 0) ++diff;
        if (d > 1 || d < -1) {
            std::fprintf(stderr, "%s %s: code %lld differs by %d\n", name.c_str(), what,
                         (long long)i, d);
            fail();
        }
    }
    if (diff) std::fprintf(stderr, "%s: %lld of %lld codes differ from %s (%.3f%%)\n", name.c_str(),
                           (long long)diff, (long long)(n * k), what, 100.0 * diff / double(n * k));
    assert_true(double(diff) <= 0.005 * double(n * k));
    return diff;
}

void test_vectors(void **) {
    auto cpu = gptq::make_cpu_backend(1);
    int seen = 0, identical_to_cpu = 0;
    for (int idx = 1; idx <= 25; ++idx) {
        Case c;
        std::string name;
        if (!load(c, idx, &name)) continue;
        ++seen;
        gptq::QuantResult v = run(backend(), c);
        v.codes = unpacked_codes(v, c.opt.bits);  // the device returns them packed
        const gptq::QuantResult p = run(*cpu, c);
        int64_t cnt = 0;
        int32_t *codes = st_read_i32(c.f, "codes", &cnt);
        int32_t *g_idx = st_read_i32(c.f, "g_idx", &cnt);
        float *scales = st_read_f32(c.f, "scales", &cnt);
        int32_t *zeros = st_read_i32(c.f, "zeros", &cnt);
        assert_non_null(codes);
        compare_codes("the reference", name, v, codes, c.n, c.k);
        std::vector<int32_t> cpu_codes(p.codes.begin(), p.codes.end());
        if (compare_codes("the CPU backend", name, v, cpu_codes.data(), c.n, c.k) == 0) {
            ++identical_to_cpu;
            const std::vector<int32_t> want = host_qweight(p.codes, c.n, c.k, c.opt.bits);
            assert_memory_equal(v.qweight.data(), want.data(), want.size() * 4);
            // Same codes. Parameters found before the column loop (per-row, static groups)
            // saw the same W, so they are bitwise equal; dynamic groups after the first block
            // see W after trailing GEMMs whose fp32 summation order differs from the CPU's
            // BLAS-like kernel, so they get docs/reference-vectors.md §6's 1e-4 (relative).
            const bool before_loop = c.opt.group_size < 0 || c.opt.static_groups;
            int64_t scale_diff = 0;
            for (size_t i = 0; i < v.scales.size(); ++i)
                scale_diff += before_loop ? v.scales[i] != p.scales[i]
                                          : std::fabs(v.scales[i] - p.scales[i]) > 1e-4f * p.scales[i];
            if (scale_diff)
                std::fprintf(stderr, "%s: %lld scales differ from the CPU backend\n", name.c_str(),
                             (long long)scale_diff);
            assert_int_equal(scale_diff, 0);
            assert_memory_equal(v.zeros.data(), p.zeros.data(), v.zeros.size() * 4);
        }
        for (int64_t i = 0; i < c.k; ++i) assert_int_equal(v.g_idx[size_t(i)], g_idx[i]);
        // scales/zeros: exact-ish in rows without a differing code (docs/reference-vectors.md §6).
        for (int64_t g = 0; g < v.n_groups; ++g)
            for (int64_t r = 0; r < c.n; ++r) {
                bool row_differs = false;
                for (int64_t j = 0; j < c.k; ++j)
                    if (int(v.codes[size_t(r * c.k + j)]) != codes[r * c.k + j]) row_differs = true;
                const size_t i = size_t(g * c.n + r);
                const double rel = std::fabs(double(v.scales[i]) - scales[i]) / scales[i];
                if (!row_differs) {
                    assert_int_equal(v.zeros[i], zeros[i]);
                    if (!(rel <= 1e-4)) {
                        std::fprintf(stderr, "%s: scale[%lld][%lld] rel diff %g\n", name.c_str(),
                                     (long long)g, (long long)r, rel);
                        fail();
                    }
                } else {
                    assert_true(rel <= 0.05);
                }
            }
        const double loss = std::atof(st_meta(c.f, "loss"));
        const double rel_loss = std::fabs(v.loss - loss) / loss;
        if (!(rel_loss <= 1e-3)) {
            std::fprintf(stderr, "%s: loss %.8g, expected %.8g\n", name.c_str(), v.loss, loss);
            fail();
        }
        assert_true(std::fabs(v.damp_used - p.damp_used) <= 1e-7);
        assert_int_equal(v.dead_columns, p.dead_columns);
        std::free(codes);
        std::free(g_idx);
        std::free(scales);
        std::free(zeros);
    }
    std::fprintf(stderr, "%d vector files; codes identical to the CPU backend in %d\n", seen,
                 identical_to_cpu);
    if (seen == 0) fail_msg("no vector files in %s", g_dir);
}

void check_accumulated(int idx) {
    Case c;
    std::string name;
    if (!load(c, idx, &name)) fail_msg("vector case %d missing from %s", idx, g_dir);
    st_tensor_info info;
    assert_int_equal(st_info(c.f, "X_calib", &info), 0);
    const int64_t t = info.shape[0];
    const gptq_dtype dt = std::string(info.dtype) == "F16" ? GPTQ_DTYPE_F16 : GPTQ_DTYPE_F32;
    auto hs = backend().create_hessian(c.k);
    // Three uneven batches, as a caller streaming calibration data would.
    const size_t es = dt == GPTQ_DTYPE_F16 ? 2 : 4;
    const auto *x = static_cast<const uint8_t *>(info.data);
    const int64_t cuts[] = {0, t / 3, t / 3 + 17 < t ? t / 3 + 17 : t, t};
    for (int i = 0; i < 3; ++i)
        if (cuts[i + 1] > cuts[i])
            hs->add(x + size_t(cuts[i] * c.k) * es, dt, cuts[i + 1] - cuts[i], c.k);
    assert_int_equal(hs->tokens(), t);
    std::vector<float> h(size_t(c.k * c.k));
    hs->read_scaled(h.data());
    double hmax = 0.0, worst = 0.0;
    for (size_t i = 0; i < h.size(); ++i) hmax = std::fmax(hmax, std::fabs(c.h[i]));
    for (size_t i = 0; i < h.size(); ++i) worst = std::fmax(worst, std::fabs(h[i] - c.h[i]));
    std::fprintf(stderr, "%s: accumulated H within %.3g of max|H|\n", name.c_str(), worst / hmax);
    assert_true(worst <= 1e-5 * hmax);
}

void test_hessian_case007(void **) { check_accumulated(7); }
void test_hessian_case008(void **) { check_accumulated(8); }

} // namespace

int main(int argc, char **argv) {
    g_dir = argc > 1 ? argv[1] : "../shared/vectors";
    if (!std::filesystem::is_directory(g_dir)) {
        // Without the shared data this test proves nothing: report Skipped, never Passed.
        std::printf("SKIPPED: reference vectors directory %s not found\n", g_dir);
        return 77;
    }
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_hessian_case007),
        cmocka_unit_test(test_hessian_case008),
        cmocka_unit_test(test_vectors),
    };
    return run("test_vk_vectors", tests, sizeof tests / sizeof tests[0]);
}
