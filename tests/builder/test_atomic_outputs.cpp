// Atomic outputs: an interrupted plan or timing-cache write leaves the old file intact; a corrupted
// timing cache is ignored with a warning, not trusted.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "builder/timing_cache.h"
#include "test_util.h"

namespace kiln {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Plan small_plan(int64_t n) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {n});
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {n}));
  EXPECT_TRUE(net.mark_output(*net.add_elementwise(*x, w, BinaryOp::kMul), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto p = Builder::build(net, cfg);
  EXPECT_TRUE(p.ok());
  return *p;
}

class CollectingLogger : public Logger {
 public:
  void log(Severity s, std::string_view m) override { lines.emplace_back(m); }
  std::vector<std::string> lines;
};

TEST(AtomicOutputs, FailingWriterLeavesTheOldPlanIntact) {
  std::string path = ::testing::TempDir() + "/kiln_atomic.plan";
  Plan old_plan = small_plan(4);
  ASSERT_TRUE(old_plan.save(path).ok());
  std::string before = read_file(path);
  Plan big = small_plan(1 << 16);  // 256 KiB of weights
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: files may not grow past 4 KiB, so the write fails midway (EFBIG, not a signal).
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &lim);
    Status s = big.save(path);
    _exit(s.ok() ? 0 : (s.code() == StatusCode::kIoError ? 7 : 8));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7) << "the interrupted save must report an I/O error";
  EXPECT_EQ(read_file(path), before) << "the old plan must be untouched";
  auto loaded = Runtime::load_file(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status().to_string();
  // No temporary files left behind.
  std::ifstream tmp(path + ".kiln-tmp." + std::to_string(pid));
  EXPECT_FALSE(tmp.good());
}

TEST(AtomicOutputs, OpenFailureLeavesTheOldPlanIntact) {
  std::string path = ::testing::TempDir() + "/kiln_atomic2.plan";
  Plan p = small_plan(4);
  ASSERT_TRUE(p.save(path).ok());
  std::string before = read_file(path);
  std::string tmp = path + ".kiln-tmp." + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(tmp.c_str(), 0700), 0);  // the temp path cannot be opened as a file
  Status s = small_plan(8).save(path);
  ::rmdir(tmp.c_str());
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(read_file(path), before);
}

TEST(AtomicOutputs, TimingCacheRoundTripsAndCorruptionIsIgnored) {
  std::string path = ::testing::TempDir() + "/kiln_timing.cache";
  builder::TimingCache c = builder::TimingCache::load("", "gpuA|v1", default_logger());
  c.put("gemm|f16|64x64x64", builder::CachedTactic{3, {1, 2, 3, 255}, 0.25f});
  c.put("conv|f32|k3", builder::CachedTactic{1, {}, 1.5f});
  ASSERT_TRUE(c.save(path).ok());
  CollectingLogger log;
  auto again = builder::TimingCache::load(path, "gpuA|v1", log);
  ASSERT_EQ(again.size(), 2u);
  auto hit = again.find("gemm|f16|64x64x64");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->tactic, 3);
  EXPECT_EQ(hit->config, (std::vector<uint8_t>{1, 2, 3, 255}));
  EXPECT_TRUE(log.lines.empty());
  // Another GPU/library version: ignored.
  auto other = builder::TimingCache::load(path, "gpuB|v1", log);
  EXPECT_EQ(other.size(), 0u);
  ASSERT_FALSE(log.lines.empty());
  EXPECT_NE(log.lines.back().find("ignoring"), std::string::npos);
  // Flip one byte of the body: the checksum catches it.
  std::string text = read_file(path);
  text[text.size() - 3] ^= 1;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  log.lines.clear();
  auto bad = builder::TimingCache::load(path, "gpuA|v1", log);
  EXPECT_EQ(bad.size(), 0u);
  ASSERT_FALSE(log.lines.empty());
  EXPECT_NE(log.lines.back().find("checksum"), std::string::npos) << log.lines.back();
  // Truncated and garbage files.
  for (std::string junk : {std::string(""), std::string("kiln-timing-cache v1"),
                           std::string("\x00\x01\x02", 3), text.substr(0, text.size() / 2)}) {
    auto p = builder::TimingCache::parse(junk, "gpuA|v1");
    EXPECT_FALSE(p.ok());
  }
}

}  // namespace
}  // namespace kiln
