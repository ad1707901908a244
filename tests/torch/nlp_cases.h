// Converter cases of the transformer families (tests/torch/test_converters_nlp.cpp runs them): the
// case type, the input generators and the one-line builders C / S / G shared by the case files
// nlp_cases_pointwise.cpp (activations, elementwise), nlp_cases_blocks.cpp (reductions,
// normalization, attention) and nlp_cases_evaluators.cpp (runtime ints and their arithmetic).
#pragma once

#include <ATen/ATen.h>

#include <sstream>
#include <string>
#include <vector>

namespace kiln::nlp_cases {

// ---- inputs ----

enum class Gen {
  kNormal,    ///< randn
  kPositive,  ///< uniform [0.1, 2.1)
  kUnit,      ///< uniform (-0.9, 0.9)
  kTies,      ///< multiples of 0.5 in [-4, 4] (rounding ties)
  kInt,       ///< integers in [lo, hi)
  kNonZero,   ///< integers in [lo, hi) without 0
  kBool,      ///< random bools
  kMask,      ///< bools, true except some whole rows of the last dim
};

struct In {
  std::vector<int64_t> min, opt, max;
  at::ScalarType dtype = at::kFloat;
  Gen gen = Gen::kNormal;
  int64_t lo = -5, hi = 5;
  bool dynamic() const { return min != max; }
};

inline In F(std::vector<int64_t> s, Gen g = Gen::kNormal) { return In{s, s, s, at::kFloat, g}; }
inline In P(std::vector<int64_t> s) { return F(std::move(s), Gen::kPositive); }
inline In H(std::vector<int64_t> s) { return In{s, s, s, at::kHalf, Gen::kNormal}; }
inline In I(std::vector<int64_t> s, int64_t lo = -5, int64_t hi = 5,
            at::ScalarType dt = at::kLong) {
  return In{s, s, s, dt, Gen::kInt, lo, hi};
}
inline In NZ(std::vector<int64_t> s, int64_t lo = -5, int64_t hi = 6,
             at::ScalarType dt = at::kLong) {
  return In{s, s, s, dt, Gen::kNonZero, lo, hi};
}
inline In B(std::vector<int64_t> s, Gen g = Gen::kBool) { return In{s, s, s, at::kBool, g}; }
inline In D(std::vector<int64_t> min, std::vector<int64_t> opt, std::vector<int64_t> max,
            at::ScalarType dt = at::kFloat, Gen g = Gen::kNormal) {
  return In{std::move(min), std::move(opt), std::move(max), dt, g};
}

inline at::Tensor make_input(const In& in, const std::vector<int64_t>& shape) {
  switch (in.gen) {
    case Gen::kNormal:
      return at::randn(shape).to(in.dtype);
    case Gen::kPositive:
      return (at::rand(shape) * 2.0 + 0.1).to(in.dtype);
    case Gen::kUnit:
      return ((at::rand(shape) * 2.0 - 1.0) * 0.9).to(in.dtype);
    case Gen::kTies:
      return (at::randint(-8, 9, shape).to(at::kFloat) * 0.5).to(in.dtype);
    case Gen::kInt:
      return at::randint(in.lo, in.hi, shape, at::TensorOptions().dtype(at::kLong)).to(in.dtype);
    case Gen::kNonZero: {
      at::Tensor t = at::randint(in.lo, in.hi, shape, at::TensorOptions().dtype(at::kLong));
      return at::where(t == 0, at::ones_like(t), t).to(in.dtype);
    }
    case Gen::kBool:
      return at::rand(shape) > 0.5;
    case Gen::kMask: {
      at::Tensor m = at::rand(shape) > 0.3;
      if (!shape.empty() && m.numel() > 0) {
        std::vector<int64_t> row(shape.begin(), shape.end() - 1);
        at::Tensor masked_rows = (at::rand(row) > 0.7).unsqueeze(-1);
        m = m.logical_and(masked_rows.logical_not());  // some rows fully masked out
      }
      return m;
    }
  }
  return {};
}

// ---- cases ----

struct Case {
  std::string name;
  std::vector<std::string> ops;  ///< ops this case covers (must run in Kiln or be evaluated)
  std::string code;  ///< TorchScript source ("def forward(self, ...)") or IR ("graph(...)")
  std::vector<In> inputs;
  double rtol = 1e-4, atol = 1e-5;
};

inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

inline std::string arg_names(size_t n) {
  static const char* names[] = {"x", "y", "z", "w", "v", "u"};
  std::string s;
  for (size_t i = 0; i < n; ++i) s += std::string(", ") + names[i];
  return s;
}

// A one-line forward over inputs x, y, z, ...
inline Case C(std::string name, std::vector<std::string> ops, const std::string& expr,
              std::vector<In> inputs, double rtol = 1e-4, double atol = 1e-5) {
  std::string code =
      "def forward(self" + arg_names(inputs.size()) + "):\n    return " + expr + "\n";
  return Case{std::move(name), std::move(ops), code, std::move(inputs), rtol, atol};
}

// A forward with a multi-line body (statements separated by ';' become lines).
inline Case S(std::string name, std::vector<std::string> ops, const std::string& body,
              std::vector<In> inputs, double rtol = 1e-4, double atol = 1e-5) {
  std::string code = "def forward(self" + arg_names(inputs.size()) + "):\n";
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line, ';');) {
    size_t b = line.find_first_not_of(' ');
    code += "    " + (b == std::string::npos ? line : line.substr(b)) + "\n";
  }
  return Case{std::move(name), std::move(ops), code, std::move(inputs), rtol, atol};
}

// A TorchScript IR graph (for nodes no source spells: NumToTensor, Scalar overloads, ...).
inline Case G(std::string name, std::vector<std::string> ops, std::string ir,
              std::vector<In> inputs, double rtol = 1e-4, double atol = 1e-5) {
  return Case{std::move(name), std::move(ops), std::move(ir), std::move(inputs), rtol, atol};
}

inline const In kX = F({3, 4, 5});
inline const In kXd = D({1, 4, 5}, {3, 4, 5}, {6, 4, 5});  // dynamic batch

std::vector<Case> activation_cases();     // nlp_cases_pointwise.cpp
std::vector<Case> elementwise_cases();    // nlp_cases_pointwise.cpp
std::vector<Case> reduction_cases();      // nlp_cases_blocks.cpp
std::vector<Case> normalization_cases();  // nlp_cases_blocks.cpp
std::vector<Case> attention_cases();      // nlp_cases_blocks.cpp
std::vector<Case> evaluator_cases();      // nlp_cases_evaluators.cpp

}  // namespace kiln::nlp_cases
