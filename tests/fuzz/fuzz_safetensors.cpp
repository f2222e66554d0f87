// The tool's safetensors reader on arbitrary bytes: it either throws llama::Error or yields
// tensors whose every byte lies inside the file (converting each one reads all of it).
#include "fuzz_input_file.h"

#include "error.h"
#include "safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzInputFile in(data, size);
    if (!in.ok()) return 0;
    try {
        llama::SafeTensorsFile f(in.path());
        for (const auto &[name, t] : f.tensors()) {
            if (t.numel > (int64_t(1) << 20)) continue;  // bounded work per input
            if (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16")
                (void)llama::tensor_to_f32(t);
            else if (t.dtype == "I32")
                (void)llama::tensor_to_i32(t);
        }
    } catch (const llama::Error &) {
    }
    return 0;
}
