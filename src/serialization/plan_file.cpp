// Reading a plan file: a bounded read whose errors name the path.
#include <fstream>

#include "serialization/plan_contents.h"

namespace kiln::serial {

Expected<std::vector<uint8_t>> read_plan_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return make_error(StatusCode::kIoError, "plan", "cannot open '" + path + "'");
  std::streamoff size = f.tellg();
  if (size < 0)
    return make_error(StatusCode::kIoError, "plan", "cannot read the size of '" + path + "'");
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc&) {
    return make_error(StatusCode::kOutOfMemory, "plan", "'" + path + "' is too large to load");
  }
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  if (!f) return make_error(StatusCode::kIoError, "plan", "reading '" + path + "' failed");
  return bytes;
}

}  // namespace kiln::serial
