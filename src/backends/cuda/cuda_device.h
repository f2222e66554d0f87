// Device discovery for the CUDA backend.
#pragma once

#include <string>

namespace gptq::cuda {

// Number of usable CUDA devices; 0 (never an error) when the runtime, the driver or a device
// is missing. `why` receives the runtime's explanation when it reports an error.
int device_count(std::string *why);

// "NVIDIA A100-SXM4-80GB (sm_80, 80 GiB)". Throws gptq::Error on a runtime failure.
std::string device_description(int device);

} // namespace gptq::cuda
