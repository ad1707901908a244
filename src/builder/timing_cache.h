// Persistent timing cache: layer configuration -> chosen tactic, keyed by GPU, driver/library
// versions and the layer's types/params. Loaded at build start, saved atomically at build end; a
// damaged file is ignored with a warning.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kiln/logger.h"
#include "kiln/status.h"

namespace kiln::builder {

struct CachedTactic {
  int64_t tactic = 0;
  std::vector<uint8_t> config;
  float milliseconds = 0;
};

class TimingCache {
 public:
  TimingCache() = default;
  TimingCache(const TimingCache& o)
      : environment_(o.environment_), entries_(o.entries_), dirty_(o.dirty_) {}
  TimingCache(TimingCache&& o) noexcept
      : environment_(std::move(o.environment_)),
        entries_(std::move(o.entries_)),
        dirty_(o.dirty_) {}
  TimingCache& operator=(TimingCache&& o) noexcept {
    environment_ = std::move(o.environment_);
    entries_ = std::move(o.entries_);
    dirty_ = o.dirty_;
    return *this;
  }
  /// Reads `path` if it exists; a corrupt or foreign file leaves the cache empty (warning logged).
  static TimingCache load(const std::string& path, const std::string& environment, Logger& logger);
  std::optional<CachedTactic> find(const std::string& key) const;
  void put(const std::string& key, const CachedTactic& value);
  /// Writes to a temp file and renames it over `path`.
  Status save(const std::string& path) const;
  size_t size() const { return entries_.size(); }
  bool dirty() const { return dirty_; }

  /// Text form (for tests and the fuzzer): header line, then one entry per line.
  std::string serialize() const;
  static Expected<TimingCache> parse(const std::string& text, const std::string& environment);

 private:
  std::string environment_;
  std::map<std::string, CachedTactic> entries_;
  mutable std::mutex mu_;
  bool dirty_ = false;
};

}  // namespace kiln::builder
