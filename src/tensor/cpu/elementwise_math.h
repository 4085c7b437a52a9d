// elementwise_math.h — the scalar formula of every unary and binary op, in one place.
//
// Both the reference and the fast CPU kernels call `with_unary` / `with_binary`, which hand
// a small lambda for the op to the loop; the switch happens once per call, not per element.
#pragma once

#include <algorithm>
#include <cmath>

#include "tensor/backend.h"

namespace contra::cpu {

template <typename T, typename F>
void with_unary(UnaryOp op, UnaryParams p, F&& f) {
  const T a = static_cast<T>(p.a), b = static_cast<T>(p.b);
  switch (op) {
    case UnaryOp::neg: return f([](T x) { return -x; });
    case UnaryOp::exp: return f([](T x) { return std::exp(x); });
    case UnaryOp::log: return f([](T x) { return std::log(x); });
    case UnaryOp::sqrt: return f([](T x) { return std::sqrt(x); });
    case UnaryOp::abs: return f([](T x) { return std::abs(x); });
    // NaN propagates through relu, sign, maximum and minimum, as in PyTorch: a comparison
    // alone would turn it into a number (x > 0 is false for NaN).
    case UnaryOp::relu: return f([](T x) { return x > T(0) || x != x ? x : T(0); });
    // σ(x) = 1 / (1 + e^{−x}), written to avoid overflow for large |x|.
    case UnaryOp::sigmoid:
      return f([](T x) {
        if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
        const T e = std::exp(x);
        return e / (T(1) + e);
      });
    case UnaryOp::tanh: return f([](T x) { return std::tanh(x); });
    case UnaryOp::sign: return f([](T x) { return x != x ? x : T((x > T(0)) - (x < T(0))); });
    case UnaryOp::square: return f([](T x) { return x * x; });
    case UnaryOp::reciprocal: return f([](T x) { return T(1) / x; });
    case UnaryOp::pow_scalar: return f([a](T x) { return std::pow(x, a); });
    case UnaryOp::clamp: return f([a, b](T x) { return std::min(std::max(x, a), b); });
    case UnaryOp::step: return f([a](T x) { return x > a ? T(1) : T(0); });
    case UnaryOp::affine: return f([a, b](T x) { return a * x + b; });
  }
}

template <typename T, typename F>
void with_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add: return f([](T x, T y) { return x + y; });
    case BinaryOp::sub: return f([](T x, T y) { return x - y; });
    case BinaryOp::mul: return f([](T x, T y) { return x * y; });
    case BinaryOp::div: return f([](T x, T y) { return x / y; });
    case BinaryOp::maximum: return f([](T x, T y) { return x > y || x != x ? x : y; });  // NaN wins
    case BinaryOp::minimum: return f([](T x, T y) { return x < y || x != x ? x : y; });
    case BinaryOp::pow: return f([](T x, T y) { return std::pow(x, y); });
    case BinaryOp::eq: return f([](T x, T y) { return T(x == y); });
    case BinaryOp::ne: return f([](T x, T y) { return T(x != y); });
    case BinaryOp::gt: return f([](T x, T y) { return T(x > y); });
    case BinaryOp::ge: return f([](T x, T y) { return T(x >= y); });
    case BinaryOp::lt: return f([](T x, T y) { return T(x < y); });
    case BinaryOp::le: return f([](T x, T y) { return T(x <= y); });
  }
}

}  // namespace contra::cpu
