// The plan-loader fuzz body, shared by the libFuzzer target and the regression test.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "kiln/kiln.h"
#include "serialization/xxhash64.h"

namespace kiln::fuzz {

inline int fuzz_plan_bytes(const uint8_t* data, size_t size) {
  // Half of the inputs are re-sealed (size and checksum fixed up) so mutations reach the section
  // parsers and the graph verifier instead of stopping at the checksum.
  std::vector<uint8_t> bytes(data, data + size);
  if (size >= 64 && (data[size - 1] & 1)) {
    uint64_t total = size, zero = 0;
    std::memcpy(bytes.data() + 16, &total, 8);
    std::memcpy(bytes.data() + 24, &zero, 8);
    uint64_t h = kiln::xxhash64(bytes.data(), bytes.size());
    std::memcpy(bytes.data() + 24, &h, 8);
  }
  auto engine = kiln::Runtime::load(bytes);
  if (!engine.ok()) return 0;
  auto ctx = (*engine)->create_context();
  if (!ctx.ok()) return 0;
  // Bind small buffers at the profile's min shapes and run: must never crash.
  std::vector<std::vector<uint8_t>> buffers;
  for (int i = 0; i < (*engine)->num_io_tensors(); ++i) {
    const auto& io = (*engine)->io_tensor(i);
    if (!io.is_input) continue;
    auto range = (*engine)->profile_range(0, io.name);
    if (!range.ok()) return 0;
    if ((*ctx)->set_input_shape(io.name, range->min).ok()) {
      int64_t n = range->min.volume();
      if (n < 0 || n > (1 << 20)) return 0;
      buffers.emplace_back(static_cast<size_t>(n) * kiln::dtype_size(io.dtype) + 8, 1);
      (void)(*ctx)->set_tensor_address(io.name, buffers.back().data());
    }
  }
  for (int i = 0; i < (*engine)->num_io_tensors(); ++i) {
    const auto& io = (*engine)->io_tensor(i);
    if (io.is_input) continue;
    auto dims = (*ctx)->tensor_shape(io.name);
    if (!dims.ok()) return 0;
    int64_t n = dims->volume();
    if (n < 0 || n > (1 << 20)) return 0;
    buffers.emplace_back(static_cast<size_t>(n) * kiln::dtype_size(io.dtype) + 8, 0);
    (void)(*ctx)->set_tensor_address(io.name, buffers.back().data());
  }
  (void)(*ctx)->execute();
  return 0;
}

}  // namespace kiln::fuzz
