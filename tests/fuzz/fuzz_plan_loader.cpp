// libFuzzer target: arbitrary bytes into the plan loader and, when they load, one run.
#include "plan_fuzz_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return kiln::fuzz::fuzz_plan_bytes(data, size);
}
