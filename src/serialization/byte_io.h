// Little-endian binary writer and a bounds-checked reader for plan sections. The reader never reads
// past its span; the first failure sticks and later reads return zeros.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::serial {

class ByteWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i32(int32_t v) { raw(&v, 4); }
  void i64(int64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void align(size_t a) {
    while (buf_.size() % a != 0) buf_.push_back(0);
  }
  void patch_u64(size_t at, uint64_t v) { std::memcpy(buf_.data() + at, &v, 8); }
  size_t size() const { return buf_.size(); }
  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> data, std::string where)
      : data_(data), where_(std::move(where)) {}

  uint8_t u8() { return read<uint8_t>(); }
  uint32_t u32() { return read<uint32_t>(); }
  uint64_t u64() { return read<uint64_t>(); }
  int32_t i32() { return read<int32_t>(); }
  int64_t i64() { return read<int64_t>(); }
  double f64() { return read<double>(); }
  /// A string of at most max_len bytes.
  std::string str(size_t max_len = 1u << 20) {
    uint32_t n = u32();
    if (!ok_) return {};
    if (n > max_len || n > remaining()) {
      fail("string of " + std::to_string(n) + " bytes exceeds the remaining data");
      return {};
    }
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  /// A count of elements that each take at least `min_bytes` (rejects counts the data cannot hold
  /// before anything is allocated).
  uint32_t count(size_t min_bytes, const char* what) {
    uint32_t n = u32();
    if (ok_ && static_cast<uint64_t>(n) * min_bytes > remaining()) {
      fail(std::string(what) + " count " + std::to_string(n) + " exceeds the remaining data");
      return 0;
    }
    return ok_ ? n : 0;
  }
  void fail(const std::string& msg) {
    if (ok_) error_ = where_ + ": " + msg + " (at byte " + std::to_string(pos_) + ")";
    ok_ = false;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  template <class T>
  T read() {
    T v{};
    if (!ok_) return v;
    if (remaining() < sizeof(T)) {
      fail("unexpected end of data");
      return v;
    }
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::span<const uint8_t> data_;
  std::string where_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::string error_;
};

}  // namespace kiln::serial
