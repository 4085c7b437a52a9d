// Double-precision finite-difference gradient checks (reference kernels, forced by
// gradcheck) of conv2d over a sweep of stride, padding, dilation, groups, batch 1, odd
// sizes, with and without bias; batch_norm in training and eval, 2-D and 4-D, with and
// without affine parameters; max_pool2d; adaptive_avg_pool2d; linear; and a whole ResNet
// BasicBlock (conv-bn-relu-conv-bn + projection shortcut, relu) composed from these ops.
// Tolerance: |analytic − numeric| ≤ 1e-7 + 1e-5·|numeric| (gradcheck's defaults), ε = 1e-6.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "autograd/gradcheck.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

Generator gen(31337);

Tensor randn(Shape s, double scale = 1.0, bool requires_grad = true) {
  Tensor t = Tensor::randn(s, gen, DType::f64);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] *= scale;
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

// Distinct values 0.05 apart in random order: no ties inside a pooling window, and the
// finite-difference step never changes the argmax.
Tensor distinct(Shape s) {
  Tensor t = Tensor::empty(s, DType::f64);
  std::vector<std::int64_t> order(static_cast<size_t>(t.numel()));
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  double* p = t.data<double>();
  for (size_t i = 0; i < order.size(); ++i) p[i] = 0.05 * static_cast<double>(order[i]) - 1.0;
  t.set_requires_grad(true);
  return t;
}

double worst_rel = 0.0;  // over every check in this file, printed at the end of each case

void check(const std::string& name, const GradcheckFn& f, const std::vector<Tensor>& inputs,
           GradcheckOptions opt = {}) {
  const GradcheckResult r = gradcheck(f, inputs, opt);
  INFO(name, ": ", r.message);
  CHECK(r.ok);
  worst_rel = std::max(worst_rel, r.max_rel_error);
  std::printf("gradcheck %-44s %-18s entries %6lld  max rel err %.3e\n", name.c_str(), r.mode.c_str(),
              static_cast<long long>(r.checked), r.max_rel_error);
}

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

Conv2dParams cp(std::int64_t sh, std::int64_t sw, std::int64_t ph, std::int64_t pw, std::int64_t dh = 1,
                std::int64_t dw = 1, std::int64_t g = 1) {
  return Conv2dParams{sh, sw, ph, pw, dh, dw, g};
}

}  // namespace

TEST_CASE("gradcheck: conv2d sweep") {
  const std::vector<ConvCase> cases = {
      {"3x3 s1 p1 bias", {2, 3, 5, 6}, {4, 3, 3, 3}, cp(1, 1, 1, 1), true},
      {"3x3 s2 p0 odd 7x9 no bias", {2, 2, 7, 9}, {3, 2, 3, 3}, cp(2, 2, 0, 0), false},
      {"3x3 s3 p1 (floor drops a row)", {1, 2, 8, 7}, {2, 2, 3, 3}, cp(3, 3, 1, 1), true},
      {"dilation 2 p2", {2, 2, 7, 6}, {3, 2, 3, 3}, cp(1, 1, 2, 2, 2, 2), true},
      {"dilation (2,1) stride (1,2)", {1, 3, 7, 7}, {2, 3, 3, 2}, cp(1, 2, 1, 0, 2, 1), false},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, cp(1, 1, 1, 1, 1, 1, 2), true},
      {"depthwise groups 3", {2, 3, 6, 5}, {3, 1, 3, 3}, cp(2, 1, 1, 1, 1, 1, 3), false},
      {"batch 1, 1x1 s2 downsample", {1, 4, 6, 6}, {5, 4, 1, 1}, cp(2, 2, 0, 0), false},
      {"asymmetric 2x3 kernel, pad (1,0)", {2, 2, 5, 6}, {3, 2, 2, 3}, cp(2, 1, 1, 0), true},
      {"7x7 s2 p3 stem-like", {1, 1, 9, 9}, {2, 1, 7, 7}, cp(2, 2, 3, 3), true},
  };
  worst_rel = 0;
  for (const auto& c : cases) {
    std::vector<Tensor> in{randn(c.x), randn(c.w, 0.5)};
    if (c.bias) in.push_back(randn({c.w[0]}));
    const Conv2dParams p = c.p;
    const bool bias = c.bias;
    check(std::string("conv2d ") + c.name,
          [p, bias](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], bias ? v[2] : Tensor(), p); }, in);
  }
  std::printf("gradcheck conv2d worst relative error %.3e\n", worst_rel);
}

TEST_CASE("gradcheck: batch_norm train and eval, 2-D and 4-D") {
  worst_rel = 0;
  for (bool training : {true, false}) {
    for (Shape s : {Shape{5, 3}, Shape{3, 2, 3, 4}, Shape{1, 3, 2, 3}}) {
      for (bool affine : {true, false}) {
        const std::int64_t C = s[1];
        std::vector<Tensor> in{randn(s, 1.5)};
        if (affine) {
          in.push_back(randn({C}));
          in.push_back(randn({C}));
        }
        // Running statistics: constants (not checked); in training they are updated in
        // place on every call, which must not affect the output.
        const Tensor rm = randn({C}, 0.3, false);
        Tensor rv = randn({C}, 0.3, false);
        rv = (abs(rv) + 0.5).detach();
        const std::string name = std::string("batch_norm ") + (training ? "train " : "eval ") + shape_str(s) +
                                 (affine ? " affine" : "");
        check(name,
              [=](const std::vector<Tensor>& v) {
                return batch_norm(v[0], affine ? v[1] : Tensor(), affine ? v[2] : Tensor(), rm, rv, training, 0.1,
                                  1e-5);
              },
              in);
      }
    }
  }
  // Weight without bias and no running statistics (batch statistics in eval too).
  check("batch_norm eval without running stats",
        [](const std::vector<Tensor>& v) { return batch_norm(v[0], v[1], Tensor(), Tensor(), Tensor(), false); },
        {randn({4, 2, 2, 2}), randn({2})});
  std::printf("gradcheck batch_norm worst relative error %.3e\n", worst_rel);
}

TEST_CASE("gradcheck: pooling") {
  worst_rel = 0;
  const std::vector<std::pair<Shape, Pool2dParams>> maxes = {
      {{2, 2, 4, 4}, {2, 2, 2, 2}},
      {{1, 2, 7, 6}, {3, 3, 2, 2, 1, 1}},  // ResNet stem pool, odd sizes
      {{2, 1, 5, 7}, {3, 2, 1, 2, 1, 0}},  // overlapping windows, asymmetric
  };
  for (const auto& [s, p] : maxes) {
    const Pool2dParams pp = p;
    check("max_pool2d " + shape_str(s), [pp](const std::vector<Tensor>& v) { return max_pool2d(v[0], pp); },
          {distinct(s)});
  }
  for (auto [s, oh, ow] : {std::tuple{Shape{2, 3, 4, 4}, 1, 1}, std::tuple{Shape{1, 2, 5, 7}, 3, 4},
                           std::tuple{Shape{2, 2, 6, 4}, 3, 2}, std::tuple{Shape{1, 1, 3, 3}, 5, 4}}) {
    const std::int64_t h = oh, w = ow;
    check("adaptive_avg_pool2d " + shape_str(s) + " → " + std::to_string(h) + "x" + std::to_string(w),
          [h, w](const std::vector<Tensor>& v) { return adaptive_avg_pool2d(v[0], h, w); }, {randn(s)});
  }
  std::printf("gradcheck pooling worst relative error %.3e\n", worst_rel);
}

TEST_CASE("gradcheck: linear") {
  worst_rel = 0;
  check("linear with bias", [](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
        {randn({4, 5}), randn({3, 5}), randn({3})});
  check("linear batch 1 no bias", [](const std::vector<Tensor>& v) { return linear(v[0], v[1], Tensor()); },
        {randn({1, 6}), randn({4, 6})});
  check("linear on a transposed view",
        [](const std::vector<Tensor>& v) { return linear(transpose(v[0], 0, 1), v[1], v[2]); },
        {randn({5, 3}), randn({2, 5}), randn({2})});
  std::printf("gradcheck linear worst relative error %.3e\n", worst_rel);
}

TEST_CASE("gradcheck: ResNet BasicBlock with projection shortcut") {
  // out = relu(bn2(conv2(relu(bn1(conv1(x))))) + bn_d(conv_d(x)))
  // conv1 3×3 stride 2 (C → D), conv2 3×3 (D → D), shortcut 1×1 stride 2 (C → D).
  const std::int64_t C = 2, D = 3;
  const Tensor rm = Tensor::zeros({D}, DType::f64), rv = Tensor::ones({D}, DType::f64);
  auto block = [=](const std::vector<Tensor>& v, bool training) {
    const Tensor &x = v[0], &w1 = v[1], &g1 = v[2], &b1 = v[3], &w2 = v[4], &g2 = v[5], &b2 = v[6], &wd = v[7],
                 &gd = v[8], &bd = v[9];
    Tensor h = conv2d(x, w1, Tensor(), cp(2, 2, 1, 1));
    h = relu(batch_norm(h, g1, b1, rm, rv, training));
    h = batch_norm(conv2d(h, w2, Tensor(), cp(1, 1, 1, 1)), g2, b2, rm, rv, training);
    const Tensor shortcut = batch_norm(conv2d(x, wd, Tensor(), cp(2, 2, 0, 0)), gd, bd, rm, rv, training);
    return relu(h + shortcut);
  };
  std::vector<Tensor> in{randn({2, C, 6, 5}), randn({D, C, 3, 3}, 0.5), randn({D}), randn({D}),
                         randn({D, D, 3, 3}, 0.5), randn({D}), randn({D}),  randn({D, C, 1, 1}),
                         randn({D}), randn({D})};
  worst_rel = 0;
  check("BasicBlock train", [&](const std::vector<Tensor>& v) { return block(v, true); }, in);
  check("BasicBlock eval", [&](const std::vector<Tensor>& v) { return block(v, false); }, in);
  std::printf("gradcheck BasicBlock worst relative error %.3e\n", worst_rel);
}

TEST_CASE("gradcheck: a tiny ResNet end to end (stem, max-pool, block, global pool, linear head)") {
  // logits = fc(avgpool(block(maxpool(relu(bn(conv7x7/2(x)))))))
  const std::int64_t D = 3;
  const Tensor rm = Tensor::zeros({D}, DType::f64), rv = Tensor::ones({D}, DType::f64);
  auto net = [=](const std::vector<Tensor>& v) {
    const Tensor &x = v[0], &w0 = v[1], &g0 = v[2], &b0 = v[3], &w1 = v[4], &w2 = v[5], &fw = v[6], &fb = v[7];
    Tensor h = relu(batch_norm(conv2d(x, w0, Tensor(), cp(2, 2, 3, 3)), g0, b0, rm, rv, true));
    h = max_pool2d(h, {3, 3, 2, 2, 1, 1});
    Tensor r = relu(batch_norm(conv2d(h, w1, Tensor(), cp(1, 1, 1, 1)), Tensor(), Tensor(), rm, rv, true));
    r = batch_norm(conv2d(r, w2, Tensor(), cp(1, 1, 1, 1)), Tensor(), Tensor(), rm, rv, true);
    h = relu(h + r);
    return linear(flatten(adaptive_avg_pool2d(h, 1, 1), 1), fw, fb);
  };
  worst_rel = 0;
  check("tiny ResNet", net,
        {randn({2, 1, 11, 10}), randn({D, 1, 7, 7}, 0.3), randn({D}), randn({D}), randn({D, D, 3, 3}, 0.5),
         randn({D, D, 3, 3}, 0.5), randn({4, D}), randn({4})});
  std::printf("gradcheck tiny ResNet worst relative error %.3e\n", worst_rel);
}
