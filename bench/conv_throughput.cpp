// conv_throughput — forward + backward of the engine's conv2d op (autograd recording,
// allocation, plan-cache lookup, layout reorders, backward through the engine) against
// calling oneDNN 2.6 directly on the same shapes (primitives, reorders and every buffer
// created once up front: the least a hand-written oneDNN program has to do), with the same
// layout choice as the engine (format_tag::any, plain nchw activations below 8 channels).
//
// One iteration = forward, backward-data and backward-weights for a random output gradient.
// Contenders alternate A B A B …; each pair gives a ratio engine/direct and the median
// of the pairwise ratios is reported (the host time-slices its vCPUs, so single timings
// drift). Shapes: the ResNet-18 CIFAR-stem convolutions at batch 128 (3×3 stride 1 at
// 64ch 32×32, 128ch 16×16, 256ch 8×8, 512ch 4×4; the stride-2 3×3 and 1×1 downsample
// convolutions entering each stage; the 3-channel stem).
// FLOPs per iteration = 3 · 2·N·O·H'·W'·(C/G)·kH·kW (forward, backward data, backward weights).
//
//   bench_conv_throughput [--threads T] [--reps P] [--batch N] [--only NAME-SUBSTRING] [--winograd]
//
// --winograd instead alternates oneDNN's direct and Winograd F(4×4, 3×3) programs (both as
// above, all built once) on the 3×3 stride-1 shapes of ResNet-18 at widths 1, 1/2 and 1/8
// (16 to 512 channels) and prints Winograd's speed-up per shape: the measurement behind
// the engine's choice (dnnl_conv.cpp: Winograd from 32 channels, --conv-algorithm winograd).
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "autograd/engine.h"
#include "autograd/nn_ops.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::bench;
using dnnl::memory;
using tag = memory::format_tag;

namespace {

struct ConvShape {
  const char* name;
  std::int64_t C, H, O, k, stride, pad;
};

// The direct oneDNN program: plain user buffers (nchw / oihw), primitives choosing their
// layouts (format_tag::any), a reorder wherever the chosen layout differs, all built once.
// Buffers hold fixed pseudo-random values (the values do not change the timing).
class DirectConv {
 public:
  DirectConv(dnnl::engine& eng, std::int64_t N, const ConvShape& s, std::int64_t Ho,
             dnnl::algorithm alg = dnnl::algorithm::convolution_direct)
      : eng_(eng), strm_(eng) {
    const memory::dims x_dims{N, s.C, s.H, s.H}, w_dims{s.O, s.C, s.k, s.k}, y_dims{N, s.O, Ho, Ho};
    const memory::dims strides{s.stride, s.stride}, dil{0, 0}, pad{s.pad, s.pad};
    const auto f32 = memory::data_type::f32;
    // Same layout rule as the engine (dnnl_conv.cpp): plain activations below 8 input channels.
    const tag act = s.C < 8 ? tag::nchw : tag::any;
    const memory::desc x_any(x_dims, f32, act), w_any(w_dims, f32, tag::any), y_any(y_dims, f32, act);
    x_user_ = memory({x_dims, f32, tag::nchw}, eng);
    w_user_ = memory({w_dims, f32, tag::oihw}, eng);
    dy_user_ = memory({y_dims, f32, tag::nchw}, eng);
    y_user_ = memory({y_dims, f32, tag::nchw}, eng);
    dx_user_ = memory({x_dims, f32, tag::nchw}, eng);
    dw_user_ = memory({w_dims, f32, tag::oihw}, eng);
    fill(x_user_, 1);
    fill(w_user_, 2);
    fill(dy_user_, 3);

    dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, alg, x_any, w_any, y_any, strides, dil,
                                       pad, pad);
    fwd_pd_ = dnnl::convolution_forward::primitive_desc(fd, eng);
    dnnl::convolution_backward_data::desc bdd(alg, x_any, w_any, y_any, strides, dil, pad, pad);
    bd_pd_ = dnnl::convolution_backward_data::primitive_desc(bdd, eng, fwd_pd_);
    dnnl::convolution_backward_weights::desc bwd(alg, x_any, w_any, y_any, strides, dil, pad, pad);
    bw_pd_ = dnnl::convolution_backward_weights::primitive_desc(bwd, eng, fwd_pd_);
    fwd_ = dnnl::convolution_forward(fwd_pd_);
    bd_ = dnnl::convolution_backward_data(bd_pd_);
    bw_ = dnnl::convolution_backward_weights(bw_pd_);

    x_fwd_ = in(x_user_, fwd_pd_.src_desc(), pre_fwd_);
    w_fwd_ = in(w_user_, fwd_pd_.weights_desc(), pre_fwd_);
    y_fwd_ = out(y_user_, fwd_pd_.dst_desc(), post_fwd_);
    dy_bd_ = in(dy_user_, bd_pd_.diff_dst_desc(), pre_bd_);
    w_bd_ = in(w_user_, bd_pd_.weights_desc(), pre_bd_);
    dx_bd_ = out(dx_user_, bd_pd_.diff_src_desc(), post_bd_);
    x_bw_ = in(x_user_, bw_pd_.src_desc(), pre_bw_);
    // dy is reordered once when both backward primitives want the same layout (as the engine).
    dy_bw_ = bw_pd_.diff_dst_desc() == bd_pd_.diff_dst_desc() ? dy_bd_ : in(dy_user_, bw_pd_.diff_dst_desc(), pre_bw_);
    dw_bw_ = out(dw_user_, bw_pd_.diff_weights_desc(), post_bw_);
  }

  void run() {
    for (auto& r : pre_fwd_) r.first.execute(strm_, r.second);
    fwd_.execute(strm_, {{DNNL_ARG_SRC, x_fwd_}, {DNNL_ARG_WEIGHTS, w_fwd_}, {DNNL_ARG_DST, y_fwd_}});
    for (auto& r : post_fwd_) r.first.execute(strm_, r.second);
    for (auto& r : pre_bd_) r.first.execute(strm_, r.second);
    bd_.execute(strm_, {{DNNL_ARG_DIFF_DST, dy_bd_}, {DNNL_ARG_WEIGHTS, w_bd_}, {DNNL_ARG_DIFF_SRC, dx_bd_}});
    for (auto& r : post_bd_) r.first.execute(strm_, r.second);
    for (auto& r : pre_bw_) r.first.execute(strm_, r.second);
    bw_.execute(strm_, {{DNNL_ARG_SRC, x_bw_}, {DNNL_ARG_DIFF_DST, dy_bw_}, {DNNL_ARG_DIFF_WEIGHTS, dw_bw_}});
    for (auto& r : post_bw_) r.first.execute(strm_, r.second);
    strm_.wait();
  }

  std::string kernels() const { return fwd_pd_.impl_info_str(); }

  std::string layouts() const {
    auto name = [](const memory::desc& md) {
      return md.data.format_kind == dnnl_blocked && md.data.format_desc.blocking.inner_nblks > 0 ? "blocked" : "plain";
    };
    return std::string("src ") + name(fwd_pd_.src_desc()) + ", weights " + name(fwd_pd_.weights_desc());
  }

 private:
  using Step = std::pair<dnnl::reorder, std::unordered_map<int, memory>>;

  static void fill(memory& m, unsigned seed) {
    float* p = static_cast<float*>(m.get_data_handle());
    const size_t n = m.get_desc().get_size() / sizeof(float);
    for (size_t i = 0; i < n; ++i) {
      seed = seed * 1664525u + 1013904223u;
      p[i] = static_cast<float>(seed >> 8) / static_cast<float>(1u << 24) - 0.5f;
    }
  }
  memory in(const memory& user, const memory::desc& want, std::vector<Step>& pre) {
    if (user.get_desc() == want) return user;
    memory m(want, eng_);
    pre.emplace_back(dnnl::reorder(user, m), std::unordered_map<int, memory>{{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}});
    return m;
  }
  memory out(const memory& user, const memory::desc& have, std::vector<Step>& post) {
    if (user.get_desc() == have) return user;
    memory m(have, eng_);
    post.emplace_back(dnnl::reorder(m, user), std::unordered_map<int, memory>{{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, user}});
    return m;
  }

  dnnl::engine& eng_;
  dnnl::stream strm_;
  memory x_user_, w_user_, dy_user_, y_user_, dx_user_, dw_user_;
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_backward_data::primitive_desc bd_pd_;
  dnnl::convolution_backward_weights::primitive_desc bw_pd_;
  dnnl::convolution_forward fwd_;
  dnnl::convolution_backward_data bd_;
  dnnl::convolution_backward_weights bw_;
  memory x_fwd_, w_fwd_, y_fwd_, dy_bd_, w_bd_, dx_bd_, x_bw_, dy_bw_, dw_bw_;
  std::vector<Step> pre_fwd_, post_fwd_, pre_bd_, post_bd_, pre_bw_, post_bw_;
};

}  // namespace

// Direct against Winograd, both plain oneDNN programs: time direct / time Winograd per shape.
int compare_algorithms(dnnl::engine& eng, std::int64_t N, int reps, const std::string& only) {
  const std::vector<ConvShape> shapes = {
      {"16→16 3x3 32²", 16, 32, 16, 3, 1, 1},  {"16→16 3x3 16²", 16, 16, 16, 3, 1, 1},
      {"32→32 3x3 32²", 32, 32, 32, 3, 1, 1},  {"32→32 3x3 8²", 32, 8, 32, 3, 1, 1},
      {"64→64 3x3 32²", 64, 32, 64, 3, 1, 1},  {"64→64 3x3 16²", 64, 16, 64, 3, 1, 1},
      {"64→64 3x3 4²", 64, 4, 64, 3, 1, 1},    {"128→128 3x3 16²", 128, 16, 128, 3, 1, 1},
      {"256→256 3x3 8²", 256, 8, 256, 3, 1, 1}, {"512→512 3x3 4²", 512, 4, 512, 3, 1, 1},
  };
  std::printf("conv2d forward+backward in oneDNN, direct against Winograd F(4x4,3x3), batch %lld, %d alternating "
              "pairs per shape\n", static_cast<long long>(N), reps);
  std::printf("%-18s %-28s %12s %12s %9s\n", "shape", "winograd kernel", "direct GF/s", "wino GF/s", "speed-up");
  for (const auto& s : shapes) {
    if (!only.empty() && std::string(s.name).find(only) == std::string::npos) continue;
    const double flops = 3.0 * 2.0 * N * s.O * s.H * s.H * s.C * s.k * s.k;  // direct's count, for both
    DirectConv direct(eng, N, s, s.H);
    std::unique_ptr<DirectConv> wino;
    try {
      wino = std::make_unique<DirectConv>(eng, N, s, s.H, dnnl::algorithm::convolution_winograd);
    } catch (const dnnl::error&) {
      std::printf("%-18s %-28s (oneDNN has no Winograd kernel for this shape on this CPU)\n", s.name, "-");
      continue;
    }
    direct.run();
    wino->run();
    std::vector<double> ratios, gd, gw;
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      direct.run();
      const double td = seconds_since(t0);
      t0 = Clock::now();
      wino->run();
      const double tw = seconds_since(t0);
      ratios.push_back(td / tw);
      gd.push_back(flops / td * 1e-9);
      gw.push_back(flops / tw * 1e-9);
    }
    std::printf("%-18s %-28s %12.1f %12.1f %9.2f\n", s.name, wino->kernels().c_str(), median(gd), median(gw),
                median(ratios));
    std::fflush(stdout);
  }
  std::printf("speed-up = direct time / Winograd time (median of A/B pairs); GF/s count direct's multiply-adds\n");
  return 0;
}

int main(int argc, char** argv) {
  int threads = 2, reps = 5;
  std::int64_t N = 128;
  std::string only;
  bool winograd = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--batch" && i + 1 < argc) N = std::atoll(argv[++i]);
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--winograd") winograd = true;
    else {
      std::fprintf(stderr, "usage: %s [--threads T] [--reps P] [--batch N] [--only NAME-SUBSTRING] [--winograd]\n",
                   argv[0]);
      return 2;
    }
  }
  set_num_threads(threads);
  bench::print_kernels();
  const std::vector<ConvShape> shapes = {
      {"stem 3→64 3x3 32²", 3, 32, 64, 3, 1, 1},
      {"l1 64→64 3x3 32²", 64, 32, 64, 3, 1, 1},
      {"l2.0 64→128 3x3/2", 64, 32, 128, 3, 2, 1},
      {"l2.ds 64→128 1x1/2", 64, 32, 128, 1, 2, 0},
      {"l2 128→128 3x3 16²", 128, 16, 128, 3, 1, 1},
      {"l3.0 128→256 3x3/2", 128, 16, 256, 3, 2, 1},
      {"l3.ds 128→256 1x1/2", 128, 16, 256, 1, 2, 0},
      {"l3 256→256 3x3 8²", 256, 8, 256, 3, 1, 1},
      {"l4.0 256→512 3x3/2", 256, 8, 512, 3, 2, 1},
      {"l4.ds 256→512 1x1/2", 256, 8, 512, 1, 2, 0},
      {"l4 512→512 3x3 4²", 512, 4, 512, 3, 1, 1},
  };
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  if (winograd) return compare_algorithms(eng, N, reps, only);
  Generator gen(7);
  std::printf("conv2d forward+backward, batch %lld, threads %d, %d alternating pairs per shape\n",
              static_cast<long long>(N), threads, reps);
  std::printf("%-22s %-28s %12s %12s %8s\n", "shape", "oneDNN layouts", "engine GF/s", "direct GF/s", "ratio");
  std::vector<double> all_ratios;
  double total_engine = 0, total_direct = 0, total_flops = 0;
  for (const auto& s : shapes) {
    if (!only.empty() && std::string(s.name).find(only) == std::string::npos) continue;
    const std::int64_t Ho = (s.H + 2 * s.pad - s.k) / s.stride + 1;
    const double flops = 3.0 * 2.0 * N * s.O * Ho * Ho * s.C * s.k * s.k;
    const Conv2dParams p{s.stride, s.stride, s.pad, s.pad, 1, 1, 1};
    Tensor x = Tensor::randn({N, s.C, s.H, s.H}, gen), w = Tensor::randn({s.O, s.C, s.k, s.k}, gen);
    const Tensor dy = Tensor::randn({N, s.O, Ho, Ho}, gen);
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    auto engine_step = [&] {
      Tensor y = conv2d(x, w, Tensor(), p);
      std::vector<Tensor> g = grad(y, {x, w}, dy);
    };
    DirectConv direct(eng, N, s, Ho);
    engine_step();  // warm-up: plan creation, JIT, first-touch of buffers
    direct.run();
    std::vector<double> ratios, ge, gd;
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      engine_step();
      const double te = seconds_since(t0);
      t0 = Clock::now();
      direct.run();
      const double td = seconds_since(t0);
      ratios.push_back(te / td);
      ge.push_back(flops / te * 1e-9);
      gd.push_back(flops / td * 1e-9);
      total_engine += te;
      total_direct += td;
    }
    total_flops += flops * reps;
    all_ratios.push_back(median(ratios));
    std::printf("%-22s %-28s %12.1f %12.1f %8.3f\n", s.name, direct.layouts().c_str(), median(ge), median(gd),
                median(ratios));
    std::fflush(stdout);
  }
  std::printf("all shapes: engine %.1f GF/s, direct %.1f GF/s; median of per-shape ratios %.3f, "
              "total-time ratio %.3f\n",
              total_flops / total_engine * 1e-9, total_flops / total_direct * 1e-9, median(all_ratios),
              total_engine / total_direct);
  std::printf("ratio = engine time / direct oneDNN time (median of A/B pairs); 1.00 = no framework overhead\n");
  return 0;
}
