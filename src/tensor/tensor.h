// tensor.h — the Tensor handle: a strided view of a Storage, plus optional autograd data.
//
// A Tensor is a cheap, shared handle (copying it aliases, as in PyTorch). It describes
// `shape`, element `strides` and an element `offset` into a ref-counted Storage, with a
// dtype and a device. Views (reshape of contiguous data, permute, slice, expand) share the
// storage; contiguous() copies only when needed.
//
// This layer knows nothing about differentiation beyond holding the autograd fields
// (requires_grad, grad, grad_fn); the differentiable ops and the engine live in autograd/.
// Functions here never record graph nodes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace contra {

namespace autograd { class Node; }
class Generator;
class Tensor;
struct AutogradMeta;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  std::unique_ptr<AutogradMeta> autograd;  // created on first use
  ~TensorImpl();
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no storage)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -----------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());  // 0-d tensor
  static Tensor arange(std::int64_t n, DType dtype = DType::i64, Device device = Device::cpu());
  // Host values, copied onto `device` (copy_from_host) when it is not the CPU.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
  // Uniform in [0, 1) and standard normal, drawn from an explicit generator. The numbers
  // are always drawn on the host, in the same order, then copied to `device`: a draw gives
  // the same values on every device (and leaves the generator in the same state).
  static Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = Device::cpu());
  // Wraps memory owned elsewhere (no copy). `deleter` runs when the last view goes.
  static Tensor from_blob(void* data, const Shape& shape, DType dtype,
                          std::function<void(void*)> deleter = [](void*) {});

  // ---- metadata ------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl()->shape; }
  const Strides& strides() const { return impl()->strides; }
  std::int64_t offset() const { return impl()->offset; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl()->shape.size()); }
  std::int64_t size(std::int64_t d) const;    // negative d counts from the end
  std::int64_t stride(std::int64_t d) const;
  std::int64_t numel() const { return shape_numel(impl()->shape); }
  DType dtype() const { return impl()->dtype; }
  Device device() const { return impl()->storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl()->storage; }
  std::uint64_t version() const { return impl()->storage->version(); }
  void bump_version() const { impl()->storage->bump_version(); }
  TensorImpl* impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }  // the same handle

  // Pointer to the first element. Checks the dtype; the data may be strided.
  template <typename T> T* data() const;
  void* raw_data() const;

  // ---- non-recording views and copies (the differentiable versions are in autograd/) --
  Tensor as_strided(const Shape& shape, const Strides& strides, std::int64_t offset) const;
  Tensor view(const Shape& shape) const;   // needs a layout compatible with `shape`; -1 infers one axis
  Tensor contiguous() const;               // `*this` when already contiguous
  Tensor clone() const;                    // always a fresh contiguous copy
  Tensor to(DType dtype) const;            // `*this` when the dtype matches
  // A contiguous copy on `device` (same shape, dtype and values), through the backends'
  // copy_to_host / copy_from_host (device → device goes through the host). `*this` when
  // already there: no copy, the result aliases. Never records a graph node (like detach()
  // the result carries no autograd data; Module::to moves parameters in place instead).
  // A cuda device in a build without CUDA throws the stub's error (cuda_stub.cpp).
  Tensor to(Device device) const;
  // Makes this handle (and every copy of it) view `src`'s storage, shape, strides, offset
  // and dtype, keeping its identity and autograd fields (requires_grad, grad): what
  // Module::to and Optimizer::to use so that parameters held elsewhere stay valid
  // (PyTorch's `p.data = src`). Bumps the version. Not for tensors inside a graph.
  void set_data(const Tensor& src) const;
  Tensor detach() const;                   // shares storage, no autograd data

  // ---- element access (for tests, tools and small data) -------------------------------
  // On a device other than the CPU these copy to the host first (a synchronisation point).
  double item() const;  // a one-element tensor's value
  double at(std::initializer_list<std::int64_t> index) const;
  template <typename T> std::vector<T> to_vector() const;  // row-major copy, converting

  // ---- in-place writes; each bumps the version ---------------------------------------
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const { return fill_(0.0); }
  const Tensor& copy_(const Tensor& src) const;  // src broadcast to this shape, dtype converted
  const Tensor& set_at(std::initializer_list<std::int64_t> index, double value) const;

  // ---- autograd fields ----------------------------------------------------------------
  bool requires_grad() const;
  const Tensor& set_requires_grad(bool on) const;  // only on leaves of floating dtype
  Tensor grad() const;                             // undefined until backward reaches it
  void set_grad(const Tensor& g) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  AutogradMeta& autograd_meta() const;  // creates it on first use
  bool has_autograd_meta() const { return impl_ && impl_->autograd != nullptr; }

  std::string str(int max_elements = 64) const;  // values and metadata, for humans

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;       // null for leaves
  std::weak_ptr<autograd::Node> grad_accumulator;  // leaves: the node that adds into grad
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Number of elements stored below which ops run single-threaded.
constexpr std::int64_t kParallelGrain = 32768;

}  // namespace contra
