// NVTX ranges (header-only NVTX 3 from the CUDA toolkit) so Nsight Systems shows what Kiln ran: one
// range per engine run and one per kernel group, named after the network's layers. Without a tool
// attached a push/pop is a call through a null-checked pointer.
#pragma once

#include <nvtx3/nvToolsExt.h>

namespace kiln::cuda {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace kiln::cuda
