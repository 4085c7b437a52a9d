#include "tensor/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "tensor/backend.h"
#include "tensor/generator.h"

namespace contra {

TensorImpl::~TensorImpl() = default;

namespace {

std::shared_ptr<TensorImpl> make_impl(std::shared_ptr<Storage> storage, Shape shape, Strides strides,
                                      std::int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return impl;
}

void check_shape(const Shape& shape, DType dtype, const char* op) {
  std::int64_t n = 1;
  for (auto s : shape) {
    CONTRA_CHECK(s >= 0, op, "negative size in shape ", shape_str(shape));
    if (s != 0) {
      CONTRA_CHECK_HINT(n <= (std::int64_t{1} << 40) / s, op, "reduce the batch or image size",
                        "shape ", shape_str(shape), " is too large to allocate");
      n *= s;
    }
  }
  (void)dtype;
}

// Offset of a multi-index (row-major order over `shape`) in a strided tensor.
std::int64_t offset_of(const Tensor& t, std::int64_t linear) {
  std::int64_t off = t.offset();
  for (std::int64_t d = t.dim() - 1; d >= 0; --d) {
    const std::int64_t s = t.shape()[d];
    off += (linear % s) * t.strides()[d];
    linear /= s;
  }
  return off;
}

template <typename T>
double load_as_double(const Tensor& t, std::int64_t element_offset) {
  return static_cast<double>(static_cast<const T*>(t.storage()->data())[element_offset]);
}

double load(const Tensor& t, std::int64_t element_offset) {
  return dispatch_all(t.dtype(), [&](auto v) { return load_as_double<decltype(v)>(t, element_offset); });
}

}  // namespace

// ---- factories ------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape, dtype, "Tensor::empty");
  auto storage = std::make_shared<Storage>(static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  return Tensor(make_impl(std::move(storage), shape, contiguous_strides(shape), 0, dtype));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  backend_for(device).fill(t, value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::arange(std::int64_t n, DType dtype, Device device) {
  if (device != Device::cpu()) return arange(n, dtype).to(device);
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, [&](auto v) {
    using T = decltype(v);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return t;
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  CONTRA_CHECK(static_cast<std::int64_t>(values.size()) == shape_numel(shape), "Tensor::from_vector",
               values.size(), " values do not fill shape ", shape_str(shape), " (", shape_numel(shape),
               " elements)");
  Tensor t = empty(shape, dtype_of<T>::value, device);
  if (!values.empty()) backend_for(device).copy_from_host(values.data(), t);
  return t;
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor Tensor::from_vector<std::int64_t>(const std::vector<std::int64_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<std::uint8_t>(const std::vector<std::uint8_t>&, const Shape&, Device);

Tensor Tensor::rand(const Shape& shape, Generator& gen, DType dtype, Device device) {
  if (device != Device::cpu()) return rand(shape, gen, dtype).to(device);  // drawn on the host
  Tensor t = empty(shape, dtype);
  dispatch_floating(dtype, "Tensor::rand", [&](auto v) {
    using T = decltype(v);
    T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(gen.uniform());
  });
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  if (device != Device::cpu()) return randn(shape, gen, dtype).to(device);  // drawn on the host
  Tensor t = empty(shape, dtype);
  dispatch_floating(dtype, "Tensor::randn", [&](auto v) {
    using T = decltype(v);
    T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(gen.normal());
  });
  return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter) {
  check_shape(shape, dtype, "Tensor::from_blob");
  auto storage = std::make_shared<Storage>(data, static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype),
                                           Device::cpu(), std::move(deleter));
  return Tensor(make_impl(std::move(storage), shape, contiguous_strides(shape), 0, dtype));
}

// ---- metadata -------------------------------------------------------------------------

TensorImpl* Tensor::impl() const {
  CONTRA_CHECK(impl_ != nullptr, "Tensor", "use of an undefined tensor",
               "the tensor was default-constructed or its gradient was never computed");
  return impl_.get();
}

std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_dim(d, dim(), "Tensor::size")]; }
std::int64_t Tensor::stride(std::int64_t d) const { return strides()[wrap_dim(d, dim(), "Tensor::stride")]; }

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (std::int64_t d = dim() - 1; d >= 0; --d) {
    const std::int64_t s = shape()[d];
    if (s == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= s;
  }
  return true;
}

template <typename T>
T* Tensor::data() const {
  CONTRA_CHECK(dtype() == dtype_of<T>::value, "Tensor::data", "asked for ", dtype_name(dtype_of<T>::value),
               " data of a ", dtype_name(dtype()), " tensor");
  return static_cast<T*>(storage()->data()) + offset();
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template std::int64_t* Tensor::data<std::int64_t>() const;
template std::uint8_t* Tensor::data<std::uint8_t>() const;

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<std::int64_t>(dtype_size(dtype()));
}

// ---- views and copies -------------------------------------------------------------------

Tensor Tensor::as_strided(const Shape& shape, const Strides& strides, std::int64_t offset) const {
  CONTRA_ASSERT(shape.size() == strides.size());
  return Tensor(make_impl(storage(), shape, strides, offset, dtype()));
}

Tensor Tensor::view(const Shape& requested) const {
  // Resolve a single -1.
  Shape shape = requested;
  std::int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CONTRA_CHECK(infer < 0, "reshape", "only one axis can be -1 in ", shape_str(requested));
      infer = static_cast<std::int64_t>(i);
    } else {
      CONTRA_CHECK(shape[i] >= 0, "reshape", "negative size in ", shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    CONTRA_CHECK(known != 0 && numel() % known == 0, "reshape", "cannot reshape ", shape_str(this->shape()),
                 " (", numel(), " elements) into ", shape_str(requested));
    shape[infer] = numel() / known;
  }
  CONTRA_CHECK(shape_numel(shape) == numel(), "reshape", "cannot reshape ", shape_str(this->shape()), " (",
               numel(), " elements) into ", shape_str(requested), " (", shape_numel(shape), " elements)");
  CONTRA_CHECK_HINT(is_contiguous(), "view", "call contiguous() first, or use reshape()",
                    "a view needs contiguous data; this tensor has shape ", shape_str(this->shape()),
                    " and strides ", shape_str(strides()));
  return as_strided(shape, contiguous_strides(shape), offset());
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  backend_for(device()).copy(*this, out);
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt, device());
  backend_for(device()).copy(*this, out);
  return out;
}

Tensor Tensor::detach() const { return as_strided(shape(), strides(), offset()); }

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  const Tensor src = contiguous();  // on the source device
  Tensor out = empty(shape(), dtype(), target);
  if (numel() == 0) return out;
  if (device() == Device::cpu()) {
    backend_for(target).copy_from_host(src.raw_data(), out);
  } else if (target == Device::cpu()) {
    backend_for(device()).copy_to_host(src, out.raw_data());
  } else {  // device → device through a host buffer
    const Tensor host = empty(shape(), dtype(), Device::cpu());
    backend_for(device()).copy_to_host(src, host.raw_data());
    backend_for(target).copy_from_host(host.raw_data(), out);
  }
  return out;
}

void Tensor::set_data(const Tensor& src) const {
  CONTRA_CHECK(src.defined(), "Tensor::set_data", "the new data is an undefined tensor");
  CONTRA_CHECK(src.shape() == shape(), "Tensor::set_data", "new data has shape ", shape_str(src.shape()),
               ", the tensor ", shape_str(shape()), "; set_data moves values, it does not reshape");
  TensorImpl* i = impl();
  if (i == src.impl()) return;
  i->storage = src.storage();
  i->strides = src.strides();
  i->offset = src.offset();
  i->dtype = src.dtype();
  bump_version();
}

// ---- element access ------------------------------------------------------------------------

double Tensor::item() const {
  CONTRA_CHECK(numel() == 1, "Tensor::item", "needs exactly one element, the tensor has shape ",
               shape_str(shape()));
  if (device() != Device::cpu()) return to(Device::cpu()).item();
  return load(*this, offset_of(*this, 0));
}

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  CONTRA_CHECK(static_cast<std::int64_t>(index.size()) == dim(), "Tensor::at", "index has ", index.size(),
               " coordinates for a tensor of shape ", shape_str(shape()));
  if (device() != Device::cpu()) return to(Device::cpu()).at(index);
  std::int64_t off = offset(), d = 0;
  for (auto i : index) {
    CONTRA_CHECK(i >= 0 && i < shape()[d], "Tensor::at", "index ", i, " out of range on axis ", d,
                 " of shape ", shape_str(shape()));
    off += i * strides()[d++];
  }
  return load(*this, off);
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(dtype_of<T>::value).contiguous().to(Device::cpu());
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;
template std::vector<std::uint8_t> Tensor::to_vector<std::uint8_t>() const;

// ---- in-place -----------------------------------------------------------------------------

const Tensor& Tensor::fill_(double value) const {
  backend_for(device()).fill(*this, value);
  bump_version();
  return *this;
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  CONTRA_CHECK(src.device() == device(), "copy_", "source on ", src.device().str(), ", destination on ",
               device().str());
  broadcast_shapes(src.shape(), shape(), "copy_");
  CONTRA_CHECK(broadcast_shapes(src.shape(), shape(), "copy_") == shape(), "copy_", "source shape ",
               shape_str(src.shape()), " does not broadcast to ", shape_str(shape()));
  backend_for(device()).copy(src, *this);
  bump_version();
  return *this;
}

const Tensor& Tensor::set_at(std::initializer_list<std::int64_t> index, double value) const {
  CONTRA_CHECK(static_cast<std::int64_t>(index.size()) == dim(), "Tensor::set_at", "index has ", index.size(),
               " coordinates for a tensor of shape ", shape_str(shape()));
  std::int64_t off = offset(), d = 0;
  for (auto i : index) {
    CONTRA_CHECK(i >= 0 && i < shape()[d], "Tensor::set_at", "index ", i, " out of range on axis ", d);
    off += i * strides()[d++];
  }
  if (device() != Device::cpu()) {  // the element as a 0-d view, filled by its backend
    backend_for(device()).fill(as_strided({}, {}, off), value);
    bump_version();
    return *this;
  }
  dispatch_all(dtype(), [&](auto v) {
    using T = decltype(v);
    static_cast<T*>(storage()->data())[off] = static_cast<T>(value);
  });
  bump_version();
  return *this;
}

// ---- autograd fields -----------------------------------------------------------------------

AutogradMeta& Tensor::autograd_meta() const {
  auto* i = impl();
  if (!i->autograd) i->autograd = std::make_unique<AutogradMeta>();
  return *i->autograd;
}

bool Tensor::requires_grad() const { return has_autograd_meta() && impl_->autograd->requires_grad; }

const Tensor& Tensor::set_requires_grad(bool on) const {
  CONTRA_CHECK(!on || is_floating(dtype()), "set_requires_grad", "only floating tensors can require "
               "gradients, this one is ", dtype_name(dtype()));
  CONTRA_CHECK_HINT(is_leaf(), "set_requires_grad", "call detach() to make a new leaf",
                    "can only be set on a leaf tensor (one not produced by a differentiable op)");
  autograd_meta().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return has_autograd_meta() ? impl_->autograd->grad : Tensor(); }
void Tensor::set_grad(const Tensor& g) const { autograd_meta().grad = g; }

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  return has_autograd_meta() ? impl_->autograd->grad_fn : none;
}

// ---- printing --------------------------------------------------------------------------------

std::string Tensor::str(int max_elements) const {
  if (!defined()) return "Tensor(undefined)";
  if (device() != Device::cpu()) {  // values read through a host copy, metadata as here
    std::string s = to(Device::cpu()).str(max_elements);
    const std::string from = "device=" + Device::cpu().str(), to_dev = "device=" + device().str();
    if (auto pos = s.find(from); pos != std::string::npos) s.replace(pos, from.size(), to_dev);
    return s;
  }
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype())
     << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ")\n";
  const std::int64_t n = numel();
  const std::int64_t row = dim() == 0 ? 1 : shape().back();
  os << std::setprecision(6);
  os << "[";
  for (std::int64_t i = 0; i < n && i < max_elements; ++i) {
    if (i > 0) os << ((row > 0 && i % row == 0) ? ",\n " : ", ");
    os << load(*this, offset_of(*this, i));
  }
  if (n > max_elements) os << ", ... (" << n << " elements)";
  os << "]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace contra
