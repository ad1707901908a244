// NVRTC: CUDA C++ source -> cubin for one GPU architecture, with an optional on-disk cache keyed by
// a hash of the source, the architecture and the NVRTC version (a hit needs no NVRTC call).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::cuda::nvrtc {

/// "nvrtc13.0".
std::string nvrtc_version();

/// Compiles `source` for sm_<arch> (e.g. 90) to a cubin. `cache_dir` empty: no disk cache. `what`
/// names the kernel in errors ("pointwise kernel of layer 'x'"); a compile error carries NVRTC's
/// log.
Expected<std::vector<uint8_t>> compile_cubin(const std::string& source, int arch,
                                             const std::string& cache_dir, const std::string& what);

/// The file a cubin for (source, arch) is cached under in `cache_dir`.
std::string cubin_cache_path(const std::string& cache_dir, const std::string& source, int arch);

}  // namespace kiln::cuda::nvrtc
