// backend.h — the compute interface every device implements.
//
// Ops above this layer never name a library: they ask `backend_for(device)` and call
// these kernels. Kernels know nothing about autograd. Contracts, for every method:
//   requires: tensors are defined, on this backend's device; `out` already has the
//             documented shape and dtype (callers allocate it); inputs may be strided
//             (any strides, including 0 for broadcast axes) unless stated otherwise.
//   ensures:  `out` is assigned (overwritten), never accumulated, unless stated otherwise.
//   aliasing: `out` must not overlap an input unless stated otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/batch_norm_reduction.h"
#include "tensor/tensor.h"

namespace contra {

enum class UnaryOp {
  neg, exp, log, sqrt, abs, relu, sigmoid, tanh, sign, square, reciprocal,
  pow_scalar,   // x^p,               params.a = p
  clamp,        // min(max(x, a), b), params.a = lo, params.b = hi
  step,         // 1[x > a],          params.a = threshold (ReLU's derivative at a = 0)
  affine,       // a·x + b
};

struct UnaryParams {
  double a = 0.0, b = 0.0;
};

enum class BinaryOp { add, sub, mul, div, maximum, minimum, pow, eq, ne, gt, ge, lt, le };

enum class ReduceOp { sum, max, min };

// Convolution parameters (PyTorch's Conv2d semantics). Padding is symmetric (pad_h rows on
// top and bottom); output size H' = ⌊(H + 2·pad_h − dilation_h·(kH − 1) − 1) / stride_h⌋ + 1.
struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;
};

// Pooling window (PyTorch's MaxPool2d semantics, ceil_mode = false): H' = ⌊(H + 2·pad_h − kernel_h) / stride_h⌋ + 1;
// max pooling treats padding as −∞.
struct Pool2dParams {
  std::int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h = 0, pad_w = 0;
};

// Hyper-parameters of the fused optimizer updates (Backend::sgd_update, lars_update, adamw_update).
struct SgdHyper {
  double lr = 0.0, weight_decay = 0.0, momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
};
struct LarsHyper {
  double lr = 0.0, weight_decay = 0.0, momentum = 0.0, trust_coefficient = 0.001;
  bool nesterov = false;
  bool adapt = true;  // trust-ratio adaptation and weight decay (false: r = 1, λ = 0)
};
struct AdamWHyper {
  double lr = 0.0, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual const char* name() const = 0;

  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* p) = 0;

  // dst ← src. requires: src broadcastable to dst.shape(); any dtypes (converted).
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  // dst ← value (converted to dst's dtype), any dtype.
  virtual void fill(const Tensor& dst, double value) = 0;

  // Host ↔ device transfers, the one way bytes cross devices (Tensor::to builds on them).
  // requires: the tensor is contiguous, on this backend's device; the host buffer holds
  //           numel · itemsize bytes in the tensor's dtype (no conversion).
  // ensures:  copy_from_host may return before the copy finishes but the host buffer may be
  //           reused at once (implementations stage it); copy_to_host returns only when
  //           host_dst is written (a synchronisation point: a value is read).
  virtual void copy_from_host(const void* host_src, const Tensor& dst) = 0;
  virtual void copy_to_host(const Tensor& src, void* host_dst) = 0;

  // out = op(x). requires: floating dtype; out same shape and dtype as x.
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) = 0;
  // out = a op b, broadcasting. requires: a, b, out of one floating dtype; out has the
  // broadcast shape. Comparisons write 1 or 0 in that dtype. out may alias a or b exactly
  // (same storage, offset and strides: in-place update).
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // out = cond ≠ 0 ? a : b, broadcasting all three to out's shape.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // Reduces x over the axes where out has size 1 and x does not (out has x's rank: keepdim).
  virtual void reduce(ReduceOp op, const Tensor& x, const Tensor& out) = 0;
  // The number of non-finite elements (NaN, ±inf) over all of `xs`, as one reduction.
  // requires: any layouts and dtypes (integer tensors hold none); undefined tensors skipped.
  // ensures:  one host read of the count for the whole list: a training step checks every
  //           parameter with one synchronisation point, not one per tensor (design.md, Devices).
  virtual std::int64_t count_non_finite(const std::vector<Tensor>& xs) = 0;

  // out = alpha · op(a) · op(b) + beta · out for stacks of matrices.
  // requires: a (B, M, K), b (B, K, N), out (B, M, N) contiguous, rank 3, one floating
  // dtype; a and b may be strided (the CPU backend maps transposed views to BLAS flags).
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha,
                      double beta) = 0;

  // Softmax (or log-softmax) over the last axis. out: x's shape and dtype, contiguous.
  virtual void softmax(const Tensor& x, const Tensor& out, bool log) = 0;

  // out = x.index_select(dim, index): out.shape[dim] = index.numel(); index i64 1-d.
  virtual void index_select(const Tensor& x, int dim, const Tensor& index, const Tensor& out) = 0;
  // out.index_select(dim, index) += src  (accumulates; repeated indices add up).
  virtual void index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) = 0;
  // out[i][j] = x[i][index[i][j]] along dim (torch.gather); index i64 with out's shape.
  virtual void gather(const Tensor& x, int dim, const Tensor& index, const Tensor& out) = 0;
  // out[i][index[i][j]] += src[i][j] along dim (accumulates).
  virtual void scatter_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) = 0;

  // ---- convolution, normalisation, pooling ---------------------------------------------
  // Shapes: N batch, C input channels, O output channels, G groups, (H, W) input and
  // (H', W') output spatial sizes, (kH, kW) kernel. Unless stated otherwise these kernels
  // require every tensor argument (inputs and outputs) to be *contiguous* and of one
  // floating dtype; undefined tensors mark optional arguments. The CPU backend runs f32
  // through oneDNN and f64 (or any dtype with reference_kernels() on) through the naive
  // reference kernels (reference_conv.h, reference_norm_pool.h).

  // y = conv(x, w) + b (cross-correlation, as PyTorch).
  // requires: x (N, C, H, W), w (O, C/G, kH, kW), b (O,) or undefined, y (N, O, H', W');
  //           C and O divisible by G.   ensures: y assigned.
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                              const Conv2dParams& p) = 0;
  // dx = ∂⟨dy, conv(x, w)⟩/∂x (the transposed convolution of dy with w).
  // requires: dy (N, O, H', W'), w as forward, dx (N, C, H, W).   ensures: dx assigned.
  virtual void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx,
                                    const Conv2dParams& p) = 0;
  // dw = Σ_{n,h',w'} dy ⊗ (the x patch), db = Σ_{n,h',w'} dy.
  // requires: x, dy as above; dw (O, C/G, kH, kW); db (O,) or undefined (not computed).
  // ensures: dw (and db) assigned.
  virtual void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                                      const Conv2dParams& p) = 0;
  // Both backward passes in one call, so an implementation can share work between them
  // (the CPU backend reorders dy into oneDNN's layout once). Any of dx, dw, db may be
  // undefined (not computed); db only together with dw.
  // requires/ensures: as conv2d_backward_data and conv2d_backward_weight.
  virtual void conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
                               const Tensor& dw, const Tensor& db, const Conv2dParams& p) {
    if (dx.defined()) conv2d_backward_data(dy, w, dx, p);
    if (dw.defined()) conv2d_backward_weight(x, dy, dw, db, p);
  }

  // Batch normalisation over every axis but the channel axis 1. x is (N, C) or (N, C, H, W),
  // seen as (N, C, S) with S = H·W (1 for 2-D); M = N·S values per channel.
  // Training: mean = Σ x / M, var = Σ (x − mean)² / M (the *biased* batch variance),
  //   y = (x − mean) / √(var + eps) · weight + bias.
  // requires: weight and bias (C,) both defined (affine) or both undefined (weight 1, bias 0);
  //           y like x; mean, var (C,) in x's dtype.   ensures: y, mean, var assigned.
  // reduction (batch_norm_reduction.h), when given: the per-channel sums (and M) are summed
  // over the processes first, so mean, var and y are those of the global batch (synchronised
  // BN). Only where supports_batch_norm_reduction(x); elsewhere a non-null one is refused.
  virtual void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                           const Tensor& y, const Tensor& mean, const Tensor& var,
                                           BatchNormReduction* reduction = nullptr) = 0;
  // Inference: y = (x − mean) / √(var + eps) · weight + bias with the given (running) statistics.
  // requires: as above, mean and var (C,) inputs.   ensures: y assigned.
  virtual void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                            const Tensor& mean, const Tensor& var, double eps,
                                            const Tensor& y) = 0;
  // Gradients of the forward above. With x̂ = (x − mean)·r, r = 1/√(var + eps), γ = weight:
  //   dbias = Σ dy, dweight = Σ dy·x̂ (sums over N and S);
  //   batch_stats (training, mean/var are functions of x): dx = γ·r/M · (M·dy − dbias − x̂·dweight);
  //   otherwise (inference, mean/var constants):          dx = γ·r · dy.
  // requires: dy, x, dx like x; mean, var (C,) as produced/used by the forward; dweight,
  //           dbias (C,) both defined exactly when weight is.   ensures: dx, dweight, dbias assigned.
  // reduction, when given (with batch_stats): dx with Σdy, Σdy·x̂ and M of the global batch;
  //   dweight and dbias stay this process's part (the gradient all-reduce adds the parts).
  virtual void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                   const Tensor& var, double eps, bool batch_stats, const Tensor& dx,
                                   const Tensor& dweight, const Tensor& dbias,
                                   BatchNormReduction* reduction = nullptr) = 0;
  // Whether the two calls above honour a BatchNormReduction for x (its dtype, device and the
  // kernel that would run). False: callers synchronise BN another way (dist/sync_batch_norm.h).
  virtual bool supports_batch_norm_reduction(const Tensor& x) const { return false; }

  // Max pooling. requires: x (N, C, H, W), y (N, C, H', W'), pad ≤ kernel / 2.
  // ensures: y assigned; returns an opaque workspace (the argmax positions, in whatever form
  // the implementation uses: the reference returns i64 indices into H·W shaped like y,
  // oneDNN its own u8 workspace) that must be passed unchanged to max_pool2d_backward.
  virtual Tensor max_pool2d_forward(const Tensor& x, const Tensor& y, const Pool2dParams& p) = 0;
  // dx = dy routed to each window's argmax (accumulated where windows overlap).
  // requires: dy like y, workspace from max_pool2d_forward on the same shapes, dx like x.
  // ensures: dx assigned.
  virtual void max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Tensor& dx,
                                   const Pool2dParams& p) = 0;

  // Adaptive average pooling (PyTorch): output cell (i, j) averages input rows
  // [⌊i·H/H'⌋, ⌈(i+1)·H/H'⌉) and columns [⌊j·W/W'⌋, ⌈(j+1)·W/W'⌉).
  // requires: x (N, C, H, W), y (N, C, H', W').   ensures: y assigned.
  virtual void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) = 0;
  // dx[cell window] += dy[cell] / window size.   requires: dy like y, dx like x.   ensures: dx assigned.
  virtual void adaptive_avg_pool2d_backward(const Tensor& dy, const Tensor& dx) = 0;

  // ---- fused multi-tensor optimizer updates ------------------------------------------------
  // One call updates a list of parameters in place (on a GPU: one launch for the list, not
  // one per tensor). The optimizers (src/nn/sgd.cpp, lars.cpp, adamw.cpp) keep the formulas
  // beside the call; here is exactly what the kernels compute. For every list index i:
  // requires: params[i], grads[i] and the state tensors [i] contiguous, of one floating
  //           dtype T and one shape; all lists of equal length; everything on this device.
  // ensures:  params and state written in place, elementwise in T with every scalar
  //           converted to T once (as written, so results are bit-identical to the
  //           per-tensor loops they replace); callers bump the version counters.
  // aliasing: no two tensors of the call share memory.

  // SGD (torch.optim.SGD). Per element, with λ = weight_decay, μ = momentum, τ = dampening, η = lr:
  //   d = g + λ·p
  //   b = d if first_step[i] ≠ 0, else μ·b + (1 − τ)·d     (only when momentum_buffers is not empty)
  //   d = d + μ·b (nesterov) or d = b                      (only when momentum_buffers is not empty)
  //   p = p − η·d
  // requires: momentum_buffers empty (no momentum) or one per parameter; first_step one per
  //           parameter (ignored without buffers).
  virtual void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                          const std::vector<Tensor>& momentum_buffers, const std::vector<std::uint8_t>& first_step,
                          const SgdHyper& h) = 0;

  // LARS (SimCLR's lars_optimizer.py). Per tensor, λ = adapt ? weight_decay : 0, e = trust_coefficient:
  //   d = g + λ·p                         (in T)
  //   ‖p‖, ‖d‖ accumulated in double
  //   r = e·‖p‖/‖d‖ if adapt and ‖p‖ > 0 and ‖d‖ > 0, else 1         (in double)
  //   v = μ·v + (η·r)·d                   (η·r computed in double, converted to T)
  //   p = p − v, or with nesterov  p = p − (μ·v + (η·r)·d)
  // requires: trust_ratios f64 (params.size(),) on this device.   ensures: trust_ratios[i] = r.
  virtual void lars_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                           const std::vector<Tensor>& momentum_buffers, const LarsHyper& h,
                           const Tensor& trust_ratios) = 0;

  // AdamW (torch.optim.AdamW). With t = steps[i] (this step, 1-based), η lr, λ weight_decay:
  //   decay = 1 − η·λ,  step_size = η / (1 − β₁ᵗ),  c₂ = √(1 − β₂ᵗ)   (in double, then T)
  //   p = p·decay
  //   m = β₁·m + (1 − β₁)·g
  //   v = β₂·v + (1 − β₂)·g·g
  //   p = p − step_size·m / (√v / c₂ + ε)
  // requires: exp_avgs, exp_avg_sqs one per parameter; steps one per parameter (host values).
  virtual void adamw_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                            const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                            const std::vector<double>& steps, const AdamWHyper& h) = 0;

  // ==== contrastive row passes (issue 11 §1; CPU: cpu/contrastive_rows.cpp) ===============
  // The hot loops of the fused balanced loss (src/contrastive/balanced_fused.cpp and
  // balanced_blockwise.cpp keep the formulas, docs/derivation.md §0 and §6), on plain tensors.
  //
  // Rows are view-major: M = N·V rows, row r is view ⌊r/N⌋ of image r mod N. For an anchor
  // row i (image x_i = i mod N, view u_i = ⌊i/N⌋) every column k is exactly one of
  //   the anchor itself  k = i                          weight W_ik = 0,
  //   a positive         k ∈ P(i) = {v·N + x_i : v ≠ u_i}  W_ik = w_p  (|P| = V − 1),
  //   a negative         k ∈ N(i), every other column      W_ik = ω_ik ((M, M) ω), ω_k ((M,) ω), or 1.
  // With s_ik = ⟨z̄_i, z̄_k⟩, Λ_ik = s_ik/τ, m_i = max{s_ik : W_ik > 0} and a_i the anchor
  // coefficients (Σ a_i = 1):
  //   e_ik = W_ik · exp(min(Λ_ik − m_i/τ, 0)),   D̃_i = Σ_k e_ik,   log D_i = m_i/τ + log D̃_i,
  //   ℓ_i  = −w_a/|P| · Σ_{p∈P(i)} Λ_ip + w_r · log D_i,
  //   G_ik = a_i · (w_r e_ik/D̃_i − w_a 1[k∈P(i)]/|P|)         (= ∂(Σ_j a_j ℓ_j)/∂Λ_ik),
  // and the telemetry sums
  //   pos_sum_i = Σ_{p∈P(i)} s_ip,  neg_sum_i = Σ_{k∈N(i)} s_ik,
  //   uniformity_i = Σ_{k≠i in view u_i} e^{4 s_ik − 4},  g_rep2_i = Σ_k (a_i w_r e_ik/D̃_i)²,
  //   row_sum_i = Σ_k G_ik.
  // The fast CPU kernels compute exp with a vectorised polynomial (relative error < 2e-17 in
  // f64, < 6e-9 in f32) and accumulate sums in double; the reference twins use std::exp.
  // requires (all four): s and omega of one floating dtype, contiguous; omega undefined, (M,)
  //   or (M, M); a, stats, state, row_sum, norm, norms f64 contiguous; p.N·p.V = M.
  struct ContrastiveRowParams {
    std::int64_t N = 0, V = 0;                                  // images, views: M = N·V
    double inv_tau = 1.0;                                       // 1/τ
    double positive_weight = 0.0, attract = 1.0, repel = 1.0;   // w_p, w_a, w_r
    std::int64_t row0 = 0, col0 = 0;  // tile kernels: the global row and column of s's (0, 0)
  };
  // Columns of the per-row outputs.
  enum RowStat : int { stat_ell, stat_log_d, stat_pos_sum, stat_neg_sum, stat_uniformity, stat_g_rep2,
                       stat_row_sum, stat_no_denominator, row_stat_count };
  enum TileState : int { tile_pos_sum, tile_neg_sum, tile_uniformity, tile_max, tile_dsum, tile_dsum2,
                         tile_state_count };

  // The full-matrix row pass. requires: s (M, M) = S = Z̄Z̄ᵀ; a (M,); stats (M, row_stat_count).
  // ensures: s overwritten by G; stats row i = (ℓ_i, log D_i, pos_sum_i, neg_sum_i,
  //   uniformity_i, g_rep2_i, row_sum_i, 0) (p.row0, p.col0 ignored). A row with no W_ik > 0
  //   (D_i = 0) gets stats (0, …, 0, 1) and an unspecified s row.
  virtual void contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a,
                                    const ContrastiveRowParams& p, const Tensor& stats) = 0;
  // Blockwise forward, one tile s = S[row0 : row0+ni, col0 : col0+nk] (ni, nk), folded into
  // each row's online log-sum-exp. state (M, tile_state_count) *accumulates*: columns
  // pos_sum, neg_sum, uniformity (plain sums over the tile's columns), then m_i (similarity
  // units; −∞ until a tile holds some W_ik > 0), D̃_i = Σ e_ik and Σ e_ik², both rescaled by
  // e^{(m_old − m_new)/τ} (squared for Σ e²) when m_i grows. Rows outside the tile untouched.
  virtual void contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                        const Tensor& state) = 0;
  // Blockwise gradient, one tile: s (ni, nk) overwritten by G_ik with the final m_i, D̃_i of
  // state (as left by contrastive_tile_forward over every tile) and a (M,); row_sum (M,)
  // *accumulates* Σ_{k in tile} G_ik.
  virtual void contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a,
                                         const Tensor& state, const ContrastiveRowParams& p,
                                         const Tensor& row_sum) = 0;
  // Row normalisation: z̄_i = f_i/‖f_i‖ (norm in double). requires: f (M, D) floating,
  // contiguous, rows with ‖f_i‖ > 0; z like f; norm (M,).   ensures: z, norm assigned.
  virtual void contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) = 0;
  // The normalisation backward and the gradient-norm telemetry. With dz = ∂L/∂z̄ (M, D):
  //   df_i = (I − z̄_i z̄_iᵀ) dz_i / ‖f_i‖;
  //   the attraction part alone (sparse): dz̄ᴬ_i = Σ_{p∈P(i)} −(a_i + a_p) w_a/|P|/τ · z̄_p,
  //   dfᴬ_i = (I − z̄_i z̄_iᵀ) dz̄ᴬ_i / ‖f_i‖;
  //   norms row i = (‖dfᴬ_i‖², ‖df_i − dfᴬ_i‖², ‖df_i‖²).
  // requires: z, dz, df (M, D) of one floating dtype; norm, a (M,); norms (M, 3).
  // ensures: df, norms assigned.
  virtual void contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm,
                                              const Tensor& a, const ContrastiveRowParams& p, const Tensor& df,
                                              const Tensor& norms) = 0;
  // ==== end of the contrastive row passes ==================================================
};

// The backend of a device. The one place that knows which backends were compiled is
// backend_registry.cpp. A cuda device in a build without CUDA throws a clear error.
Backend& backend_for(Device device);
inline Backend& backend_for(const Tensor& t) { return backend_for(t.device()); }

// A process-wide setting (the three below) changed for a scope: the constructor sets
// `value`, the destructor restores what was set before.
//   { ConvAlgorithmGuard wino(ConvAlgorithm::winograd); … }  // direct again after the brace
template <typename T, T (*get)(), void (*set)(T)>
class ScopedSetting {
 public:
  explicit ScopedSetting(T value) : prev_(get()) { set(value); }
  ~ScopedSetting() { set(prev_); }
  ScopedSetting(const ScopedSetting&) = delete;
  ScopedSetting& operator=(const ScopedSetting&) = delete;

 private:
  T prev_;
};

// Forces the naive reference kernels everywhere (for parity checks and debugging).
void set_reference_kernels(bool on);
bool reference_kernels();
using ReferenceKernelsGuard = ScopedSetting<bool, reference_kernels, set_reference_kernels>;

// The precision float32 convolutions compute in (like PyTorch's CPU autocast for conv):
//   f32   float32 throughout (the default).
//   bf16  x, w and dy are rounded to bfloat16 (8 significant bits) as the convolution reads
//         them; products accumulate in float32 and every output (y, dx, dw, db) is float32.
//         Master weights, optimizer state, batch norm and the loss stay float32.
// bf16 needs a CPU with AVX512-BF16 or AMX-BF16 (oneDNN then runs native bf16 kernels);
// set_conv_precision(bf16) throws a contra::Error on other CPUs. float64 tensors and the
// reference kernels ignore the setting. Process-wide, read at each convolution call.
enum class ConvPrecision { f32, bf16 };
void set_conv_precision(ConvPrecision precision);
ConvPrecision conv_precision();
const char* precision_name(ConvPrecision precision);  // "f32", "bf16"
// Parses "f32"/"fp32"/"float32" or "bf16"/"bfloat16"; throws contra::Error naming the choices.
ConvPrecision parse_conv_precision(const std::string& name);
// Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX-BF16).
bool bf16_supported();

// RAII switch for the convolution precision.
using ConvPrecisionGuard = ScopedSetting<ConvPrecision, conv_precision, set_conv_precision>;

// The algorithm float32 3×3 convolutions use on the CPU:
//   direct    y[n,o,i,j] = Σ_{c,u,v} w[o,c,u,v] · x[n,c,i+u,j+v]: every product formed (the
//             default; the same arithmetic as PyTorch's CPU convolutions).
//   winograd  Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray 2016): a 6×6 input tile
//             d and the 3×3 filter g are transformed, multiplied elementwise, transformed back,
//             Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A, which forms 36 products per 16 outputs instead of
//             144. Same result up to float32 rounding of the transforms (tests bound it at 1e-5
//             of the output's scale), 1.4–2.3× faster per layer from 64 channels on AVX-512 (README). oneDNN
//             implements it for 3×3, stride 1, dilation 1, ungrouped convolutions in float32;
//             contra uses it where input and output have at least 32 channels (below that
//             the transforms cost more than they save); other convolutions stay direct.
// Process-wide, read at each convolution call; float64, bf16 precision, the reference kernels
// and the CUDA backend (cuDNN chooses its own algorithms) ignore it.
enum class ConvAlgorithm { direct, winograd };
void set_conv_algorithm(ConvAlgorithm algorithm);
ConvAlgorithm conv_algorithm();
const char* conv_algorithm_name(ConvAlgorithm algorithm);  // "direct", "winograd"
// Parses "direct" or "winograd"; throws contra::Error naming the choices.
ConvAlgorithm parse_conv_algorithm(const std::string& name);

// RAII switch for the convolution algorithm.
using ConvAlgorithmGuard = ScopedSetting<ConvAlgorithm, conv_algorithm, set_conv_algorithm>;

// Threads used by the CPU kernels (OpenMP, OpenBLAS, oneDNN). 0 = library default.
void set_num_threads(int n);
int num_threads();

// True when this build has a CUDA backend and a device is present.
bool cuda_available();

// One line naming the CPU and the kernels that run: "cpu: … (…; AVX2 FMA AVX-512), gemm:
// OpenBLAS 0.3.21 SkylakeX (…), conv: oneDNN 2.6.3 avx512_core_amx, threads: 2".
// Programs print it once at start and runs store it in manifest.json (issue 9).
std::string kernel_report();

}  // namespace contra
