// Device plumbing: selection by index, clear "unavailable" errors, the pipeline-cache blob
// (reusable, and a foreign/corrupt blob is ignored rather than trusted), stage timestamps.
#include "vk_test_common.h"

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_factor.h"

#include <cstring>

using namespace vkt;

namespace {

gptq_ctx_params params_for(int index) {
    gptq_ctx_params p{};
    p.struct_size = sizeof p;
    p.backend = GPTQ_BACKEND_VULKAN;
    p.device_index = index;
    return p;
}

void test_name_and_availability(void **) {
    assert_true(backend().device_name().size() > 0);
    assert_int_equal(backend().kind(), GPTQ_BACKEND_VULKAN);
    assert_true(gptq::vulkan_backend_available());
}

// The subgroup-size variants of the suites (tests/vulkan/CMakeLists.txt) really run at the
// subgroup size they are named after.
void test_expected_subgroup_size(void **) {
    const char *want = std::getenv("GPTQ_TEST_EXPECT_SUBGROUP");
    if (!want || !*want) skip();
    const auto &dev = backend().context().device;
    if (dev.props().deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU) skip();  // not lavapipe
    assert_int_equal(dev.subgroup_size(), std::atoi(want));
}

void test_bad_device_index(void **) {
    for (int index : {-1, 1000}) {
        try {
            gptq::vk::VulkanBackend b(params_for(index));
            fail_msg("device_index %d was accepted", index);
        } catch (const gptq::Error &e) {
            assert_int_equal(e.status(), GPTQ_ERR_BACKEND_UNAVAILABLE);
            assert_non_null(std::strstr(e.what(), "device_index"));
        }
    }
}

void test_pipeline_cache(void **) {
    const std::vector<uint8_t> blob = backend().pipeline_cache();
    assert_true(blob.size() >= 32);  // at least the VkPipelineCacheHeaderVersionOne header
    gptq_ctx_params p = params_for(0);
    p.pipeline_cache = blob.data();
    p.pipeline_cache_size = blob.size();
    { gptq::vk::VulkanBackend again(p); }
    // Corrupt and truncated blobs are ignored, not passed to the driver.
    std::vector<uint8_t> bad(blob);
    for (size_t i = 0; i < bad.size(); i += 3) bad[i] ^= 0x5a;
    p.pipeline_cache = bad.data();
    { gptq::vk::VulkanBackend corrupt(p); }
    p.pipeline_cache_size = 7;
    { gptq::vk::VulkanBackend truncated(p); }
}

void test_timestamps(void **) {
    auto &ctx = backend().context();
    ctx.profiling = true;
    ctx.stage_times.clear();
    const int64_t k = 40;
    std::vector<float> h(size_t(k * k), 0.0f), u(size_t(k * k));
    for (int64_t i = 0; i < k; ++i) h[size_t(i * k + i)] = 2.0f;
    assert_true(gptq::vk::device_inverse_factor(ctx, h.data(), k, u.data()));
    ctx.profiling = false;
    if (!ctx.device.has_timestamps()) skip();
    bool saw_cholesky = false;
    for (const auto &s : ctx.stage_times) {
        assert_true(s.ms >= 0.0);
        if (s.stage == "cholesky") saw_cholesky = true;
    }
    assert_true(saw_cholesky);
}

// A buffer the device cannot hold is a status, not a crash: beyond the storage-buffer
// range without device addresses, beyond the buffer size limit, and an allocation the driver
// refuses. With device addresses a buffer beyond the range is fine (the quantizer's
// kernels reach it through its address).
void test_out_of_device_memory(void **) {
    const auto &dev = backend().context().device;
    const size_t beyond_range = size_t(dev.max_storage_range()) + 4;
    try {
        gptq::vk::Buffer b(dev, beyond_range, gptq::vk::Buffer::DeviceLocal, "a huge buffer");
        if (!dev.has_buffer_address())
            fail_msg("a buffer beyond maxStorageBufferRange was created without addresses");
        assert_true(b.size() >= beyond_range);
        assert_true(b.address() != 0);
    } catch (const gptq::Error &e) {
        if (dev.has_buffer_address()) fail_msg("%s", e.what());
        assert_int_equal(e.status(), GPTQ_ERR_DEVICE_OUT_OF_MEMORY);
        assert_non_null(std::strstr(e.what(), "a huge buffer"));
    }
    if (dev.max_buffer_size() < (uint64_t(1) << 50)) {
        try {
            gptq::vk::Buffer b(dev, size_t(dev.max_buffer_size()) + 4,
                               gptq::vk::Buffer::DeviceLocal, "an oversized buffer");
            fail_msg("a buffer beyond maxBufferSize was created");
        } catch (const gptq::Error &e) {
            assert_int_equal(e.status(), GPTQ_ERR_DEVICE_OUT_OF_MEMORY);
            assert_non_null(std::strstr(e.what(), "an oversized buffer"));
        }
    }
    try {  // 2^50 bytes of staging memory: no driver has it
        gptq::vk::Buffer b(dev, size_t(1) << 50, gptq::vk::Buffer::Staging, "a huge staging buffer");
        fail_msg("a 1 PiB staging buffer was created");
    } catch (const gptq::Error &e) {
        assert_true(e.status() == GPTQ_ERR_DEVICE_OUT_OF_MEMORY ||
                    e.status() == GPTQ_ERR_OUT_OF_MEMORY);
    }
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_name_and_availability),
        cmocka_unit_test(test_expected_subgroup_size),
        cmocka_unit_test(test_bad_device_index),
        cmocka_unit_test(test_pipeline_cache),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_out_of_device_memory),
    };
    return run("test_vk_device", tests, sizeof tests / sizeof tests[0]);
}
