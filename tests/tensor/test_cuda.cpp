// CUDA backend: every Backend method on cuda:0 against the CPU backend on the same inputs
// (f32 and f64; broadcasting, strided views, transposed GEMM operands), and the graceful
// refusal of cuda devices on a machine without a GPU. Without a GPU the parity cases print
// one line and pass: they are compiled here and run by scripts/device-check on a GPU machine.
// Tolerances: elementwise 1e-6 relative (f32), reductions/GEMM/convolutions 1e-4 · magnitude.
// Issue 11 §1's parity harness will run every row on CUDA too; this file covers the backend
// until then with data moved only through copy_from_host/copy_to_host.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <functional>

#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

bool have_gpu() {
  static const bool gpu = [] {
    const bool ok = cuda_available();
    if (!ok) std::printf("CUDA tests SKIPPED: no CUDA device (this build: compile check only)\n");
    return ok;
  }();
  return gpu;
}

Generator gen(7);
const Device kGpu = Device::cuda(0);

Tensor to_gpu(const Tensor& cpu) {
  const Tensor c = cpu.contiguous();
  Tensor g = Tensor::empty(c.shape(), c.dtype(), kGpu);
  backend_for(kGpu).copy_from_host(c.raw_data(), g);
  return g;
}

Tensor to_cpu(const Tensor& gpu) {
  const Tensor c = gpu.contiguous();
  Tensor h = Tensor::empty(c.shape(), c.dtype());
  backend_for(kGpu).copy_to_host(c, h.raw_data());
  return h;
}

// A view on the GPU with the same shape, strides and offset as `cpu` (a copy of its storage).
Tensor gpu_view_like(const Tensor& cpu) {
  const std::size_t n = cpu.storage()->nbytes() / dtype_size(cpu.dtype());
  Tensor flat_cpu = Tensor::from_blob(cpu.storage()->data(), {static_cast<std::int64_t>(n)}, cpu.dtype());
  Tensor flat = to_gpu(flat_cpu);
  return flat.as_strided(cpu.shape(), cpu.strides(), cpu.offset());
}

Tensor rnd(const Shape& s, DType t = DType::f32) { return Tensor::randn(s, gen, t); }

void expect_close(const Tensor& cpu, const Tensor& gpu, double tol, const char* what) {
  const Tensor g = to_cpu(gpu).to(DType::f64);
  const Tensor c = cpu.contiguous().to(DType::f64);
  REQUIRE(c.shape() == g.shape());
  const std::vector<double> a = c.to_vector<double>(), b = g.to_vector<double>();
  double scale = 1.0;
  for (double v : a) scale = std::max(scale, std::abs(v));
  std::size_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
    if (!both_nan && !(std::abs(a[i] - b[i]) <= tol * scale)) ++bad;
  }
  INFO(what);
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("cuda: a cuda device without a GPU is a clear contra::Error") {
  if (cuda_available()) return;
  CHECK_THROWS_AS(backend_for(Device::cuda(0)), Error);
  CHECK_THROWS_AS(Tensor::empty({2}, DType::f32, Device::cuda(0)), Error);
}

TEST_CASE("cuda: copies, fill, unary, binary, where against the CPU") {
  if (!have_gpu()) return;
  Backend& cpu = backend_for(Device::cpu());
  Backend& gpu = backend_for(kGpu);
  for (DType t : {DType::f32, DType::f64}) {
    const Tensor x = rnd({5, 7, 3}, t);
    const Tensor gx = to_gpu(x);
    expect_close(x, gx, 0, "round trip");
    // strided and broadcast copy with conversion
    const Tensor xt = x.as_strided({7, 5}, {3, 21}, 1);
    Tensor out_c = Tensor::empty({4, 7, 5}, DType::f64), out_g = Tensor::empty({4, 7, 5}, DType::f64, kGpu);
    cpu.copy(xt, out_c);
    gpu.copy(gpu_view_like(xt), out_g);
    expect_close(out_c, out_g, 0, "strided broadcast copy");
    gpu.fill(out_g, 2.5);
    cpu.fill(out_c, 2.5);
    expect_close(out_c, out_g, 0, "fill");
    for (int op = 0; op <= static_cast<int>(UnaryOp::affine); ++op) {
      const UnaryParams p{0.5, 1.5};
      Tensor ax = x;
      if (op == static_cast<int>(UnaryOp::log) || op == static_cast<int>(UnaryOp::sqrt) ||
          op == static_cast<int>(UnaryOp::pow_scalar)) {
        ax = Tensor::empty(x.shape(), t);
        cpu.unary(UnaryOp::abs, x, ax, {});
      }
      Tensor oc = Tensor::empty(x.shape(), t), og = Tensor::empty(x.shape(), t, kGpu);
      cpu.unary(static_cast<UnaryOp>(op), ax, oc, p);
      gpu.unary(static_cast<UnaryOp>(op), to_gpu(ax), og, p);
      expect_close(oc, og, t == DType::f32 ? 1e-6 : 1e-12, unary_name(static_cast<UnaryOp>(op)));
    }
    const Tensor b = rnd({7, 1}, t);
    for (int op = 0; op <= static_cast<int>(BinaryOp::le); ++op) {
      if (op == static_cast<int>(BinaryOp::pow)) continue;
      Tensor oc = Tensor::empty(x.shape(), t), og = Tensor::empty(x.shape(), t, kGpu);
      cpu.binary(static_cast<BinaryOp>(op), x, b, oc);
      gpu.binary(static_cast<BinaryOp>(op), gx, to_gpu(b), og);
      expect_close(oc, og, t == DType::f32 ? 1e-6 : 1e-12, binary_name(static_cast<BinaryOp>(op)));
    }
    Tensor cond = Tensor::empty(x.shape(), t);
    cpu.binary(BinaryOp::gt, x, b, cond);
    Tensor wc = Tensor::empty(x.shape(), t), wg = Tensor::empty(x.shape(), t, kGpu);
    cpu.where(cond, x, b, wc);
    gpu.where(to_gpu(cond), gx, to_gpu(b), wg);
    expect_close(wc, wg, 0, "where");
  }
}

TEST_CASE("cuda: reduce, count_non_finite, softmax, matmul against the CPU") {
  if (!have_gpu()) return;
  Backend& cpu = backend_for(Device::cpu());
  Backend& gpu = backend_for(kGpu);
  for (DType t : {DType::f32, DType::f64}) {
    const double tol = t == DType::f32 ? 1e-4 : 1e-10;
    const Tensor x = rnd({6, 300, 5}, t);
    const Tensor gx = to_gpu(x);
    for (const Shape& os : {Shape{1, 1, 1}, Shape{6, 1, 5}, Shape{1, 300, 1}, Shape{6, 300, 1}, Shape{6, 300, 5}})
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
        Tensor oc = Tensor::empty(os, t), og = Tensor::empty(os, t, kGpu);
        cpu.reduce(op, x, oc);
        gpu.reduce(op, gx, og);
        expect_close(oc, og, tol, "reduce");
      }
    Tensor y = x.clone();
    y.set_at({1, 2, 3}, std::nan(""));
    y.set_at({2, 2, 3}, INFINITY);
    CHECK(gpu.count_non_finite({to_gpu(y), gx, Tensor()}) == 2);
    for (bool log : {false, true}) {
      Tensor oc = Tensor::empty(x.shape(), t), og = Tensor::empty(x.shape(), t, kGpu);
      cpu.softmax(x, oc, log);
      gpu.softmax(gx, og, log);
      expect_close(oc, og, tol, "softmax");
    }
    const Tensor a = rnd({3, 17, 33}, t), bm = rnd({3, 33, 9}, t);
    const Tensor at = rnd({3, 33, 17}, t).as_strided({3, 17, 33}, {561, 1, 17}, 0);  // a transposed view
    for (const Tensor* lhs : {&a, &at}) {
      Tensor oc = Tensor::zeros({3, 17, 9}, t), og = Tensor::zeros({3, 17, 9}, t, kGpu);
      cpu.matmul(*lhs, bm, oc, 1.0, 0.0);
      gpu.matmul(gpu_view_like(*lhs), to_gpu(bm), og, 1.0, 0.0);
      expect_close(oc, og, tol, "matmul");
      cpu.matmul(*lhs, bm, oc, 0.5, 1.0);
      gpu.matmul(gpu_view_like(*lhs), to_gpu(bm), og, 0.5, 1.0);
      expect_close(oc, og, tol, "matmul alpha beta");
    }
  }
}

TEST_CASE("cuda: index ops against the CPU") {
  if (!have_gpu()) return;
  Backend& cpu = backend_for(Device::cpu());
  Backend& gpu = backend_for(kGpu);
  const Tensor x = rnd({4, 6, 3});
  const Tensor idx = Tensor::from_vector<std::int64_t>({5, 0, 0, 2}, {4});
  Tensor oc = Tensor::empty({4, 4, 3}), og = Tensor::empty({4, 4, 3}, DType::f32, kGpu);
  cpu.index_select(x, 1, idx, oc);
  gpu.index_select(to_gpu(x), 1, to_gpu(idx), og);
  expect_close(oc, og, 0, "index_select");
  Tensor ac = x.clone(), ag = to_gpu(x);
  cpu.index_add(ac, 1, idx, oc);
  gpu.index_add(ag, 1, to_gpu(idx), og);
  expect_close(ac, ag, 1e-6, "index_add");
  const Tensor gi = Tensor::from_vector<std::int64_t>({0, 2, 1, 1, 2, 0, 0, 0}, {4, 2});
  const Tensor m = rnd({4, 3});
  Tensor gc = Tensor::empty({4, 2}), gg = Tensor::empty({4, 2}, DType::f32, kGpu);
  cpu.gather(m, 1, gi, gc);
  gpu.gather(to_gpu(m), 1, to_gpu(gi), gg);
  expect_close(gc, gg, 0, "gather");
  Tensor sc = Tensor::zeros({4, 3}), sg = Tensor::zeros({4, 3}, DType::f32, kGpu);
  cpu.scatter_add(sc, 1, gi, gc);
  gpu.scatter_add(sg, 1, to_gpu(gi), gg);
  expect_close(sc, sg, 1e-6, "scatter_add");
  const Tensor bad = Tensor::from_vector<std::int64_t>({9}, {1});
  Tensor o1 = Tensor::empty({4, 1, 3}, DType::f32, kGpu);
  gpu.index_select(to_gpu(x), 1, to_gpu(bad), o1);
  CHECK_THROWS_AS(to_cpu(o1), Error);
}

TEST_CASE("cuda: conv2d, batch norm and pooling against the CPU") {
  if (!have_gpu()) return;
  Backend& cpu = backend_for(Device::cpu());
  Backend& gpu = backend_for(kGpu);
  for (DType t : {DType::f32, DType::f64}) {
    const double tol = t == DType::f32 ? 1e-4 : 1e-9;
    const Conv2dParams p{2, 1, 1, 1, 1, 1, 1};
    const Tensor x = rnd({2, 4, 9, 8}, t), w = rnd({6, 4, 3, 3}, t), b = rnd({6}, t);
    const Shape ys{2, 6, 5, 8};
    Tensor yc = Tensor::empty(ys, t), yg = Tensor::empty(ys, t, kGpu);
    cpu.conv2d_forward(x, w, b, yc, p);
    gpu.conv2d_forward(to_gpu(x), to_gpu(w), to_gpu(b), yg, p);
    expect_close(yc, yg, tol, "conv2d_forward");
    const Tensor dy = rnd(ys, t);
    Tensor dxc = Tensor::empty(x.shape(), t), dxg = Tensor::empty(x.shape(), t, kGpu);
    Tensor dwc = Tensor::empty(w.shape(), t), dwg = Tensor::empty(w.shape(), t, kGpu);
    Tensor dbc = Tensor::empty({6}, t), dbg = Tensor::empty({6}, t, kGpu);
    cpu.conv2d_backward(dy, x, w, dxc, dwc, dbc, p);
    gpu.conv2d_backward(to_gpu(dy), to_gpu(x), to_gpu(w), dxg, dwg, dbg, p);
    expect_close(dxc, dxg, tol, "conv2d_backward_data");
    expect_close(dwc, dwg, tol, "conv2d_backward_weight");
    expect_close(dbc, dbg, tol, "conv2d bias grad");

    const Tensor gamma = rnd({4}, t), beta = rnd({4}, t);
    Tensor bc = Tensor::empty(x.shape(), t), bg = Tensor::empty(x.shape(), t, kGpu);
    Tensor mc = Tensor::empty({4}, t), mg = Tensor::empty({4}, t, kGpu);
    Tensor vc = Tensor::empty({4}, t), vg = Tensor::empty({4}, t, kGpu);
    cpu.batch_norm_forward_training(x, gamma, beta, 1e-5, bc, mc, vc);
    gpu.batch_norm_forward_training(to_gpu(x), to_gpu(gamma), to_gpu(beta), 1e-5, bg, mg, vg);
    expect_close(bc, bg, tol, "bn forward");
    expect_close(vc, vg, tol, "bn var");
    cpu.batch_norm_forward_inference(x, gamma, beta, mc, vc, 1e-5, bc);
    gpu.batch_norm_forward_inference(to_gpu(x), to_gpu(gamma), to_gpu(beta), mg, vg, 1e-5, bg);
    expect_close(bc, bg, tol, "bn inference");
    const Tensor dyb = rnd(x.shape(), t);
    for (bool stats : {true, false}) {
      Tensor dgc = Tensor::empty({4}, t), dgg = Tensor::empty({4}, t, kGpu);
      Tensor dbc2 = Tensor::empty({4}, t), dbg2 = Tensor::empty({4}, t, kGpu);
      cpu.batch_norm_backward(dyb, x, gamma, mc, vc, 1e-5, stats, dxc, dgc, dbc2);
      gpu.batch_norm_backward(to_gpu(dyb), to_gpu(x), to_gpu(gamma), mg, vg, 1e-5, stats, dxg, dgg, dbg2);
      expect_close(dxc, dxg, tol, "bn backward dx");
      expect_close(dgc, dgg, tol, "bn backward dweight");
      expect_close(dbc2, dbg2, tol, "bn backward dbias");
    }

    const Pool2dParams pp{3, 3, 2, 2, 1, 1};
    const Shape ps{2, 4, 5, 4};
    Tensor pc = Tensor::empty(ps, t), pg = Tensor::empty(ps, t, kGpu);
    const Tensor wsc = cpu.max_pool2d_forward(x, pc, pp);
    const Tensor wsg = gpu.max_pool2d_forward(to_gpu(x), pg, pp);
    expect_close(pc, pg, 0, "max_pool2d_forward");
    const Tensor dp = rnd(ps, t);
    cpu.max_pool2d_backward(dp, wsc, dxc, pp);
    gpu.max_pool2d_backward(to_gpu(dp), wsg, dxg, pp);
    expect_close(dxc, dxg, tol, "max_pool2d_backward");
    const Shape as{2, 4, 2, 3};
    Tensor qc = Tensor::empty(as, t), qg = Tensor::empty(as, t, kGpu);
    cpu.adaptive_avg_pool2d_forward(x, qc);
    gpu.adaptive_avg_pool2d_forward(to_gpu(x), qg);
    expect_close(qc, qg, tol, "adaptive_avg_pool2d_forward");
    const Tensor dq = rnd(as, t);
    cpu.adaptive_avg_pool2d_backward(dq, dxc);
    gpu.adaptive_avg_pool2d_backward(to_gpu(dq), dxg);
    expect_close(dxc, dxg, tol, "adaptive_avg_pool2d_backward");
  }
}
