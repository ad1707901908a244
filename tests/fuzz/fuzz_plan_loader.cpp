// libFuzzer target: arbitrary bytes into the plan loader and, when they load, one run.
#include <cstdint>
#include <span>
#include <vector>

#include "kiln/kiln.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto engine = kiln::Runtime::load(std::span<const uint8_t>(data, size));
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
