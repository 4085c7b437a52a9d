#include "tensor/dtype.h"

#include <cstdio>
#include <cstdlib>

namespace contra {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::f64 || b == DType::f64) return DType::f64;
  if (a == DType::f32 || b == DType::f32) return DType::f32;
  return DType::i64;
}


namespace detail {
void invariant_failed(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "contra internal error: %s:%d: invariant `%s` failed%s%s\n", file, line, expr,
               msg.empty() ? "" : ": ", msg.c_str());
  std::abort();
}
}  // namespace detail

}  // namespace contra
