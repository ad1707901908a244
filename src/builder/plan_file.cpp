// Plan files: atomic writes (temp file + rename); reads go through serial::read_plan_file.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "kiln/builder.h"
#include "serialization/plan_contents.h"

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
  KILN_ASSIGN_OR_RETURN(auto bytes, serial::read_plan_file(path));
  Plan p;
  p.bytes = std::move(bytes);
  return p;
}

}  // namespace kiln
