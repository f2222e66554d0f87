// The test suite's own safetensors reader (tests/support) on arbitrary bytes.
#include "fuzz_input_file.h"

#include "safetensors.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzInputFile in(data, size);
    if (!in.ok()) return 0;
    st_file *f = st_open(in.path().c_str());
    if (!f) return 0;
    st_tensor_info info;
    if (st_info(f, "x", &info) == 0 && info.numel <= (int64_t(1) << 20)) {
        std::free(st_read_f32(f, "x", nullptr));
        std::free(st_read_i32(f, "x", nullptr));
    }
    st_close(f);
    return 0;
}
