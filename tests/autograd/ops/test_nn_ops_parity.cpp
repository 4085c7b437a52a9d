// Parity: oneDNN conv2d / batch_norm / max_pool2d / adaptive_avg_pool2d (f32) against the
// naive reference kernels (f32 in, double accumulation), forward and every backward output,
// every output pre-filled with NaN and with garbage before the kernels run (they must assign),
// over a sweep of shapes: stride, padding, dilation, groups, odd sizes, batch 1, channel
// counts that do and do not fill oneDNN's 8/16-channel blocks. Batch norm is checked for
// both fast implementations (own OpenMP kernels, the default, and oneDNN's).
//
// Error measure per output tensor: max |fast − ref| / max(max |ref|, 1e-3) (the error
// relative to the tensor's scale, so near-zero entries of a large tensor are not judged
// on their own). Tolerances, with the worst errors observed when they were set (each run
// prints its own):
//   conv2d forward and backward: 2e-5   (observed 5.4e-7)
//   batch_norm:                  2e-5   (observed 5.7e-6: oneDNN's dγ on the mean-100 case;
//                                        the OpenMP kernels stay below 1e-6)
//   pooling:                     1e-6   (observed 1.6e-7; max pooling is exact)
//   conv2d in bf16 precision:    y and dx: 2e-5 against the reference on bf16-rounded x, w,
//                                dy (a bf16 product is exact in f32, so only the summation
//                                order differs), and > 1e-4 against the unrounded reference
//                                (the rounding did happen); dw and db (computed in f32, see
//                                dnnl_conv.cpp): 2e-5 against the unrounded reference.
//                                Skipped on CPUs without AVX512-BF16/AMX.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "autograd/engine.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "tensor/cpu/caching_allocator.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

Generator gen(4242);

Tensor rnd(Shape s, double scale = 1.0) {
  Tensor t = Tensor::randn(s, gen, DType::f32);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] *= static_cast<float>(scale);
  return t;
}

// max |fast − ref| / max(max |ref|, 1e-3); infinite when fast holds a NaN that ref does not.
double scaled_error(const Tensor& ref, const Tensor& fast) {
  REQUIRE(ref.shape() == fast.shape());
  const auto a = ref.to_vector<double>(), b = fast.to_vector<double>();
  double mag = 1e-3, err = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    mag = std::max(mag, std::abs(a[i]));
    err = std::max(err, std::abs(a[i] - b[i]));
  }
  return err / mag;
}

double worst_seen = 0.0;

// Runs f (forward and its gradients, as a list of tensors) with the reference kernels (the
// clean result), then with the reference and the fast kernels while every freshly allocated
// output and gradient is pre-filled with NaN and then with large finite garbage (dlib-style:
// kernels assign their outputs, never accumulate into them), and compares each output. A NaN
// the clean result does not have is a failure.
void parity(const std::string& what, const std::function<std::vector<Tensor>()>& f, double tol) {
  std::vector<Tensor> ref;
  {
    ReferenceKernelsGuard g(true);
    ref = f();
  }
  static const char* names[] = {"forward", "output 1", "output 2", "output 3", "output 4", "output 5", "output 6"};
  for (bool reference : {true, false})
    for (cpu::Poison poison : {cpu::Poison::nan, cpu::Poison::garbage}) {
      std::vector<Tensor> out;
      {
        ReferenceKernelsGuard g(reference);
        cpu::PoisonAllocationsGuard p(poison);
        out = f();
      }
      REQUIRE(ref.size() == out.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        if (!ref[i].defined()) continue;
        const double e = scaled_error(ref[i], out[i]);
        if (!reference) worst_seen = std::max(worst_seen, e);
        INFO(what, " ", std::string(names[std::min<size_t>(i, 6)]), (reference ? " [reference, " : " [fast, "),
             cpu::poison_name(poison), "] shape ", shape_str(ref[i].shape()), " scaled error ", e);
        CHECK(e <= tol);
      }
    }
}

// Forward output followed by the gradients w.r.t. `inputs` for a random output gradient.
std::vector<Tensor> with_grads(const Tensor& y, const std::vector<Tensor>& inputs, const Tensor& dy) {
  std::vector<Tensor> out{y.detach().clone()};
  std::vector<Tensor> wrt;
  for (const auto& t : inputs)
    if (t.defined()) wrt.push_back(t);
  for (auto& g : grad(y, wrt, dy)) out.push_back(g);
  return out;
}

Tensor leaf(const Tensor& t) {
  Tensor c = t.clone();
  c.set_requires_grad(true);
  return c;
}

// x rounded to the nearest bfloat16 (ties to even), kept in f32: the value a bf16 kernel reads.
Tensor round_to_bf16(const Tensor& t) {
  Tensor r = t.clone();
  float* p = r.data<float>();
  for (std::int64_t i = 0; i < r.numel(); ++i) {
    std::uint32_t u;
    std::memcpy(&u, &p[i], 4);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(&p[i], &u, 4);
  }
  return r;
}

struct ConvCase {
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

}  // namespace

TEST_CASE("parity: conv2d forward, backward data, backward weights and bias") {
  const std::vector<ConvCase> cases = {
      {{2, 16, 8, 8}, {32, 16, 3, 3}, {1, 1, 1, 1}, false},        // blocked channels, ResNet 3×3
      {{2, 16, 9, 9}, {32, 16, 3, 3}, {2, 2, 1, 1}, false},        // stride 2, odd size
      {{2, 16, 8, 8}, {32, 16, 1, 1}, {2, 2, 0, 0}, false},        // 1×1 stride-2 downsample
      {{1, 3, 11, 13}, {16, 3, 3, 3}, {1, 1, 1, 1}, true},         // first layer (3 channels), batch 1
      {{2, 3, 15, 15}, {8, 3, 7, 7}, {2, 2, 3, 3}, false},         // ImageNet stem, odd size
      {{3, 5, 7, 6}, {7, 5, 3, 2}, {1, 2, 2, 0}, true},            // odd channels, asymmetric kernel
      {{2, 8, 9, 9}, {8, 8, 3, 3}, {1, 1, 2, 2, 2, 2}, false},     // dilation 2
      {{2, 8, 8, 8}, {12, 4, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},  // groups 2
      {{2, 16, 7, 7}, {16, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 16}, false},  // depthwise
      {{1, 4, 8, 7}, {6, 4, 3, 3}, {3, 3, 1, 1}, true},            // stride 3, floor drops a row
  };
  worst_seen = 0;
  for (const auto& c : cases) {
    const Tensor x = rnd(c.x), w = rnd(c.w, 0.3), b = c.bias ? rnd({c.w[0]}) : Tensor();
    Tensor probe = conv2d(x, w, b, c.p);
    const Tensor dy = rnd(probe.shape());
    const Conv2dParams p = c.p;
    parity("conv2d x " + shape_str(c.x) + " w " + shape_str(c.w),
           [&] {
             const Tensor xl = leaf(x), wl = leaf(w), bl = b.defined() ? leaf(b) : Tensor();
             return with_grads(conv2d(xl, wl, bl, p), {xl, wl, bl}, dy);
           },
           2e-5);
  }
  std::printf("parity conv2d worst scaled error %.3e (tolerance 2e-5)\n", worst_seen);
}

TEST_CASE("parity: conv2d in bf16 precision: y and dx equal f32 on bf16-rounded inputs, dw and db stay f32") {
  if (!bf16_supported()) {
    MESSAGE("SKIPPED: this CPU has neither AVX512-BF16 nor AMX-BF16; set_conv_precision(bf16) must refuse");
    CHECK_THROWS_WITH_AS(set_conv_precision(ConvPrecision::bf16), doctest::Contains("AVX512-BF16"), Error);
    return;
  }
  const std::vector<ConvCase> cases = {
      {{2, 16, 8, 8}, {32, 16, 3, 3}, {1, 1, 1, 1}, false},     // blocked channels, ResNet 3×3
      {{2, 16, 9, 9}, {32, 16, 3, 3}, {2, 2, 1, 1}, true},      // stride 2, odd size, bias
      {{2, 64, 8, 8}, {64, 64, 3, 3}, {1, 1, 1, 1}, false},     // a ResNet-18 stage-1 layer
      {{1, 3, 11, 13}, {16, 3, 3, 3}, {1, 1, 1, 1}, true},      // first layer (3 channels, plain layout)
      {{2, 8, 8, 8}, {12, 4, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},  // groups 2
  };
  double worst_rounded = 0, least_unrounded = INFINITY, worst_f32 = 0;
  for (const auto& c : cases) {
    const Tensor x = rnd(c.x), w = rnd(c.w, 0.3), b = c.bias ? rnd({c.w[0]}) : Tensor();
    const Tensor dy = rnd(conv2d(x, w, b, c.p).shape());
    const auto run = [&](const Tensor& xv, const Tensor& wv, const Tensor& dyv) {
      const Tensor xl = leaf(xv), wl = leaf(wv), bl = b.defined() ? leaf(b) : Tensor();
      return with_grads(conv2d(xl, wl, bl, c.p), {xl, wl, bl}, dyv);
    };
    std::vector<Tensor> exact, rounded, fast;
    {
      ReferenceKernelsGuard g(true);
      exact = run(x, w, dy);
      rounded = run(round_to_bf16(x), round_to_bf16(w), round_to_bf16(dy));
    }
    {
      ConvPrecisionGuard g(ConvPrecision::bf16);
      fast = run(x, w, dy);
    }
    REQUIRE(fast.size() == rounded.size());
    for (size_t i = 0; i < fast.size(); ++i) {  // outputs: y, dx, dw, db
      const double e_rounded = scaled_error(rounded[i], fast[i]), e_exact = scaled_error(exact[i], fast[i]);
      INFO("conv2d bf16 x ", shape_str(c.x), " w ", shape_str(c.w), " output ", i, ": vs rounded ", e_rounded,
           ", vs unrounded ", e_exact);
      if (i < 2) {  // y, dx: read in bf16
        CHECK(e_rounded <= 2e-5);
        CHECK(e_exact > 1e-4);
        worst_rounded = std::max(worst_rounded, e_rounded);
        least_unrounded = std::min(least_unrounded, e_exact);
      } else {  // dw, db: f32
        CHECK(e_exact <= 2e-5);
        worst_f32 = std::max(worst_f32, e_exact);
      }
    }
  }
  CHECK(conv_precision() == ConvPrecision::f32);  // the guard restored it
  std::printf("parity conv2d bf16: y, dx worst error vs bf16-rounded reference %.3e (tolerance 2e-5), "
              "least vs unrounded %.3e (must exceed 1e-4); dw, db worst vs f32 reference %.3e\n",
              worst_rounded, least_unrounded, worst_f32);
}

TEST_CASE("parity: batch_norm training and eval, forward and backward, both fast implementations") {
  worst_seen = 0;
  const cpu::BatchNormImpl saved = cpu::batch_norm_impl();
  for (cpu::BatchNormImpl impl : {cpu::BatchNormImpl::openmp, cpu::BatchNormImpl::onednn}) {
  cpu::set_batch_norm_impl(impl);
  const char* impl_name = impl == cpu::BatchNormImpl::openmp ? "[openmp] " : "[onednn] ";
  for (Shape s : {Shape{4, 16, 8, 8}, Shape{2, 3, 5, 7}, Shape{1, 8, 3, 3}, Shape{16, 32}, Shape{5, 3},
                  Shape{3, 4, 17, 19}}) {
    const std::int64_t C = s[1];
    // The last shape sits far from zero (mean 100, std 2): the one-pass statistics must not
    // lose the variance to cancellation.
    const Tensor x = rnd(s, 2.0) + (s == Shape{3, 4, 17, 19} ? 100.0 : 0.5);
    const Tensor dy = rnd(s);
    const Tensor gamma = rnd({C}), beta = rnd({C});
    const Tensor rm = rnd({C}, 0.2), rv = (abs(rnd({C})) + 0.5).detach();
    for (bool training : {true, false}) {
      for (bool affine : {true, false}) {
        const std::string name = std::string("batch_norm ") + impl_name + (training ? "train " : "eval ") +
                                 shape_str(s) + (affine ? " affine" : "");
        parity(name,
               [&] {
                 const Tensor xl = leaf(x), gl = affine ? leaf(gamma) : Tensor(), bl = affine ? leaf(beta) : Tensor();
                 const Tensor m = rm.clone(), v = rv.clone();
                 std::vector<Tensor> out = with_grads(batch_norm(xl, gl, bl, m, v, training), {xl, gl, bl}, dy);
                 out.push_back(m);  // running statistics after the update
                 out.push_back(v);
                 return out;
               },
               2e-5);
      }
    }
  }
  }
  cpu::set_batch_norm_impl(saved);
  std::printf("parity batch_norm worst scaled error %.3e (tolerance 2e-5)\n", worst_seen);
}

TEST_CASE("parity: max_pool2d and adaptive_avg_pool2d") {
  worst_seen = 0;
  const std::vector<std::pair<Shape, Pool2dParams>> maxes = {
      {{2, 16, 16, 16}, {3, 3, 2, 2, 1, 1}},  // ResNet stem pool
      {{1, 3, 7, 9}, {2, 2, 2, 2}},           // odd sizes, batch 1
      {{2, 5, 9, 8}, {3, 2, 1, 2, 1, 1}},     // overlapping, asymmetric
      {{2, 4, 6, 6}, {4, 4, 3, 3, 2, 2}},
  };
  for (const auto& [s, p] : maxes) {
    const Tensor x = rnd(s);
    const Pool2dParams pp = p;
    const Tensor dy = rnd(max_pool2d(x, pp).shape());
    parity("max_pool2d " + shape_str(s),
           [&] {
             const Tensor xl = leaf(x);
             return with_grads(max_pool2d(xl, pp), {xl}, dy);
           },
           1e-6);
  }
  for (auto [s, oh, ow] : {std::tuple{Shape{4, 64, 4, 4}, 1, 1}, std::tuple{Shape{2, 16, 8, 6}, 2, 3},
                           std::tuple{Shape{1, 3, 7, 9}, 1, 1}, std::tuple{Shape{2, 5, 7, 9}, 3, 4}}) {
    const Tensor x = rnd(s);
    const std::int64_t h = oh, w = ow;
    const Tensor dy = rnd({s[0], s[1], h, w});
    parity("adaptive_avg_pool2d " + shape_str(s),
           [&] {
             const Tensor xl = leaf(x);
             return with_grads(adaptive_avg_pool2d(xl, h, w), {xl}, dy);
           },
           1e-6);
  }
  std::printf("parity pooling worst scaled error %.3e (tolerance 1e-6)\n", worst_seen);
}
