// Allocation-sweep cases of the context and the Hessian accumulator.
// Part of test_alloc_failures.cpp, which includes it once: like the rest of that program it
// lives in an anonymous namespace.
#pragma once

#include "alloc_sweep.h"
#include "test_common.h"

#include <gptq/gptq.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "alloc_inputs.h"

namespace {

using namespace alloc_sweep;

class CtxCreate final : public Case {
public:
    using Case::Case;
    void setup() override { out_ = sentinel<gptq_ctx>(); }
    gptq_status call() override {
        gptq_ctx_params p;
        gptq_ctx_params_init(&p);
        p.backend = GPTQ_BACKEND_CPU;
        p.n_threads = threads_;
        return gptq_ctx_create(&p, &out_);
    }
    const gptq_ctx *slot() const override { return nullptr; }
    void check_failed() override {
        EXPECT(out_ == nullptr, "out_ctx was not set to NULL");
        make_ctx(threads_);  // the library is still usable, and success clears the message
    }
    void check_succeeded() override {
        EXPECT(out_ && out_ != sentinel<gptq_ctx>(), "no context");
        const Ctx own(out_);
        out_ = nullptr;
        const std::string name = gptq_ctx_device_name(own.get());
        if (threads_ == 1)
            EXPECT(name == "CPU (1 thread)", "device name \"%s\"", name.c_str());
        else  // fewer threads if one could not be started
            EXPECT(name.rfind("CPU (", 0) == 0, "device name \"%s\"", name.c_str());
    }
    void teardown() override {
        if (out_ != sentinel<gptq_ctx>()) gptq_ctx_destroy(out_);
        out_ = nullptr;
    }

private:
    gptq_ctx *out_ = nullptr;
};

class HessianCreate final : public Case {
public:
    using Case::Case;
    void setup() override {
        Case::setup();
        out_ = sentinel<gptq_hessian>();
    }
    gptq_status call() override { return gptq_hessian_create(ctx_.get(), K, &out_); }
    void check_failed() override {
        EXPECT(out_ == nullptr, "out was not set to NULL");
        const Hessian h = make_hessian(ctx_.get());
        expect_no_error(ctx_.get(), "gptq_hessian_create");
        EXPECT(gptq_hessian_dim(h.get()) == K, "dim %lld", (long long)gptq_hessian_dim(h.get()));
    }
    void check_succeeded() override {
        EXPECT(out_ && out_ != sentinel<gptq_hessian>(), "no Hessian");
        const Hessian h(out_);
        out_ = nullptr;
        EXPECT(gptq_hessian_dim(h.get()) == K && gptq_hessian_tokens(h.get()) == 0,
               "dim %lld, tokens %lld", (long long)gptq_hessian_dim(h.get()),
               (long long)gptq_hessian_tokens(h.get()));
    }
    void teardown() override {
        if (out_ != sentinel<gptq_hessian>()) gptq_hessian_destroy(out_);
        out_ = nullptr;
        Case::teardown();
    }

private:
    gptq_hessian *out_ = nullptr;
};

// gptq_hessian_add of xb (F32 or F16) onto a Hessian that already holds xa, or that was
// given by gptq_hessian_set: a failed add must leave it exactly as it was.
class HessianAdd final : public Case {
public:
    HessianAdd(int threads, gptq_dtype dtype, bool after_set)
        : Case(threads), after_set_(after_set),
          x_(dtype == GPTQ_DTYPE_F32 ? f32_matrix(g.xb, TB, K) : f16_matrix(g.xb16, TB, K)) {
        // Two Hessians: reading one would sum its pending tokens before the add (the CPU's
        // AMX path sums whole chunks of tokens; a read completes the current one), and the
        // sweep below adds with nothing read in between.
        const Ctx ctx = make_ctx(threads);
        const Hessian h = prepared(ctx.get());
        before_ = hessian_get(h.get(), ctx.get());
        before_tokens_ = gptq_hessian_tokens(h.get());
        const Hessian h2 = prepared(ctx.get());
        EXPECT_OK(ctx.get(), gptq_hessian_add(h2.get(), &x_));
        after_ = hessian_get(h2.get(), ctx.get());
        after_tokens_ = gptq_hessian_tokens(h2.get());
    }
    void setup() override {
        Case::setup();
        h_ = prepared(ctx_.get());
    }
    gptq_status call() override { return gptq_hessian_add(h_.get(), &x_); }
    void check_failed() override {
        // Either the add failed before summing anything (the Hessian reads back as before
        // and the add can be repeated), or it failed part-way: then the Hessian must refuse
        // every use until gptq_hessian_set makes it whole again (gptq.h).
        std::vector<float> got(size_t(K) * size_t(K));
        const gptq_status st = gptq_hessian_get(h_.get(), got.data(), got.size());
        if (st == GPTQ_OK) {
            expect_state(before_, before_tokens_, "a failed gptq_hessian_add");
            EXPECT_OK(ctx_.get(), gptq_hessian_add(h_.get(), &x_));
            expect_no_error(ctx_.get(), "gptq_hessian_add");
            check_succeeded();
            return;
        }
        EXPECT(st == GPTQ_ERR_INVALID_ARGUMENT &&
                   std::strstr(gptq_last_error(ctx_.get()), "part-way") != nullptr,
               "after a failed add, gptq_hessian_get gave status %d (%s)", int(st),
               gptq_last_error(ctx_.get()));
        EXPECT(gptq_hessian_add(h_.get(), &x_) == GPTQ_ERR_INVALID_ARGUMENT,
               "an incomplete Hessian accepted another batch");
        EXPECT_OK(ctx_.get(), gptq_hessian_set(h_.get(), before_.data(), K, before_tokens_));
        expect_state(before_, before_tokens_, "gptq_hessian_set after a failed add");
    }
    void check_succeeded() override { expect_state(after_, after_tokens_, "gptq_hessian_add"); }
    void teardown() override {
        h_.reset();
        Case::teardown();
    }

private:
    Hessian prepared(gptq_ctx *ctx) const {
        Hessian h = make_hessian(ctx);
        if (after_set_) {
            EXPECT_OK(ctx, gptq_hessian_set(h.get(), g.hset.data(), K, kSetTokens));
        } else {
            const gptq_matrix xa = f32_matrix(g.xa, kPriorTokens, K);
            EXPECT_OK(ctx, gptq_hessian_add(h.get(), &xa));
        }
        return h;
    }
    void expect_state(const std::vector<float> &want, int64_t tokens, const char *after) {
        const int64_t got_tokens = gptq_hessian_tokens(h_.get());
        EXPECT(got_tokens == tokens, "after %s: %lld tokens, expected %lld", after,
               (long long)got_tokens, (long long)tokens);
        const std::vector<float> got = hessian_get(h_.get(), ctx_.get());
        size_t differ = 0;
        double worst = 0.0;
        for (size_t i = 0; i < got.size(); ++i)
            if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
                ++differ;
                worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
            }
        EXPECT(differ == 0,
               "after %s the Hessian differs from the reference in %zu of %zu entries "
               "(max |diff| %.3g)",
               after, differ, got.size(), worst);
    }

    bool after_set_;
    gptq_matrix x_;
    std::vector<float> before_, after_;
    int64_t before_tokens_ = 0, after_tokens_ = 0;
    Hessian h_;
};

class HessianSet final : public Case {
public:
    using Case::Case;
    void setup() override {
        Case::setup();
        h_ = make_hessian(ctx_.get());
        const gptq_matrix xa = f32_matrix(g.xa, TA, K);
        EXPECT_OK(ctx_.get(), gptq_hessian_add(h_.get(), &xa));
        before_ = hessian_get(h_.get(), ctx_.get());
    }
    gptq_status call() override { return gptq_hessian_set(h_.get(), g.hset2.data(), K, 50); }
    void check_failed() override {
        EXPECT(gptq_hessian_tokens(h_.get()) == TA, "tokens changed");
        EXPECT(same_bits(hessian_get(h_.get(), ctx_.get()), before_),
               "a failed gptq_hessian_set changed the Hessian");
        EXPECT_OK(ctx_.get(), gptq_hessian_set(h_.get(), g.hset2.data(), K, 50));
        expect_no_error(ctx_.get(), "gptq_hessian_set");
        check_succeeded();
    }
    void check_succeeded() override {
        EXPECT(gptq_hessian_tokens(h_.get()) == 50, "tokens %lld",
               (long long)gptq_hessian_tokens(h_.get()));
        EXPECT(same_bits(hessian_get(h_.get(), ctx_.get()), g.hset2),
               "gptq_hessian_get does not return the matrix given to gptq_hessian_set");
    }
    void teardown() override {
        h_.reset();
        Case::teardown();
    }

private:
    Hessian h_;
    std::vector<float> before_;
};

} // namespace
