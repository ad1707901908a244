// Timing cache file: "kiln-timing-cache v1 <environment hex> <count> <xxh64 of body hex>\n" then
// lines "<key hex>\t<tactic>\t<ms>\t<config hex>\n". Keys and configs are hex so any bytes round
// trip.
#include "builder/timing_cache.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "serialization/xxhash64.h"

namespace kiln::builder {
namespace {

std::string to_hex(const void* data, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  const auto* p = static_cast<const uint8_t*>(data);
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

bool from_hex(const std::string& s, std::vector<uint8_t>& out) {
  if (s.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = s[i + static_cast<size_t>(k)];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    out.push_back(static_cast<uint8_t>(v));
  }
  return true;
}

Status bad(const std::string& msg) {
  return make_error(StatusCode::kCorruptPlan, "builder.timing_cache", msg);
}

}  // namespace

std::optional<CachedTactic> TimingCache::find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void TimingCache::put(const std::string& key, const CachedTactic& value) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_[key] = value;
  dirty_ = true;
}

std::string TimingCache::serialize() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream body;
  for (const auto& [key, v] : entries_) {
    body << to_hex(key.data(), key.size()) << '\t' << v.tactic << '\t' << v.milliseconds << '\t'
         << to_hex(v.config.data(), v.config.size()) << '\n';
  }
  std::string b = body.str();
  char head[160];
  std::snprintf(head, sizeof head, "kiln-timing-cache v1 %s %zu %016llx\n",
                to_hex(environment_.data(), environment_.size()).c_str(), entries_.size(),
                static_cast<unsigned long long>(xxhash64(b.data(), b.size())));
  return head + b;
}

Expected<TimingCache> TimingCache::parse(const std::string& text, const std::string& environment) {
  TimingCache c;
  c.environment_ = environment;
  size_t nl = text.find('\n');
  if (nl == std::string::npos) return bad("missing header");
  std::istringstream head(text.substr(0, nl));
  std::string magic, version, env_hex, sum_hex;
  size_t count = 0;
  head >> magic >> version >> env_hex >> count >> sum_hex;
  if (magic != "kiln-timing-cache" || version != "v1") return bad("not a Kiln timing cache (v1)");
  std::vector<uint8_t> env;
  if (!from_hex(env_hex, env) || std::string(env.begin(), env.end()) != environment)
    return bad("made for another GPU or library version");
  std::string body = text.substr(nl + 1);
  char want[20];
  std::snprintf(want, sizeof want, "%016llx",
                static_cast<unsigned long long>(xxhash64(body.data(), body.size())));
  if (sum_hex != want) return bad("checksum mismatch");
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string key_hex, cfg_hex;
    CachedTactic t;
    if (!std::getline(f, key_hex, '\t')) return bad("bad entry");
    f >> t.tactic;
    f.ignore(1);
    f >> t.milliseconds;
    f.ignore(1);
    std::getline(f, cfg_hex);
    std::vector<uint8_t> key;
    if (!f.eof() && f.fail()) return bad("bad entry");
    if (!from_hex(key_hex, key) || !from_hex(cfg_hex, t.config)) return bad("bad hex in entry");
    c.entries_[std::string(key.begin(), key.end())] = t;
  }
  if (c.entries_.size() != count) return bad("entry count mismatch");
  return c;
}

TimingCache TimingCache::load(const std::string& path, const std::string& environment,
                              Logger& logger) {
  TimingCache empty;
  empty.environment_ = environment;
  if (path.empty()) return empty;
  std::ifstream f(path, std::ios::binary);
  if (!f) return empty;  // no cache yet
  std::stringstream ss;
  ss << f.rdbuf();
  auto parsed = parse(ss.str(), environment);
  if (!parsed) {
    logger.log(Severity::kWarning,
               "[builder.timing_cache] ignoring '" + path + "': " + parsed.status().message());
    return empty;
  }
  return std::move(*parsed);
}

Status TimingCache::save(const std::string& path) const {
  std::string text = serialize();
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f)
      return make_error(StatusCode::kIoError, "builder.timing_cache", "cannot write '" + tmp + "'");
    f << text;
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return make_error(StatusCode::kIoError, "builder.timing_cache",
                        "writing '" + tmp + "' failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return make_error(StatusCode::kIoError, "builder.timing_cache",
                      "cannot replace '" + path + "': " + ec.message());
  }
  return {};
}

}  // namespace kiln::builder
