// An owned host buffer with its type: constants during folding, test data, shape values.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "kiln/types.h"

namespace kiln {

struct HostTensor {
  TensorType type;
  std::vector<uint8_t> bytes;

  HostTensor() = default;
  explicit HostTensor(const TensorType& t)
      : type(t),
        bytes(static_cast<size_t>(t.dims.volume() < 0 ? 0 : t.dims.volume()) *
              dtype_size(t.dtype)) {}
  int64_t numel() const { return type.dims.volume(); }
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }
  template <class T>
  T* as() {
    return reinterpret_cast<T*>(bytes.data());
  }
  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
};

}  // namespace kiln
