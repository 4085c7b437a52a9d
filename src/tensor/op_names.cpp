// op_names.cpp — the names of the element-wise ops of backend.h, for error messages.
// Its own file (not backend_registry.cpp) because code built without the CPU backend (the
// fuzz targets, fuzz/meson.build) names ops too.
#include "tensor/backend.h"

namespace contra {

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::abs: return "abs";
    case UnaryOp::relu: return "relu";
    case UnaryOp::sigmoid: return "sigmoid";
    case UnaryOp::tanh: return "tanh";
    case UnaryOp::sign: return "sign";
    case UnaryOp::square: return "square";
    case UnaryOp::reciprocal: return "reciprocal";
    case UnaryOp::pow_scalar: return "pow";
    case UnaryOp::clamp: return "clamp";
    case UnaryOp::step: return "step";
    case UnaryOp::affine: return "affine";
  }
  return "?";
}

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
    case BinaryOp::maximum: return "maximum";
    case BinaryOp::minimum: return "minimum";
    case BinaryOp::pow: return "pow";
    case BinaryOp::eq: return "eq";
    case BinaryOp::ne: return "ne";
    case BinaryOp::gt: return "gt";
    case BinaryOp::ge: return "ge";
    case BinaryOp::lt: return "lt";
    case BinaryOp::le: return "le";
  }
  return "?";
}

}  // namespace contra
