// Profile validation and build-time shape checks.
#include "builder/profiles.h"

#include <set>

#include "ir/shape_resolver.h"

namespace kiln::builder {
namespace {

Status perr(const std::string& msg) {
  return make_error(StatusCode::kShapeError, "builder.profiles", msg);
}

}  // namespace

Expected<std::vector<OptimizationProfile>> validate_profiles(
    const ir::Graph& g, const std::vector<OptimizationProfile>& profiles) {
  std::set<std::string> names;
  bool any_dynamic = false;
  for (int32_t t : g.inputs) {
    names.insert(g.tensors[static_cast<size_t>(t)].name);
    any_dynamic |= !g.tensors[static_cast<size_t>(t)].type.dims.is_static();
  }
  if (profiles.empty()) {
    if (any_dynamic) {
      for (int32_t t : g.inputs) {
        const auto& d = g.tensors[static_cast<size_t>(t)];
        if (!d.type.dims.is_static()) {
          return perr("input '" + d.name + "' has dynamic dims " + d.type.dims.to_string() +
                      "; add an optimization profile with its min/opt/max");
        }
      }
    }
    return std::vector<OptimizationProfile>{OptimizationProfile{}};
  }
  for (size_t pi = 0; pi < profiles.size(); ++pi) {
    const auto& p = profiles[pi];
    std::string where = "profile " + std::to_string(pi);
    for (const auto& [name, r] : p.ranges) {
      if (!names.count(name))
        return perr(where + " names '" + name + "', which is not a network input");
    }
    for (int32_t t : g.inputs) {
      const auto& d = g.tensors[static_cast<size_t>(t)];
      auto it = p.ranges.find(d.name);
      if (it == p.ranges.end()) {
        if (!d.type.dims.is_static())
          return perr(where + " has no range for dynamic input '" + d.name + "' " +
                      d.type.dims.to_string());
        continue;
      }
      const ShapeRange& r = it->second;
      int rank = d.type.dims.rank();
      if (r.min.rank() != rank || r.opt.rank() != rank || r.max.rank() != rank) {
        return perr(where + " input '" + d.name + "': min/opt/max must have rank " +
                    std::to_string(rank) + " like " + d.type.dims.to_string());
      }
      for (int i = 0; i < rank; ++i) {
        int64_t lo = r.min[i], mid = r.opt[i], hi = r.max[i], fixed = d.type.dims[i];
        if (lo < 0 || !(lo <= mid && mid <= hi)) {
          return perr(where + " input '" + d.name + "' dim " + std::to_string(i) +
                      ": need 0 <= min <= opt <= max, got " + std::to_string(lo) + "/" +
                      std::to_string(mid) + "/" + std::to_string(hi));
        }
        if (fixed >= 0 && (lo != fixed || hi != fixed)) {
          return perr(where + " input '" + d.name + "' dim " + std::to_string(i) + " is static (" +
                      std::to_string(fixed) + ") but the range is [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
        }
      }
    }
  }
  return profiles;
}

std::vector<Dims> profile_input_dims(const ir::Graph& g, const OptimizationProfile& p, int which) {
  std::vector<Dims> dims;
  for (int32_t t : g.inputs) {
    const auto& d = g.tensors[static_cast<size_t>(t)];
    auto it = p.ranges.find(d.name);
    if (it == p.ranges.end()) {
      dims.push_back(d.type.dims);
    } else {
      dims.push_back(which == 0 ? it->second.min : which == 1 ? it->second.opt : it->second.max);
    }
  }
  return dims;
}

Status check_profile_shapes(const ir::Graph& g, const std::vector<OptimizationProfile>& profiles) {
  static const char* kBound[] = {"min", "opt", "max"};
  for (size_t pi = 0; pi < profiles.size(); ++pi) {
    for (int which = 0; which < 3; ++which) {
      std::vector<Dims> dims = profile_input_dims(g, profiles[pi], which);
      std::string where = "at profile " + std::to_string(pi) + " " + kBound[which] + " shapes";
      for (size_t i = 0; i < dims.size(); ++i)
        where += (i ? ", " : ": ") + g.tensors[static_cast<size_t>(g.inputs[i])].name + "=" +
                 dims[i].to_string();
      auto r = ir::resolve_shapes(g, dims, where);
      if (!r) return make_error(r.status().code(), "builder", r.status().message());
      for (size_t t = 0; t < r->types.size(); ++t) {
        const TensorType& tt = r->types[t];
        int64_t v = tt.dims.volume();
        if (v > kMaxTensorBytes / static_cast<int64_t>(dtype_size(tt.dtype))) {
          return make_error(StatusCode::kShapeError, "builder",
                            "tensor '" + g.tensors[t].name + "' " + tt.dims.to_string() +
                                " would exceed " + std::to_string(kMaxTensorBytes) + " bytes " +
                                where + ": absurd dimensions");
        }
      }
    }
  }
  return {};
}

}  // namespace kiln::builder
