// Validation of optimization profiles against a network's inputs, and shape checks at each
// profile's min/opt/max.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"

namespace kiln::builder {

/// Checks every profile (names, ranks, min <= opt <= max, static dims fixed, every dynamic dim
/// covered). With no profiles and only static inputs, returns one profile of the static dims.
Expected<std::vector<OptimizationProfile>> validate_profiles(
    const ir::Graph& g, const std::vector<OptimizationProfile>& profiles);

/// Dims of every input for profile `p` at which = 0 (min), 1 (opt), 2 (max).
std::vector<Dims> profile_input_dims(const ir::Graph& g, const OptimizationProfile& p, int which);

/// Resolves shapes of the whole graph at min, opt and max of every profile; errors name the layer,
/// the profile and the bound.
Status check_profile_shapes(const ir::Graph& g, const std::vector<OptimizationProfile>& profiles);

}  // namespace kiln::builder
