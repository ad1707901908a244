// Where element i of a quantize/dequantize operand finds its scale and zero point: per tensor
// (one element) or per channel along `axis`. One definition for the CPU reference and the CUDA
// kernels (which copy the struct to the device and call `of` there).
#pragma once

#include <cstdint>

#include "kiln/types.h"

#ifdef __CUDACC__
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln {

struct QuantChannels {
  int64_t inner = 1;  ///< elements between two channels (product of the dims after the axis)
  int64_t count = 1;  ///< channels (the scale's elements); 1: per tensor
  KILN_HOST_DEVICE int64_t of(int64_t i) const { return count == 1 ? 0 : (i / inner) % count; }
};

/// The channel layout of a tensor of `dims` whose scale has `scale_numel` elements; a negative
/// `axis` counts from the end.
inline QuantChannels quant_channels(const Dims& dims, int64_t scale_numel, int64_t axis) {
  QuantChannels c;
  c.count = scale_numel;
  if (c.count == 1) return c;
  const int rank = dims.rank();
  const int ax = static_cast<int>(axis < 0 ? axis + rank : axis);
  for (int d = ax + 1; d < rank; ++d) c.inner *= dims[d];
  return c;
}

}  // namespace kiln
