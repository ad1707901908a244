// Plan files: atomic writes (temp file + rename), bounded reads.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "kiln/builder.h"

namespace kiln {

Status Plan::save(const std::string& path) const {
  std::string tmp = path + ".kiln-tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f)
      return make_error(StatusCode::kIoError, "plan", "cannot open '" + tmp + "' for writing");
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      f.close();
      std::remove(tmp.c_str());
      return make_error(StatusCode::kIoError, "plan", "writing '" + tmp + "' failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return make_error(StatusCode::kIoError, "plan",
                      "cannot move plan into place at '" + path + "': " + ec.message());
  }
  return {};
}

Expected<Plan> Plan::load_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return make_error(StatusCode::kIoError, "plan", "cannot open '" + path + "'");
  std::streamoff size = f.tellg();
  if (size < 0)
    return make_error(StatusCode::kIoError, "plan", "cannot read the size of '" + path + "'");
  Plan p;
  try {
    p.bytes.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc&) {
    return make_error(StatusCode::kOutOfMemory, "plan", "'" + path + "' is too large to load");
  }
  f.seekg(0);
  f.read(reinterpret_cast<char*>(p.bytes.data()), size);
  if (!f) return make_error(StatusCode::kIoError, "plan", "reading '" + path + "' failed");
  return p;
}

}  // namespace kiln
