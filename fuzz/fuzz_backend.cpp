// fuzz_backend.cpp — the tensor layer's device interface for the fuzz build: memory from
// malloc, copy and fill for any layout and dtype, every compute kernel refused.
//
// The fuzz targets compile only the parsers and the tensor core under clang with
// -fsanitize=fuzzer,address,undefined; the real CPU backend (OpenMP, OpenBLAS, oneDNN
// built against GNU OpenMP) stays out of the process (design.md: one OpenMP runtime).
// Parsers only allocate tensors and fill them; a kernel call would be a bug here.
#include <cstdlib>
#include <cstring>

#include "tensor/backend.h"

namespace contra {

namespace {

double load(const Tensor& t, std::int64_t at) {
  const char* p = static_cast<const char*>(t.storage()->data()) + at * static_cast<std::int64_t>(dtype_size(t.dtype()));
  switch (t.dtype()) {
    case DType::f32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::f64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::i64: { std::int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::u8: return static_cast<unsigned char>(*p);
  }
  return 0;
}

void store(const Tensor& t, std::int64_t at, double v) {
  char* p = static_cast<char*>(t.storage()->data()) + at * static_cast<std::int64_t>(dtype_size(t.dtype()));
  switch (t.dtype()) {
    case DType::f32: { const float x = static_cast<float>(v); std::memcpy(p, &x, 4); return; }
    case DType::f64: std::memcpy(p, &v, 8); return;
    case DType::i64: { const auto x = static_cast<std::int64_t>(v); std::memcpy(p, &x, 8); return; }
    case DType::u8: *p = static_cast<char>(static_cast<unsigned char>(v)); return;
  }
}

// Visits every element of `shape` with its storage offset under `strides` (+ `offset`).
template <typename F>
void for_each_index(const Shape& shape, const std::vector<std::int64_t>& a_strides, std::int64_t a_off,
                    const std::vector<std::int64_t>& b_strides, std::int64_t b_off, F&& f) {
  const std::int64_t n = shape_numel(shape);
  std::vector<std::int64_t> idx(shape.size(), 0);
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t a = a_off, b = b_off;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      a += idx[d] * a_strides[d];
      b += idx[d] * b_strides[d];
    }
    f(a, b);
    for (std::size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

[[noreturn]] void refused(const char* what) {
  throw Error("fuzz backend", std::string(what) + " is not available in the fuzz build");
}

class MallocBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  const char* name() const override { return "fuzz-malloc"; }
  void* allocate(std::size_t n) override {
    void* p = std::malloc(n);
    if (!p) throw Error("fuzz backend", "out of memory");
    return p;
  }
  void deallocate(void* p) override { std::free(p); }
  void copy(const Tensor& src, const Tensor& dst) override {
    CONTRA_CHECK(src.shape() == dst.shape() || src.numel() == 1, "fuzz backend", "copy needs equal shapes");
    if (src.numel() == 1 && src.shape() != dst.shape()) return fill(dst, load(src, src.offset()));
    for_each_index(dst.shape(), src.strides(), src.offset(), dst.strides(), dst.offset(),
                   [&](std::int64_t a, std::int64_t b) { store(dst, b, load(src, a)); });
  }
  void fill(const Tensor& dst, double value) override {
    for_each_index(dst.shape(), dst.strides(), dst.offset(), dst.strides(), dst.offset(),
                   [&](std::int64_t, std::int64_t b) { store(dst, b, value); });
  }
  // host transfers (the one device is host memory): contiguous tensors, no conversion
  void copy_from_host(const void* host_src, const Tensor& dst) override {
    CONTRA_CHECK(dst.is_contiguous(), "fuzz backend", "copy_from_host needs a contiguous tensor");
    std::memcpy(static_cast<char*>(dst.raw_data()), host_src, static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()));
  }
  void copy_to_host(const Tensor& src, void* host_dst) override {
    CONTRA_CHECK(src.is_contiguous(), "fuzz backend", "copy_to_host needs a contiguous tensor");
    std::memcpy(host_dst, src.raw_data(), static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype()));
  }
  void unary(UnaryOp, const Tensor&, const Tensor&, UnaryParams) override { refused("unary"); }
  void binary(BinaryOp, const Tensor&, const Tensor&, const Tensor&) override { refused("binary"); }
  void where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) override { refused("where"); }
  void reduce(ReduceOp, const Tensor&, const Tensor&) override { refused("reduce"); }
  std::int64_t count_non_finite(const std::vector<Tensor>&) override { refused("count_non_finite"); }
  void matmul(const Tensor&, const Tensor&, const Tensor&, double, double) override { refused("matmul"); }
  void softmax(const Tensor&, const Tensor&, bool) override { refused("softmax"); }
  void index_select(const Tensor&, int, const Tensor&, const Tensor&) override { refused("index_select"); }
  void index_add(const Tensor&, int, const Tensor&, const Tensor&) override { refused("index_add"); }
  void gather(const Tensor&, int, const Tensor&, const Tensor&) override { refused("gather"); }
  void scatter_add(const Tensor&, int, const Tensor&, const Tensor&) override { refused("scatter_add"); }
  void conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) override {
    refused("conv2d");
  }
  void conv2d_backward_data(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) override {
    refused("conv2d");
  }
  void conv2d_backward_weight(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) override {
    refused("conv2d");
  }
  void batch_norm_forward_training(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&,
                                   const Tensor&, BatchNormReduction*) override {
    refused("batch_norm");
  }
  void batch_norm_forward_inference(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                                    const Tensor&) override {
    refused("batch_norm");
  }
  void batch_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, bool,
                           const Tensor&, const Tensor&, const Tensor&, BatchNormReduction*) override {
    refused("batch_norm");
  }
  Tensor max_pool2d_forward(const Tensor&, const Tensor&, const Pool2dParams&) override { refused("max_pool2d"); }
  void max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&, const Pool2dParams&) override {
    refused("max_pool2d");
  }
  void adaptive_avg_pool2d_forward(const Tensor&, const Tensor&) override { refused("adaptive_avg_pool2d"); }
  void adaptive_avg_pool2d_backward(const Tensor&, const Tensor&) override { refused("adaptive_avg_pool2d"); }
  void contrastive_row_pass(const Tensor&, const Tensor&, const Tensor&, const ContrastiveRowParams&,
                            const Tensor&) override {
    refused("contrastive_row_pass");
  }
  void contrastive_tile_forward(const Tensor&, const Tensor&, const ContrastiveRowParams&, const Tensor&) override {
    refused("contrastive_tile_forward");
  }
  void contrastive_tile_gradient(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const ContrastiveRowParams&,
                                 const Tensor&) override {
    refused("contrastive_tile_gradient");
  }
  void contrastive_normalize_rows(const Tensor&, const Tensor&, const Tensor&) override {
    refused("contrastive_normalize_rows");
  }
  void contrastive_normalize_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                      const ContrastiveRowParams&, const Tensor&, const Tensor&) override {
    refused("contrastive_normalize_backward");
  }
  void sgd_update(const std::vector<Tensor>&, const std::vector<Tensor>&, const std::vector<Tensor>&,
                  const std::vector<std::uint8_t>&, const SgdHyper&) override {
    refused("sgd_update");
  }
  void lars_update(const std::vector<Tensor>&, const std::vector<Tensor>&, const std::vector<Tensor>&, const LarsHyper&,
                   const Tensor&) override {
    refused("lars_update");
  }
  void adamw_update(const std::vector<Tensor>&, const std::vector<Tensor>&, const std::vector<Tensor>&,
                    const std::vector<Tensor>&, const std::vector<double>&, const AdamWHyper&) override {
    refused("adamw_update");
  }
};

}  // namespace

Backend& backend_for(Device device) {
  static MallocBackend cpu;
  CONTRA_CHECK(device.type == DeviceType::cpu, "fuzz backend", "only the CPU exists in the fuzz build");
  return cpu;
}

bool cuda_available() { return false; }
void set_reference_kernels(bool) {}
bool reference_kernels() { return true; }
void set_num_threads(int) {}
int num_threads() { return 1; }

}  // namespace contra
