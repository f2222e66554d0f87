#include "host_floor.h"

#include "backends/vulkan/vk_check.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

namespace bench {

namespace {

using gptq::vk::check;

double now_us() {
    return std::chrono::duration<double, std::micro>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double thread_cpu_us() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) * 1e-3;
}

struct Variant {
    const char *name;
    int cmd;    // 0: a submit of nothing, 1: the empty command buffer, 2: one with timestamps
    bool poll;  // poll vkGetFenceStatus instead of blocking in vkWaitForFences
    std::vector<double> wall, cpu, host;  // host: wall minus the timestamps' interval
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

void print_host_floor(const gptq::vk::Device &dev, int calls) {
    const VkDevice d = dev.handle();
    VkCommandBuffer cmd[2] = {};  // empty; with two timestamps
    VkFence fence = VK_NULL_HANDLE;
    VkQueryPool queries = VK_NULL_HANDLE;
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = dev.command_pool();
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 2;
    check(vkAllocateCommandBuffers(d, &ai, cmd), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    check(vkCreateFence(d, &fi, nullptr, &fence), "vkCreateFence");
    const bool timestamps = dev.has_timestamps();
    const double period_ns = dev.props().limits.timestampPeriod;
    if (timestamps) {
        VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = 2;
        check(vkCreateQueryPool(d, &qi, nullptr, &queries), "vkCreateQueryPool");
    }
    for (int c = 0; c < 2; ++c) {
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        check(vkBeginCommandBuffer(cmd[c], &bi), "vkBeginCommandBuffer");
        if (c == 1 && timestamps) {
            vkCmdResetQueryPool(cmd[c], queries, 0, 2);
            vkCmdWriteTimestamp(cmd[c], VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries, 0);
            vkCmdWriteTimestamp(cmd[c], VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries, 1);
        }
        check(vkEndCommandBuffer(cmd[c]), "vkEndCommandBuffer");
    }

    std::vector<Variant> vs = {{"submit of nothing, vkWaitForFences", 0, false, {}, {}},
                               {"submit of nothing, poll fence", 0, true, {}, {}},
                               {"empty command buffer, vkWaitForFences", 1, false, {}, {}},
                               {"empty command buffer, poll fence", 1, true, {}, {}}};
    if (timestamps)
        vs.push_back({"2 timestamps + vkGetQueryPoolResults", 2, false, {}, {}});
    for (int i = 0; i <= calls; ++i)
        for (Variant &v : vs) {
            VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
            si.commandBufferCount = v.cmd > 0 ? 1 : 0;
            si.pCommandBuffers = &cmd[v.cmd == 2 ? 1 : 0];
            const double t0 = now_us(), c0 = thread_cpu_us();
            check(vkQueueSubmit(dev.queue(), 1, &si, fence), "vkQueueSubmit");
            if (v.poll) {
                VkResult r;
                while ((r = vkGetFenceStatus(d, fence)) == VK_NOT_READY) {
                }
                check(r, "vkGetFenceStatus");
            } else {
                check(vkWaitForFences(d, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
            }
            uint64_t ts[2] = {0, 0};
            if (v.cmd == 2)
                check(vkGetQueryPoolResults(d, queries, 0, 2, sizeof ts, ts, 8,
                                            VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                      "vkGetQueryPoolResults");
            const double t1 = now_us(), c1 = thread_cpu_us();
            check(vkResetFences(d, 1, &fence), "vkResetFences");
            if (i == 0) continue;  // warm-up
            v.wall.push_back(t1 - t0);
            v.cpu.push_back(c1 - c0);
            v.host.push_back(t1 - t0 - double(ts[1] - ts[0]) * period_ns * 1e-3);
        }
    vkDestroyFence(d, fence, nullptr);
    if (queries) vkDestroyQueryPool(d, queries, nullptr);
    vkFreeCommandBuffers(d, dev.command_pool(), 2, cmd);
    std::printf("host floor of one device round trip (%d calls each, interleaved):\n", calls);
    for (Variant &v : vs) {
        std::printf("  %-40s wall median %7.1f us (min %6.1f), thread CPU median %6.1f us",
                    v.name, median(v.wall), *std::min_element(v.wall.begin(), v.wall.end()),
                    median(v.cpu));
        if (v.cmd == 2) std::printf(", wall - timestamps %6.1f us", median(v.host));
        std::printf("\n");
    }
}

} // namespace bench
