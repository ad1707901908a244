// NVRTC compilation and the cubin cache.
#include "backends/cuda/nvrtc/nvrtc_compiler.h"

#include <nvrtc.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "serialization/xxhash64.h"

namespace kiln::cuda::nvrtc {
namespace {

Status nvrtc_error(StatusCode code, const std::string& msg) {
  return make_error(code, "backends.cuda.nvrtc", msg);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

// Writes through a temporary and a rename, so a concurrent reader never sees a partial file.
void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp" + std::to_string(reinterpret_cast<uintptr_t>(&bytes));
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    if (!f) return;
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace

std::string nvrtc_version() {
  int major = 0, minor = 0;
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS) return "nvrtc?";
  return "nvrtc" + std::to_string(major) + "." + std::to_string(minor);
}

std::string cubin_cache_path(const std::string& cache_dir, const std::string& source, int arch) {
  const std::string key = source + "|sm" + std::to_string(arch) + "|" + nvrtc_version();
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.cubin",
                static_cast<unsigned long long>(xxhash64(key.data(), key.size())));
  return (std::filesystem::path(cache_dir) / "nvrtc" / name).string();
}

Expected<std::vector<uint8_t>> compile_cubin(const std::string& source, int arch,
                                             const std::string& cache_dir,
                                             const std::string& what) {
  const std::string cached =
      cache_dir.empty() ? std::string() : cubin_cache_path(cache_dir, source, arch);
  if (!cached.empty()) {
    std::vector<uint8_t> hit = read_file(cached);
    if (!hit.empty()) return hit;
  }
  nvrtcProgram prog = nullptr;
  nvrtcResult r =
      nvrtcCreateProgram(&prog, source.c_str(), "kiln_generated.cu", 0, nullptr, nullptr);
  if (r != NVRTC_SUCCESS)
    return nvrtc_error(StatusCode::kBackendError,
                       what + ": nvrtcCreateProgram: " + nvrtcGetErrorString(r));
  std::unique_ptr<nvrtcProgram, void (*)(nvrtcProgram*)> guard(
      &prog, [](nvrtcProgram* p) { nvrtcDestroyProgram(p); });
  const std::string arch_opt = "--gpu-architecture=sm_" + std::to_string(arch);
  const char* opts[] = {arch_opt.c_str(), "--std=c++17", "--fmad=true"};
  r = nvrtcCompileProgram(prog, 3, opts);
  if (r != NVRTC_SUCCESS) {
    size_t n = 0;
    nvrtcGetProgramLogSize(prog, &n);
    std::string log(n, '\0');
    if (n > 0) nvrtcGetProgramLog(prog, log.data());
    if (log.size() > 4000) log = log.substr(0, 4000) + "...";
    return nvrtc_error(StatusCode::kInternal,
                       what + ": NVRTC could not compile the generated source (" +
                           nvrtcGetErrorString(r) + "):\n" + log);
  }
  size_t size = 0;
  r = nvrtcGetCUBINSize(prog, &size);
  if (r != NVRTC_SUCCESS || size == 0)
    return nvrtc_error(StatusCode::kBackendError, what + ": no cubin for " + arch_opt);
  std::vector<uint8_t> cubin(size);
  r = nvrtcGetCUBIN(prog, reinterpret_cast<char*>(cubin.data()));
  if (r != NVRTC_SUCCESS)
    return nvrtc_error(StatusCode::kBackendError,
                       what + ": nvrtcGetCUBIN: " + nvrtcGetErrorString(r));
  if (!cached.empty()) write_file(cached, cubin);
  return cubin;
}

}  // namespace kiln::cuda::nvrtc
