#include "tensor/shape.h"

#include <sstream>

#include "tensor/error.h"

namespace contra {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}

std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto v : s) n *= v;
  return n;
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  std::int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i] > 0 ? s[i] : 1;
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    CONTRA_CHECK_HINT(da == db || da == 1 || db == 1, op,
                      "sizes must be equal or 1 on each axis aligned from the right",
                      "shapes ", shape_str(a), " and ", shape_str(b), " do not broadcast (axis ", i,
                      ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int wrap_dim(std::int64_t d, std::int64_t ndim, const char* op) {
  const std::int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  CONTRA_CHECK(d >= lo && d <= hi, op, "axis ", d, " is out of range for a tensor with ", ndim,
               " dimensions (valid: ", lo, "..", hi, ")");
  return static_cast<int>(d < 0 ? d + (ndim == 0 ? 1 : ndim) : d);
}

Strides broadcast_strides(const Shape& s, const Strides& st, const Shape& to) {
  CONTRA_ASSERT(s.size() <= to.size());
  Strides out(to.size(), 0);
  const size_t off = to.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) {
    CONTRA_ASSERT(s[i] == to[off + i] || s[i] == 1, "broadcast ", shape_str(s), " to ", shape_str(to));
    out[off + i] = (s[i] == 1 && to[off + i] != 1) ? 0 : st[i];
  }
  return out;
}

}  // namespace contra
