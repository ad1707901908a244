// libFuzzer target: the timing-cache parser.
#include <string>

#include "builder/timing_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto c = kiln::builder::TimingCache::parse(text, "env");
  if (c.ok()) (void)c->serialize();
  return 0;
}
