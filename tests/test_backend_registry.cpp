// The backend table (src/core/backend_registry.cpp) against the public API: every row is
// consistent with gptq_backend_available / gptq_backend_name, kinds are unique, the CPU
// reference is the last row, a kind without a row is unavailable and refused with
// GPTQ_ERR_BACKEND_UNAVAILABLE, and every available row creates a backend of its kind.
#include "core/backend.h"

#include <gptq/gptq.h>

#include <cstdio>
#include <cstring>
#include <set>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

static void test_rows_are_consistent(void **) {
    size_t count = 0;
    const gptq::BackendEntry *rows = gptq::backend_table(&count);
    assert_true(count >= 1);
    std::set<int> kinds;
    for (size_t i = 0; i < count; ++i) {
        const gptq::BackendEntry &e = rows[i];
        std::printf("row %zu: %s (kind %d), available %d\n", i, e.name, int(e.kind),
                    int(e.available()));
        assert_true(kinds.insert(int(e.kind)).second);
        assert_true(e.kind != GPTQ_BACKEND_AUTO);
        assert_string_equal(e.name, gptq_backend_name(e.kind));
        assert_non_null(e.available);
        assert_non_null(e.is_hardware);
        assert_non_null(e.create);
        assert_int_equal(gptq_backend_available(e.kind), e.available() ? 1 : 0);
        assert_ptr_equal(gptq::find_backend(e.kind), &e);
    }
    assert_int_equal(rows[count - 1].kind, GPTQ_BACKEND_CPU);
    assert_true(rows[count - 1].available());
    assert_false(rows[count - 1].is_hardware(0));
}

static void test_kinds_without_row(void **) {
    for (int k = GPTQ_BACKEND_CPU; k <= GPTQ_BACKEND_CUDA; ++k) {
        const gptq_backend kind = gptq_backend(k);
        if (gptq::find_backend(kind)) continue;
        std::printf("%s: not compiled in\n", gptq_backend_name(kind));
        assert_int_equal(gptq_backend_available(kind), 0);
        gptq_ctx_params p;
        gptq_ctx_params_init(&p);
        p.backend = kind;
        gptq_ctx *ctx = nullptr;
        assert_int_equal(gptq_ctx_create(&p, &ctx), GPTQ_ERR_BACKEND_UNAVAILABLE);
        assert_null(ctx);
        assert_non_null(std::strstr(gptq_last_error(nullptr), "not compiled"));
    }
}

static void test_available_rows_create_their_kind(void **) {
    size_t count = 0;
    const gptq::BackendEntry *rows = gptq::backend_table(&count);
    for (size_t i = 0; i < count; ++i) {
        if (!rows[i].available()) continue;
        gptq_ctx_params p;
        gptq_ctx_params_init(&p);
        p.backend = rows[i].kind;
        p.n_threads = 1;
        const auto backend = rows[i].create(p);
        assert_int_equal(backend->kind(), rows[i].kind);
        gptq_ctx *ctx = nullptr;
        assert_int_equal(gptq_ctx_create(&p, &ctx), GPTQ_OK);
        assert_int_equal(gptq_ctx_backend(ctx), rows[i].kind);
        gptq_ctx_destroy(ctx);
    }
    // AUTO always comes up, on a row of the table.
    gptq_ctx *ctx = nullptr;
    assert_int_equal(gptq_ctx_create(nullptr, &ctx), GPTQ_OK);
    assert_non_null(gptq::find_backend(gptq_ctx_backend(ctx)));
    gptq_ctx_destroy(ctx);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_are_consistent),
        cmocka_unit_test(test_kinds_without_row),
        cmocka_unit_test(test_available_rows_create_their_kind),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
