// libFuzzer target: the text IR parser, then building whatever parses.
#include <string_view>

#include "kiln/kiln.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto net = kiln::parse_network(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!net.ok()) return 0;
  (void)net->to_text();
  kiln::BuilderConfig cfg;
  cfg.backend = "cpu";
  (void)kiln::Builder::build(*net, cfg);
  return 0;
}
