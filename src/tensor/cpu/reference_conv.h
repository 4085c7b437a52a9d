// reference_conv.h — naive 2-D convolution: the ground truth for the oneDNN kernels.
//
// Cross-correlation as PyTorch's Conv2d, with stride s, symmetric zero padding p, dilation d
// and G groups (group g maps input channels [g·C/G, (g+1)·C/G) to output channels
// [g·O/G, (g+1)·O/G)):
//   y[n,o,i,j]  = b[o] + Σ_{c,u,v} x[n, g·Cg + c, i·s − p + u·d, j·s − p + v·d] · w[o,c,u,v]
//   dx[n,gCg+c,h,w] = Σ_{o∈g, u, v : h = i·s − p + u·d, w = j·s − p + v·d} dy[n,o,i,j] · w[o,c,u,v]
//   dw[o,c,u,v] = Σ_{n,i,j} dy[n,o,i,j] · x[n, g·Cg + c, i·s − p + u·d, j·s − p + v·d]
//   db[o]       = Σ_{n,i,j} dy[n,o,i,j]
// (out-of-range input positions are the zero padding and contribute nothing).
//
// Single-threaded, sums accumulated in double, templated on float and double. All tensors
// contiguous (the Backend contract for these kernels).
//
// Dimensions: N batch, C input channels, O output channels, G groups (Cg = C/G, Og = O/G),
// H×W input, Ho×Wo output, kH×kW kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/backend.h"

namespace contra::cpu::reference {

struct ConvGeometry {
  std::int64_t N, C, H, W, O, kH, kW, Ho, Wo, G, Cg, Og;
  ConvGeometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p)
      : N(x[0]), C(x[1]), H(x[2]), W(x[3]), O(w[0]), kH(w[2]), kW(w[3]), Ho(y[2]), Wo(y[3]), G(p.groups),
        Cg(x[1] / p.groups), Og(w[0] / p.groups) {}
};

// Calls f(n, o, i, j, c_in, h, w_, c_w, u, v) for every (output, tap) pair whose input
// position (h, w_) lies inside the image; c_in is the input channel, c_w the weight channel.
template <typename F>
void conv_taps(const ConvGeometry& g, const Conv2dParams& p, F&& f) {
  for (std::int64_t n = 0; n < g.N; ++n)
    for (std::int64_t o = 0; o < g.O; ++o) {
      const std::int64_t grp = o / g.Og;
      for (std::int64_t i = 0; i < g.Ho; ++i)
        for (std::int64_t j = 0; j < g.Wo; ++j)
          for (std::int64_t c = 0; c < g.Cg; ++c)
            for (std::int64_t u = 0; u < g.kH; ++u) {
              const std::int64_t h = i * p.stride_h - p.pad_h + u * p.dilation_h;
              if (h < 0 || h >= g.H) continue;
              for (std::int64_t v = 0; v < g.kW; ++v) {
                const std::int64_t w = j * p.stride_w - p.pad_w + v * p.dilation_w;
                if (w < 0 || w >= g.W) continue;
                f(n, o, i, j, grp * g.Cg + c, h, w, c, u, v);
              }
            }
    }
}

template <typename T>
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const Conv2dParams& p) {
  const ConvGeometry g(x.shape(), w.shape(), y.shape(), p);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  std::vector<double> acc(static_cast<size_t>(y.numel()), 0.0);  // (N, O, Ho, Wo)
  conv_taps(g, p, [&](auto n, auto o, auto i, auto j, auto ci, auto h, auto ww, auto cw, auto u, auto v) {
    acc[((n * g.O + o) * g.Ho + i) * g.Wo + j] +=
        static_cast<double>(px[((n * g.C + ci) * g.H + h) * g.W + ww]) *
        static_cast<double>(pw[((o * g.Cg + cw) * g.kH + u) * g.kW + v]);
  });
  T* py = y.data<T>();
  for (std::int64_t n = 0; n < g.N; ++n)
    for (std::int64_t o = 0; o < g.O; ++o) {
      const double bias = b.defined() ? static_cast<double>(b.data<T>()[o]) : 0.0;
      for (std::int64_t k = 0; k < g.Ho * g.Wo; ++k) {
        const std::int64_t idx = (n * g.O + o) * g.Ho * g.Wo + k;
        py[idx] = static_cast<T>(acc[idx] + bias);
      }
    }
}

template <typename T>
void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dParams& p) {
  const ConvGeometry g(dx.shape(), w.shape(), dy.shape(), p);
  const T* pdy = dy.data<T>();
  const T* pw = w.data<T>();
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);  // (N, C, H, W)
  conv_taps(g, p, [&](auto n, auto o, auto i, auto j, auto ci, auto h, auto ww, auto cw, auto u, auto v) {
    acc[((n * g.C + ci) * g.H + h) * g.W + ww] +=
        static_cast<double>(pdy[((n * g.O + o) * g.Ho + i) * g.Wo + j]) *
        static_cast<double>(pw[((o * g.Cg + cw) * g.kH + u) * g.kW + v]);
  });
  T* pdx = dx.data<T>();
  for (size_t k = 0; k < acc.size(); ++k) pdx[k] = static_cast<T>(acc[k]);
}

template <typename T>
void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                            const Conv2dParams& p) {
  const ConvGeometry g(x.shape(), dw.shape(), dy.shape(), p);
  const T* px = x.data<T>();
  const T* pdy = dy.data<T>();
  std::vector<double> acc(static_cast<size_t>(dw.numel()), 0.0);  // (O, Cg, kH, kW)
  conv_taps(g, p, [&](auto n, auto o, auto i, auto j, auto ci, auto h, auto ww, auto cw, auto u, auto v) {
    acc[((o * g.Cg + cw) * g.kH + u) * g.kW + v] +=
        static_cast<double>(pdy[((n * g.O + o) * g.Ho + i) * g.Wo + j]) *
        static_cast<double>(px[((n * g.C + ci) * g.H + h) * g.W + ww]);
  });
  T* pdw = dw.data<T>();
  for (size_t k = 0; k < acc.size(); ++k) pdw[k] = static_cast<T>(acc[k]);
  if (!db.defined()) return;
  T* pdb = db.data<T>();
  for (std::int64_t o = 0; o < g.O; ++o) {
    double s = 0.0;
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t k = 0; k < g.Ho * g.Wo; ++k) s += static_cast<double>(pdy[(n * g.O + o) * g.Ho * g.Wo + k]);
    pdb[o] = static_cast<T>(s);
  }
}

}  // namespace contra::cpu::reference
