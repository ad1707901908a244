// Unsigned division by a run-time constant, host side: q = (umulhi(n, m) + n) >> s, exact for n <
// 2^31 and 1 <= d <= 2^31 (the scheme of PyTorch's IntDivider). The hand-written kernels
// (device_utils.cuh, fdiv) and the generated ones (nvrtc/) divide with the factors made here.
#pragma once

#include <cstdint>

namespace kiln::cuda {

struct FastDiv {
  uint32_t d = 1, m = 1, s = 0;
};

inline FastDiv make_fastdiv(int64_t d) {
  FastDiv f;
  f.d = static_cast<uint32_t>(d < 1 ? 1 : d);
  uint32_t s = 0;
  while (s < 31 && (uint64_t{1} << s) < f.d) ++s;
  f.s = s;
  f.m = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << s) - f.d)) / f.d + 1);
  return f;
}

}  // namespace kiln::cuda
