// The runtime under every operation: one process-wide VkInstance, device memory
// sub-allocated from an arena, frames and staging reused, so repeated calls on a resident
// layer make no driver allocation at all (counted by the runtime itself).
#include "vk_test_common.h"

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_instance.h"
#include "backends/vulkan/vk_memory.h"
#include "core/backend.h"

using namespace vkt;

namespace {

void test_one_instance(void **) {
    const uint64_t before = gptq::vk::instances_created();
    assert_true(gptq::vulkan_backend_available());
    (void)gptq::vulkan_backend_is_hardware(0);
    gptq_ctx_params p{};
    p.struct_size = sizeof p;
    p.backend = GPTQ_BACKEND_VULKAN;
    { gptq::vk::VulkanBackend second(p); }
    assert_int_equal(gptq::vk::instances_created(), before);
}

// 1000 matmuls on one resident layer (GEMV and GEMM shapes) allocate no device memory, no
// buffer and no new frame after the first calls of each shape.
void test_matmul_allocates_nothing(void **) {
    Rng r(11);
    gptq::QLayer q = random_layer(r, 40, 96, 4, 32, true);
    std::vector<float> x(size_t(16 * 96)), y(size_t(16 * 40));
    for (auto &v : x) v = float(r.normal());
    // Warm: both shapes, twice (the first m = 1 call records the layer's replay, which keeps
    // a frame of its own, so the next m = 16 call takes a new frame once).
    for (int warm = 0; warm < 2; ++warm) {
        backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 16, 96, y.data(), 40);
        backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 1, 96, y.data(), 40);
    }
    const std::vector<float> y1(y.begin(), y.begin() + 40);
    const uint64_t allocs = gptq::vk::device_memory_allocations();
    const uint64_t buffers = gptq::vk::buffers_created();
    const size_t frames = backend().context().frames.frames_created();
    for (int i = 0; i < 1000; ++i)
        backend().matmul(q, x.data(), GPTQ_DTYPE_F32, i % 10 == 0 ? 16 : 1, 96, y.data(), 40);
    assert_int_equal(gptq::vk::device_memory_allocations(), allocs);
    assert_int_equal(gptq::vk::buffers_created(), buffers);  // not even a sub-allocation
    assert_int_equal(backend().context().frames.frames_created(), frames);
    backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 1, 96, y.data(), 40);
    assert_memory_equal(y.data(), y1.data(), 40 * 4);  // still the same answer
}

// Many buffers share a few blocks; freeing them all leaves the arena's warm block.
void test_buffers_share_blocks(void **) {
    const auto &dev = backend().context().device;
    const uint64_t allocs = gptq::vk::device_memory_allocations();
    {
        std::vector<gptq::vk::Buffer> bufs;
        for (int i = 0; i < 300; ++i)
            bufs.emplace_back(dev, size_t(1000 + 37 * i), gptq::vk::Buffer::DeviceLocal, "a test buffer");
        assert_true(gptq::vk::device_memory_allocations() - allocs <= 1);
    }
    assert_true(dev.arena().blocks() <= 4);
    assert_true(dev.arena().blocks() < dev.arena().max_allocations());
}

// Staging larger than the ring still works (overflow buffers), and the ring grows so the
// same transfer next time needs no new allocation.
void test_staging_grows(void **) {
    auto &ctx = backend().context();
    const size_t n = (gptq::vk::StagingRing::kInitialBytes * 3) / 4;  // floats: 3x the ring
    std::vector<float> in(n), out(n);
    for (size_t i = 0; i < n; ++i) in[i] = float(i);
    gptq::vk::Buffer dev_buf(ctx.device, n * 4, gptq::vk::Buffer::DeviceLocal, "a test buffer");
    for (int pass = 0; pass < 3; ++pass) {
        const uint64_t allocs = gptq::vk::device_memory_allocations();
        gptq::vk::Recorder rec(ctx);
        rec.upload(dev_buf, in.data(), n * 4);
        rec.barrier();
        const int id = rec.download(dev_buf, 0, n * 4);
        rec.submit();
        std::memcpy(out.data(), rec.downloaded(id), n * 4);
        assert_memory_equal(in.data(), out.data(), n * 4);
        if (pass == 2) assert_int_equal(gptq::vk::device_memory_allocations(), allocs);
    }
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_one_instance),
        cmocka_unit_test(test_matmul_allocates_nothing),
        cmocka_unit_test(test_buffers_share_blocks),
        cmocka_unit_test(test_staging_grows),
    };
    return run("test_vk_runtime", tests, sizeof tests / sizeof tests[0]);
}
