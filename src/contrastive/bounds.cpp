// bounds.cpp — (B1), (B2), (B3) evaluated on a labelled batch. See bounds.h.
#include "contrastive/bounds.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "contrastive/prototypes.h"
#include "contrastive/similarity.h"
#include "tensor/error.h"

namespace contra::contrastive {

namespace {
bool leq(double a, double b) { return a <= b + 1e-10 * (1.0 + std::abs(a) + std::abs(b)); }
double lse(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, x);
  double s = 0.0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}
}  // namespace

BoundsReport compute_bounds(const Tensor& f_in, const ViewLayout& L, const Tensor& labels, const BoundsOptions& o) {
  const char* where = "compute_bounds (B1–B3)";
  autograd::NoGradGuard no_grad;
  require_contrastive_batch(L, 1, where);
  check_temperature(o.temperature, where);
  CONTRA_CHECK(std::isfinite(o.lambda) && o.lambda >= 0.0, where, "λ must be finite and ≥ 0, got ", o.lambda);
  CONTRA_CHECK(f_in.dim() == 2 && f_in.size(0) == L.M(), where, "embeddings must be (M, D) with M = ", L.M(), ", got ",
               shape_str(f_in.shape()));
  const Tensor f = f_in.detach().to(DType::f64);
  const Tensor y_t = row_labels(labels, L, where);
  const auto y = y_t.to_vector<std::int64_t>();
  const std::int64_t M = L.M(), N = L.N, V = L.V, D = f.size(1);
  const double lam = o.lambda, tau = o.temperature;

  const PrototypeReading rd = o.reading;
  const Tensor z = normalize_embeddings(f);                                           // z̄   (M, D)
  const Tensor rows = prototype_inputs(f, rd);                                        // z̄ or f
  const Tensor mu_x = scored_prototypes(instance_prototypes(rows, L), rd);            // μ_x or m̂_x (S3)  (N, D)
  // class prototypes: batch means of the rows of each class (= means of the instance means)
  // or given; scored as μ_c or m̂_c
  ClassPrototypes cp;
  BoundsReport R;
  R.reading = rd;
  R.batch_prototypes = !o.class_prototypes.defined();
  if (R.batch_prototypes) {
    cp = class_prototypes(rows, y_t);
  } else {
    const Tensor& P = o.class_prototypes;
    CONTRA_CHECK(P.dim() == 2 && P.size(1) == D, where, "class prototypes must be (C, ", D, "), got ",
                 shape_str(P.shape()));
    cp.mu = P.detach().to(DType::f64);
    cp.present.assign(static_cast<size_t>(P.size(0)), true);
    cp.count.assign(static_cast<size_t>(P.size(0)), 0);
    for (auto v : y) {
      CONTRA_CHECK(v < P.size(0), where, "label ", v, " has no prototype among C = ", P.size(0));
      ++cp.count[v];
    }
  }
  cp.mu = scored_prototypes(cp.mu, rd, cp.present);
  const std::int64_t C = cp.mu.size(0);
  std::int64_t n_proto = 0;
  for (bool b : cp.present) n_proto += b;
  CONTRA_CHECK_HINT(n_proto >= 2, where, "the bounds compare classes: the batch needs at least two classes",
                    "only ", n_proto, " class has a prototype");

  const auto S = similarity_matrix(z).to_vector<double>();                         // z̄_r·z̄_k   (M, M)
  const auto sx = prototype_scores(z, mu_x).to_vector<double>();                   // z̄_r·μ_x'  (M, N)
  const auto sc = prototype_scores(z, cp.mu).to_vector<double>();                  // z̄_r·μ_c   (M, C)
  R.b3_max_excess = -std::numeric_limits<double>::infinity();
  const auto mx = mu_x.to_vector<double>(), mc = cp.mu.to_vector<double>();
  if (rd == PrototypeReading::cosine) {
    // ceiling of the (B3) excess: max_x ‖m̂_x − μ_x‖/τ, μ_x the inner-product instance prototype
    const auto mi = instance_prototypes(z, L).to_vector<double>();
    for (std::int64_t x = 0; x < N; ++x) {
      double s2 = 0.0;
      for (std::int64_t d = 0; d < D; ++d) s2 += (mx[x * D + d] - mi[x * D + d]) * (mx[x * D + d] - mi[x * D + d]);
      R.b3_excess_ceiling = std::max(R.b3_excess_ceiling, std::sqrt(s2) / tau);
    }
  }
  // δ(x) = ‖μ_{y(x)} − μ_x‖
  std::vector<double> delta(static_cast<size_t>(N));
  std::vector<std::int64_t> img_label(static_cast<size_t>(N));
  for (std::int64_t x = 0; x < N; ++x) {
    img_label[x] = y[x];
    double s = 0.0;
    for (std::int64_t d = 0; d < D; ++d) s += (mc[y[x] * D + d] - mx[x * D + d]) * (mc[y[x] * D + d] - mx[x * D + d]);
    delta[x] = std::sqrt(s);
  }
  std::vector<std::int64_t> images_of(static_cast<size_t>(C), 0);
  for (std::int64_t x = 0; x < N; ++x) ++images_of[img_label[x]];
  for (std::int64_t c = 0; c < C; ++c)
    if (cp.present[c] && images_of[c] == 0) R.uncovered_classes.push_back(c);

  R.N = N;
  R.V = V;
  R.C = C;
  R.lambda = lam;
  R.temperature = tau;
  for (std::int64_t r = 0; r < M; ++r) {
    BoundRow b;
    b.row = r;
    b.image = L.image(r);
    b.view = L.view(r);
    b.label = y[r];
    const std::int64_t x = b.image;
    // (S1) with prototypes μ_c
    double best_c = -std::numeric_limits<double>::infinity();
    for (std::int64_t c = 0; c < C; ++c)
      if (c != b.label && cp.present[c]) {
        best_c = std::max(best_c, sc[r * C + c]);
        if (images_of[c] == 0) b.covered = false;  // class c ≠ y has no image x' in the batch
      }
    b.l_sup = -sc[r * C + b.label] + lam * best_c;
    // (S4) with instance prototypes
    double best_x = -std::numeric_limits<double>::infinity(), dmax = 0.0;
    std::vector<double> scaled;  // z̄·μ_x'/τ, x' ≠ x
    for (std::int64_t xp = 0; xp < N; ++xp)
      if (xp != x) {
        best_x = std::max(best_x, sx[r * N + xp]);
        dmax = std::max(dmax, delta[xp]);
        scaled.push_back(sx[r * N + xp] / tau);
      }
    b.l_ssl = -sx[r * N + x] + lam * best_x;
    b.delta_self = delta[x];
    b.delta_other_max = dmax;
    b.b1_rhs = b.l_ssl + b.delta_self + lam * b.delta_other_max;
    b.b1_holds = leq(b.l_sup, b.b1_rhs);
    // (B2)
    b.b2_lhs = b.l_ssl / tau;
    b.b2_rhs = -sx[r * N + x] / tau + lam * lse(scaled);
    b.b2_upper = b.b2_lhs + lam * std::log(static_cast<double>(N - 1));
    b.b2_holds = leq(b.b2_lhs, b.b2_rhs) && leq(b.b2_rhs, b.b2_upper);
    // (B3)
    b.b3_rhs = lse(scaled);
    double lhs = 0.0;
    std::vector<double> all_neg;
    for (std::int64_t v = 0; v < V; ++v) {
      std::vector<double> sv;
      for (std::int64_t xp = 0; xp < N; ++xp)
        if (xp != x) {
          sv.push_back(S[r * M + L.row(xp, v)] / tau);
          all_neg.push_back(S[r * M + L.row(xp, v)] / tau);
        }
      lhs += lse(sv) / static_cast<double>(V);
    }
    b.b3_lhs = lhs;
    b.d1_repulsion = lse(all_neg);
    b.b3_holds = leq(b.b3_rhs, b.b3_lhs) && leq(std::log(static_cast<double>(V)) + b.b3_lhs, b.d1_repulsion);
    R.b3_max_excess = std::max(R.b3_max_excess, b.b3_rhs - b.b3_lhs);
    R.b3_mean_positive_excess += std::max(0.0, b.b3_rhs - b.b3_lhs) / M;

    if (b.covered) ++R.covered_rows;
    if (!b.b1_holds) ++(b.covered ? R.b1_violations_covered : R.b1_violations_uncovered);
    if (!b.b2_holds) ++R.b2_violations;
    if (!b.b3_holds) ++R.b3_violations;
    R.mean_l_sup += b.l_sup / M;
    R.mean_b1_rhs += b.b1_rhs / M;
    R.mean_b2_lhs += b.b2_lhs / M;
    R.mean_b2_rhs += b.b2_rhs / M;
    R.mean_b3_lhs += b.b3_lhs / M;
    R.mean_b3_rhs += b.b3_rhs / M;
    R.rows.push_back(b);
  }
  return R;
}

std::string format_bounds(const BoundsReport& R, std::int64_t max_rows) {
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "bounds (docs/derivation.md §4–5): N=%lld V=%lld C=%lld λ=%.10g τ=%.10g, %s prototypes, %s\n",
                static_cast<long long>(R.N), static_cast<long long>(R.V), static_cast<long long>(R.C), R.lambda,
                R.temperature, R.batch_prototypes ? "batch class-mean" : "given",
                R.reading == PrototypeReading::inner_product ? "inner-product reading (z̄·μ, μ = mean of z̄)"
                                                             : "cosine reading (s(f, m), m = mean of f)");
  s += buf;
  s += "  row img lab cov |  L_sup            ≤ L_ssl+δ+λmaxδ'   (B1) |  L_ssl/τ          ≤ smooth RHS        (B2) |"
       "  mean_v LSE_v     ≥ LSE(μ)           (B3)\n";
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(R.rows.size()) && i < max_rows; ++i) {
    const BoundRow& b = R.rows[i];
    std::snprintf(buf, sizeof buf,
                  "  %3lld %3lld %3lld  %c  | %16.10g ≤ %16.10g %s | %16.10g ≤ %16.10g %s | %16.10g ≥ %16.10g %s\n",
                  static_cast<long long>(b.row), static_cast<long long>(b.image), static_cast<long long>(b.label),
                  b.covered ? 'y' : 'n', b.l_sup, b.b1_rhs, b.b1_holds ? "ok " : "NO ", b.b2_lhs, b.b2_rhs,
                  b.b2_holds ? "ok " : "NO ", b.b3_lhs, b.b3_rhs, b.b3_holds ? "ok " : "NO ");
    s += buf;
  }
  if (static_cast<std::int64_t>(R.rows.size()) > max_rows)
    s += "  ... (" + std::to_string(R.rows.size() - static_cast<size_t>(max_rows)) + " more rows)\n";
  std::snprintf(buf, sizeof buf,
                "  means: L_sup %.10g ≤ B1 rhs %.10g | B2 %.10g ≤ %.10g | B3 %.10g ≥ %.10g\n"
                "  covered rows %lld/%zu; violations: B1 covered %lld, B1 uncovered %lld, B2 %lld, B3 %lld\n",
                R.mean_l_sup, R.mean_b1_rhs, R.mean_b2_lhs, R.mean_b2_rhs, R.mean_b3_lhs, R.mean_b3_rhs,
                static_cast<long long>(R.covered_rows), R.rows.size(), static_cast<long long>(R.b1_violations_covered),
                static_cast<long long>(R.b1_violations_uncovered), static_cast<long long>(R.b2_violations),
                static_cast<long long>(R.b3_violations));
  s += buf;
  std::snprintf(buf, sizeof buf,
                "  B3 excess LSE(μ) − mean_v LSE_v: max %.10g, mean of positive parts %.10g, ceiling %.10g (%s)\n",
                R.b3_max_excess, R.b3_mean_positive_excess, R.b3_excess_ceiling,
                R.reading == PrototypeReading::inner_product ? "exact under this reading: ≤ 0"
                                                             : "B3 not guaranteed under this reading");
  s += buf;
  if (!R.uncovered_classes.empty()) {
    s += "  classes with a prototype but no image in the batch (coverage fails):";
    for (auto c : R.uncovered_classes) {
      s += ' ';
      s += std::to_string(c);
    }
    s += "\n";
  }
  return s;
}

}  // namespace contra::contrastive
