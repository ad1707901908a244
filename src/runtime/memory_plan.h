// Activation memory planning: buffers with lifetimes [first, last] (kernel indices) get offsets in
// one arena such that buffers alive at the same time never overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kiln::runtime {

struct BufferRequest {
  size_t bytes = 0;
  int32_t first = 0;  ///< index of the kernel that writes it
  int32_t last = 0;   ///< index of the last kernel that reads it
};

struct MemoryPlan {
  std::vector<size_t> offsets;  ///< per request
  size_t arena_bytes = 0;
};

/// Greedy best placement, largest buffers first. Offsets are multiples of `alignment`.
MemoryPlan plan_memory(std::span<const BufferRequest> requests, size_t alignment = 256);

}  // namespace kiln::runtime
