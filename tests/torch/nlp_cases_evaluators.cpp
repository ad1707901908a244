// Converter cases of the evaluators: runtime ints (sizes of dynamic dims), their arithmetic,
// comparisons and conversions (run by test_converters_nlp.cpp).
#include "nlp_cases.h"

namespace kiln::nlp_cases {

// Evaluators: runtime ints (sizes of dynamic dims) and their arithmetic, comparisons, conversions.
std::vector<Case> evaluator_cases() {
  std::vector<Case> c;
  const In xd = D({2, 3}, {4, 6}, {6, 9});  // n = size(0), m = size(1): runtime ints
  c.push_back(S("int_arith",
                {"aten::size.int", "aten::add.int", "aten::sub.int", "aten::mul.int",
                 "aten::floordiv.int", "aten::remainder.int", "aten::div.int", "aten::neg.int",
                 "prim::abs.int", "prim::max.int", "prim::min.int", "aten::pow.int"},
                "n = x.size(0); m = x.size(1);"
                "return x * (n + m), x - (n - m), x + n * m, x + (m // n), x + ((n - 7) // m), x + "
                "(n % m), x + ((n - 7) % m),"
                " x + n / m, x + (-n), x + abs(n - 5), x + max(n, m), x + min(n, m), x + n ** 2",
                {xd}));
  c.push_back(S("float_arith",
                {"aten::add.float",
                 "aten::add.float_int",
                 "aten::add.int_float",
                 "aten::sub.float",
                 "aten::sub.float_int",
                 "aten::sub.int_float",
                 "aten::mul.float",
                 "aten::mul.float_int",
                 "aten::mul.int_float",
                 "aten::div.float",
                 "aten::div",
                 "aten::floordiv.float",
                 "aten::floordiv.float_int",
                 "aten::floordiv.int_float",
                 "aten::remainder.float",
                 "aten::remainder.float_int",
                 "aten::remainder.int_float",
                 "aten::neg.float",
                 "prim::abs.float",
                 "prim::max.float_int",
                 "prim::max.int_float",
                 "prim::min.float",
                 "prim::max.float",
                 "prim::min.float_int",
                 "prim::min.int_float",
                 "aten::pow.float",
                 "aten::pow.float_int",
                 "aten::pow.int_float"},
                "n = x.size(0); f = x.size(1) * 0.5; g = n * 0.25;"
                "return x * (f + g), x + (f + n), x + (n + f), x + (f - g), x + (f - n), x + (n - "
                "f), x * (f * g), x * (f * n),"
                " x + (f // g), x + (f // n), x + (n // f), x + (f % g), x + (f % n), x + (n % f), "
                "x + f / g, x + n / f,"
                " x + (-f), x + abs(g - f), x + max(f, n), x + max(n, f), x + min(f, g), x + "
                "max(f, g), x + min(f, n),"
                " x + min(n, f), x + f ** g, x + f ** 2, x + n ** 0.5",
                {xd}, 1e-4, 1e-4));
  c.push_back(
      S("int_comparisons",
        {"aten::eq.int", "aten::ne.int", "aten::lt.int", "aten::le.int", "aten::gt.int",
         "aten::ge.int", "aten::Float.bool", "aten::Int.bool", "aten::__and__.bool",
         "aten::__or__.bool", "aten::__xor__.bool", "aten::__not__", "aten::eq.bool",
         "aten::ne.bool"},
        "n = x.size(0); m = x.size(1);"
        "return x * float(n == 4), x * float(n != 4), x * float(n < m), x * float(n <= 4), x * "
        "int(m > 6), x * int(m >= 6),"
        " x * float((n > 2) & (m < 7)), x * float((n > 4) | (m < 4)), x * float((n > 2) ^ (m < 7)),"
        " x * float(not (n == m)), x * float((n == 4) == (m > 5)), x * float((n == 4) != (m > 5))",
        {xd}));
  c.push_back(
      S("float_comparisons",
        {"aten::eq.float", "aten::ne.float", "aten::lt.float", "aten::le.float", "aten::gt.float",
         "aten::ge.float", "aten::eq.int_float", "aten::ne.float_int", "aten::lt.int_float",
         "aten::le.float_int", "aten::gt.int_float", "aten::ge.float_int", "aten::eq.float_int",
         "aten::ne.int_float", "aten::lt.float_int", "aten::le.int_float", "aten::gt.float_int",
         "aten::ge.int_float"},
        "n = x.size(0); f = x.size(1) * 0.5; g = n * 1.0;"
        "return x * float(f == 3.0), x * float(f != g), x * float(f < g), x * float(f <= g), x * "
        "float(f > 2.0),"
        " x * float(f >= g), x * float(n == f), x * float(f != n), x * float(n < f), x * float(f "
        "<= n),"
        " x * float(n > f), x * float(f >= n), x * float(f == n), x * float(n != f), x * float(f < "
        "n), x * float(n <= f),"
        " x * float(f > n), x * float(n >= f)",
        {xd}));
  c.push_back(S("scalar_math",
                {"aten::floor.float", "aten::ceil.float", "aten::round.float", "aten::sqrt.float",
                 "aten::log.float", "aten::exp.float", "aten::sqrt.int", "aten::log.int",
                 "aten::exp.int", "aten::floor.int", "aten::round.int"},
                "n = x.size(0); f = x.size(1) * 0.75;"
                "return x + torch.floor(f), x + torch.ceil(f), x + torch.round(f), x + "
                "torch.round(n * 0.5), x + torch.sqrt(f),"
                " x + torch.log(f), x + torch.exp(f * 0.1), x + torch.sqrt(n), x + torch.log(n), x "
                "+ torch.exp(n - 3),"
                " x + torch.floor(n), x + torch.ceil(n), x + torch.round(n)",
                {xd}, 1e-4, 1e-4));
  c.push_back(S("lists",
                {"aten::size", "aten::__getitem__.t", "aten::len.t", "aten::add.t",
                 "aten::mul.left_t", "prim::max.self_int", "prim::min.self_int",
                 "prim::ListConstruct", "aten::numel", "aten::list.t"},
                "s = x.size(); l = s + [2]; r = s * 2; t = list(s);"
                "return x.view(s[-1], -1) + len(l) + len(r) + max(s) + min(t) + x.numel() + s[0]",
                {xd}));
  c.push_back(S(
      "list_slices", {"aten::slice.t"},
      "s = x.size(); t = s[1:]; u = s[::-1]; w = s[-5:1]; v = s[0:2:3];"
      "return x.view(t[0], -1) + u[0] * 10 + len(w) + s[0:2][1] * 100 + len(v) * 1000 + len(s[5:])",
      {xd}));
  c.push_back(
      S("float_lists", {"prim::max.self_float", "prim::min.self_float"},
        "s: List[float] = [x.size(0) * 0.5, 2.0, x.size(1) * 0.25]; return x * max(s) + min(s)",
        {xd}));
  c.push_back(S("list_unpack_and_tuples", {"prim::ListUnpack", "prim::TupleConstruct"},
                "a, b = torch.split(x, 2); n, m = x.size(); return a + b + n, a - m",
                {D({4, 3}, {4, 6}, {4, 9})}));
  c.push_back(
      S("int_list_equality", {"aten::eq.int_list", "aten::ne.int_list"},
        "return x * float(x.size() == [4, 6]) + float(x.size() != [4, 6]) + float(x.size() == [4])",
        {xd}));
  c.push_back(S("tensor_to_number",
                {"aten::Int.Tensor", "aten::Float.Tensor", "aten::Bool.Tensor", "aten::Int.float",
                 "aten::item"},
                "n = x.size(0);"
                "return x * int(x.sum()), x + float(x.mean()), x + float(bool(x.sum() > 0)), x + "
                "int(n * 1.5), x + float(n),"
                " x + x.max().item()",
                {xd}, 1e-4, 1e-4));
  c.push_back(C("views_passthrough", {"aten::alias", "aten::lift_fresh"},
                "torch.alias(x) * 2.0 + torch.lift_fresh(x)", {kX}));

  c.push_back(C("sym_size", {"aten::sym_size.int", "aten::sym_size", "aten::sym_numel"},
                "x.view(torch.sym_size(x, 0), -1) * torch.sym_size(x)[1] + torch.sym_numel(x)",
                {xd}));
  // Overloads on Scalar (number) values and prim::NumToTensor: written as IR.
  c.push_back(G("num_to_tensor", {"prim::NumToTensor.Scalar", "aten::Int.Tensor"},
                R"IR(graph(%x : Tensor):
  %c0 : int = prim::Constant[value=0]()
  %c1 : int = prim::Constant[value=1]()
  %c2 : int = prim::Constant[value=2]()
  %n : int = aten::size(%x, %c0)
  %t : Tensor = prim::NumToTensor(%n)
  %h : Tensor = aten::floor_divide(%t, %c2)
  %hi : int = aten::Int(%h)
  %a : Tensor = aten::slice(%x, %c0, %c0, %hi, %c1)
  %b : Tensor = aten::mul(%a, %t)
  return (%b))IR",
                {D({2, 3}, {4, 3}, {8, 3})}));
  c.push_back(G("scalar_overloads",
                {"aten::ScalarImplicit",
                 "aten::add",
                 "aten::sub",
                 "aten::mul",
                 "aten::floordiv",
                 "aten::remainder",
                 "aten::eq",
                 "aten::ne",
                 "aten::lt",
                 "aten::le",
                 "aten::gt",
                 "aten::ge",
                 "prim::max",
                 "prim::min",
                 "aten::pow.Scalar_Scalar",
                 "aten::neg.Scalar",
                 "prim::abs.Scalar",
                 "aten::floor.Scalar",
                 "aten::ceil.Scalar",
                 "aten::round.Scalar",
                 "aten::sqrt.Scalar",
                 "aten::log.Scalar",
                 "aten::exp.Scalar",
                 "aten::FloatImplicit",
                 "aten::Float.Scalar"},
                R"IR(graph(%x : Tensor, %t1 : Tensor, %u1 : Tensor):
  %none : NoneType = prim::Constant()
  %t : Tensor = aten::sum(%t1, %none)
  %u : Tensor = aten::sum(%u1, %none)
  %a : Scalar = aten::ScalarImplicit(%t)
  %b : Scalar = aten::ScalarImplicit(%u)
  %r0 : Scalar = aten::add(%a, %b)
  %r1 : Scalar = aten::sub(%a, %b)
  %r2 : Scalar = aten::mul(%a, %b)
  %r3 : Scalar = aten::floordiv(%a, %b)
  %r4 : Scalar = aten::remainder(%a, %b)
  %r5 : Scalar = prim::max(%a, %b)
  %r6 : Scalar = prim::min(%a, %b)
  %r7 : Scalar = aten::neg(%a)
  %r8 : Scalar = prim::abs(%a)
  %r9 : Scalar = aten::floor(%a)
  %r10 : Scalar = aten::ceil(%a)
  %r11 : Scalar = aten::round(%a)
  %r12 : Scalar = aten::sqrt(%b)
  %r13 : Scalar = aten::log(%b)
  %r14 : Scalar = aten::exp(%a)
  %r15 : float = aten::pow(%b, %a)
  %e0 : bool = aten::eq(%a, %b)
  %e1 : bool = aten::ne(%a, %b)
  %e2 : bool = aten::lt(%a, %b)
  %e3 : bool = aten::le(%a, %b)
  %e4 : bool = aten::gt(%a, %b)
  %e5 : bool = aten::ge(%a, %b)
  %f0 : float = aten::Float(%e0)
  %f1 : float = aten::Float(%e1)
  %f2 : float = aten::Float(%e2)
  %f3 : float = aten::Float(%e3)
  %f4 : float = aten::Float(%e4)
  %f5 : float = aten::Float(%e5)
  %fr : float = aten::FloatImplicit(%t)
  %fs : float = aten::Float(%r0)
  %o0 : Tensor = aten::mul(%x, %r0)
  %o1 : Tensor = aten::mul(%x, %r1)
  %o2 : Tensor = aten::mul(%x, %r2)
  %o3 : Tensor = aten::mul(%x, %r3)
  %o4 : Tensor = aten::mul(%x, %r4)
  %o5 : Tensor = aten::mul(%x, %r5)
  %o6 : Tensor = aten::mul(%x, %r6)
  %o7 : Tensor = aten::mul(%x, %r7)
  %o8 : Tensor = aten::mul(%x, %r8)
  %o9 : Tensor = aten::mul(%x, %r9)
  %o10 : Tensor = aten::mul(%x, %r10)
  %o11 : Tensor = aten::mul(%x, %r11)
  %o12 : Tensor = aten::mul(%x, %r12)
  %o13 : Tensor = aten::mul(%x, %r13)
  %o14 : Tensor = aten::mul(%x, %r14)
  %o15 : Tensor = aten::mul(%x, %r15)
  %p0 : Tensor = aten::mul(%x, %f0)
  %p1 : Tensor = aten::mul(%x, %f1)
  %p2 : Tensor = aten::mul(%x, %f2)
  %p3 : Tensor = aten::mul(%x, %f3)
  %p4 : Tensor = aten::mul(%x, %f4)
  %p5 : Tensor = aten::mul(%x, %f5)
  %p6 : Tensor = aten::mul(%x, %fr)
  %p7 : Tensor = aten::mul(%x, %fs)
  %out : (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) = prim::TupleConstruct(%o0, %o1, %o2, %o3, %o4, %o5, %o6, %o7, %o8, %o9, %o10, %o11, %o12, %o13, %o14, %o15, %p0, %p1, %p2, %p3, %p4, %p5, %p6, %p7)
  return (%out))IR",
                {F({3, 4}), P({1}), P({1})}, 1e-4, 1e-4));
  c.push_back(G("int_scalar_overloads",
                {"aten::Int.Scalar", "aten::Bool.int", "aten::Bool.float", "aten::neg.float"},
                R"IR(graph(%x : Tensor, %t1 : Tensor):
  %none : NoneType = prim::Constant()
  %t : Tensor = aten::sum(%t1, %none)
  %c0 : int = prim::Constant[value=0]()
  %c2 : int = prim::Constant[value=2]()
  %a : Scalar = aten::ScalarImplicit(%t)
  %i : int = aten::Int(%a)
  %n : int = aten::size(%x, %c0)
  %p : float = aten::pow(%n, %c2)
  %q : float = aten::neg(%p)
  %d : int = aten::sub(%n, %c2)
  %b0 : bool = aten::Bool(%d)
  %fl : float = aten::Float(%n)
  %b1 : bool = aten::Bool(%fl)
  %f0 : float = aten::Float(%b0)
  %f1 : float = aten::Float(%b1)
  %o0 : Tensor = aten::mul(%x, %i)
  %o1 : Tensor = aten::add(%x, %q, %c2)
  %o2 : Tensor = aten::mul(%x, %f0)
  %o3 : Tensor = aten::mul(%x, %f1)
  %out : (Tensor, Tensor, Tensor, Tensor) = prim::TupleConstruct(%o0, %o1, %o2, %o3)
  return (%out))IR",
                {D({1, 4}, {2, 4}, {5, 4}), I({1}, -5, 5)}));
  c.push_back(G("list_repeat_right", {"aten::mul.right_"},
                R"IR(graph(%x : Tensor):
  %c0 : int = prim::Constant[value=0]()
  %c1 : int = prim::Constant[value=1]()
  %m1 : int = prim::Constant[value=-1]()
  %n : int = aten::size(%x, %c0)
  %l : int[] = prim::ListConstruct(%n)
  %r : int[] = aten::mul(%c1, %l)
  %s : int[] = aten::add(%r, %l)
  %k : int = aten::len(%s)
  %v : int[] = prim::ListConstruct(%n, %m1)
  %y : Tensor = aten::view(%x, %v)
  %z : Tensor = aten::mul(%y, %k)
  return (%z))IR",
                {D({1, 4}, {2, 4}, {5, 4})}));
  c.push_back(G("float_int_conversions",
                {"aten::Float.Scalar", "aten::IntImplicit", "aten::list.t"},
                R"IR(graph(%x : Tensor, %t1 : Tensor):
  %none : NoneType = prim::Constant()
  %t : Tensor = aten::sum(%t1, %none)
  %c0 : int = prim::Constant[value=0]()
  %i : int = aten::IntImplicit(%t)
  %f : float = aten::Float(%i)
  %n : int = aten::size(%x, %c0)
  %m1 : int = prim::Constant[value=-1]()
  %l : int[] = prim::ListConstruct(%n, %m1)
  %l2 : int[] = aten::list(%l)
  %y : Tensor = aten::view(%x, %l2)
  %z : Tensor = aten::mul(%y, %f)
  return (%z))IR",
                {D({1, 4}, {2, 4}, {5, 4}), I({1}, -5, 5)}));
  return c;
}

}  // namespace kiln::nlp_cases
