// Liveness-based arena planning.
#include "runtime/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace kiln::runtime {

MemoryPlan plan_memory(std::span<const BufferRequest> requests, size_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  struct Placed {
    size_t offset, end;
    int32_t first, last;
  };
  std::vector<Placed> placed;
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    size_t size = (r.bytes + alignment - 1) / alignment * alignment;
    if (size == 0) size = alignment;
    // Intervals (in memory) of buffers whose lifetime overlaps this one, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed& p : placed)
      if (p.first <= r.last && r.first <= p.last) busy.emplace_back(p.offset, p.end);
    std::sort(busy.begin(), busy.end());
    size_t offset = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
    for (const auto& [b, e] : busy) {
      if (b >= offset && b - offset >= size && b - offset < best_gap) {
        best = offset;
        best_gap = b - offset;
      }
      offset = std::max(offset, e);
    }
    if (best == SIZE_MAX) best = offset;
    plan.offsets[idx] = best;
    placed.push_back({best, best + size, r.first, r.last});
    plan.arena_bytes = std::max(plan.arena_bytes, best + size);
  }
  return plan;
}

}  // namespace kiln::runtime
