// XXH64 (Yann Collet's public algorithm) over a byte range: the plan checksum.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln {

uint64_t xxhash64(const void* data, size_t size, uint64_t seed = 0);

/// Incremental form for data in pieces.
class XxHash64 {
 public:
  explicit XxHash64(uint64_t seed = 0);
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  uint64_t v_[4];
  uint64_t seed_;
  uint64_t total_ = 0;
  uint8_t buf_[32];
  size_t buf_len_ = 0;
};

}  // namespace kiln
