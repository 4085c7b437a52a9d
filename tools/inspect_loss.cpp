// inspect_loss — every intermediate of a contrastive loss on a small batch (docs/derivation.md).
//
// Reads view-major embeddings Z (M, D) from --embeddings (float32 or float64 .npy; float64 is
// computed in float64) or draws them from a seeded normal, then prints, with ≥ 10 significant
// digits: ‖f_i‖, z̄ = f/‖f‖, S = Z̄Z̄ᵀ, Λ = S/τ, the loss's per-anchor terms, G = ∂L/∂Λ (from
// autograd through the step-by-step composition), the balance of pull (positives) and push
// (negatives) per row, the loss (and for `balanced` the fused kernel's value, its G and its
// telemetry), ∂L/∂f, and with labels the bounds (B1)–(B3) and the PRB of the batch, under
// the inner-product or the cosine prototype reading (--reading, docs/derivation.md §1, §8).
//
//   inspect_loss --loss balanced --views 2 --images 3 --dim 4 --seed 1
//   inspect_loss --loss supcon --embeddings Z.npy --views 2 --labels y.npy --grad-out dZ.npy
//   inspect_loss --embeddings head.npy --views 8 --labels y.npy --reading both   (a trained encoder: tools/embed --head)
//   inspect_loss --images 4 --views 2 --dim 8 --balance-figure docs/figures/balance   (pull/push figures)
//
// Exit codes: 0 ok, 2 bad options or input (contra::Error, CLI errors), 1 anything else.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"
#include "tensor/generator.h"
#include "tensor/npy.h"
#include "train/loss_registry.h"
#include "train/plots.h"
#include "train/exit_codes.h"

using namespace contra;
using contra::train::exit_code_for_parse;
using contra::train::kExitOk;
using contra::train::kExitRuntimeError;
using contra::train::kExitUsage;
using namespace contra::contrastive;

namespace {

int g_max_rows = 12;

void print_matrix(const char* title, const Tensor& t) {
  const Tensor m = t.dim() == 1 ? t.view({1, t.size(0)}) : t;
  const std::int64_t R = m.size(0), C = m.size(1);
  std::printf("%s  %s\n", title, shape_str(t.shape()).c_str());
  const auto v = m.detach().to_vector<double>();
  for (std::int64_t i = 0; i < R && i < g_max_rows; ++i) {
    std::printf("  [%3lld]", static_cast<long long>(i));
    for (std::int64_t k = 0; k < C && k < g_max_rows; ++k) std::printf(" % .10e", v[i * C + k]);
    if (C > g_max_rows) std::printf(" ...");
    std::printf("\n");
  }
  if (R > g_max_rows) std::printf("  ... (%lld more rows)\n", static_cast<long long>(R - g_max_rows));
}

void print_vector(const char* title, const Tensor& t) {
  const auto v = t.detach().to_vector<double>();
  std::printf("%s  (%zu)\n", title, v.size());
  for (size_t i = 0; i < v.size() && static_cast<int>(i) < 4 * g_max_rows; ++i)
    std::printf("  [%3zu] % .12e\n", i, v[i]);
}

// Per row of G (M, M): pull = Σ_{k∈P(i)} G_ik, push = Σ_{k∉P(i)} G_ik, net = pull + push.
void print_balance(const Tensor& G, const ViewLayout& L, const std::vector<std::int64_t>* labels) {
  const std::int64_t M = G.size(0);
  const auto g = G.to_vector<double>();
  std::printf("balance of pull and push per row (G = ∂L/∂Λ; pull over %s, push over the rest)\n",
              labels ? "same-class rows" : "P(i)");
  std::printf("  row  img view        pull Σ_P G_ik          push Σ_rest G_ik       net Σ_k G_ik\n");
  for (std::int64_t i = 0; i < M && i < 4 * g_max_rows; ++i) {
    double pull = 0.0, push = 0.0;
    for (std::int64_t k = 0; k < M; ++k) {
      if (k == i) continue;
      const bool pos = labels ? (*labels)[k] == (*labels)[i] : L.same_image(i, k);
      (pos ? pull : push) += g[i * M + k];
    }
    std::printf("  %3lld  %3lld  %3lld   % .12e   % .12e   % .12e\n", static_cast<long long>(i),
                static_cast<long long>(L.image(i)), static_cast<long long>(L.view(i)), pull, push, pull + push);
  }
}

void print_telemetry(const LossTelemetry& t) {
  std::printf("telemetry (fused forward)\n");
  std::printf("  loss                      % .12e\n", t.loss);
  std::printf("  attraction term           % .12e\n", t.attraction);
  std::printf("  repulsion term            % .12e\n", t.repulsion);
  std::printf("  ‖∂attraction/∂f‖          % .12e\n", t.grad_norm_attraction);
  std::printf("  ‖∂repulsion/∂f‖           % .12e\n", t.grad_norm_repulsion);
  std::printf("  ‖∂L/∂f‖                   % .12e\n", t.grad_norm_total);
  std::printf("  ‖G_attraction‖, ‖G_repulsion‖ (logits)  % .12e  % .12e\n", t.logit_grad_norm_attraction,
              t.logit_grad_norm_repulsion);
  std::printf("  max_i |Σ_k G_ik|          % .12e\n", t.max_abs_row_sum);
  std::printf("  mean positive similarity  % .12e\n", t.mean_positive_similarity);
  std::printf("  mean negative similarity  % .12e\n", t.mean_negative_similarity);
  std::printf("  alignment (α=2)           % .12e\n", t.alignment);
  std::printf("  uniformity (t=2)          % .12e\n", t.uniformity);
}

// --balance-figure STEM: G = ∂L/∂Λ of the fused balanced loss on this batch for three
// attraction weights w_a = ½w_r, w_r, 3/2·w_r (the other parameters as given). Writes
// STEM_anchor.csv (the row of G of one anchor: a pull on its positives, pushes on the rest)
// and STEM_rows.csv (each row's push Σ_N G_ik and pull Σ_P G_ik), drawn by gnuplot
// (train/plots.h) as STEM_anchor.png/.svg and STEM_rows.png/.svg.
void balance_figure(const Tensor& f, const ViewLayout& L, const BalancedParams& p, std::int64_t anchor,
                    const std::string& stem) {
  CONTRA_CHECK(anchor >= 0 && anchor < L.M(), "inspect_loss --anchor", "anchor row ", anchor, " is outside [0, ",
               L.M(), ")");
  const std::vector<std::pair<double, std::string>> settings = {
      {0.5, "w_a = w_r/2"}, {1.0, "w_a = w_r"}, {1.5, "w_a = 3w_r/2"}};
  std::vector<std::vector<double>> G;  // per setting, (M·M)
  for (const auto& s : settings) {
    BalancedParams q = p;
    q.attract = s.first * p.repel;
    FusedOptions o;
    o.keep_logit_grad = true;
    G.push_back(balanced_loss(f.detach(), L, q, o).logit_grad.to_vector<double>());
  }
  const std::int64_t M = L.M();
  {
    std::ostringstream a;
    a << "column";
    for (const auto& s : settings) a << ",G (" << s.second << ")";
    a << "\n";
    for (std::int64_t k = 0; k < M; ++k) {
      if (k == anchor) continue;
      a << "k=" << k << (L.same_image(anchor, k) ? " positive" : " negative");
      for (const auto& g : G) a << "," << g[anchor * M + k];
      a << "\n";
    }
    write_file_atomically(stem + "_anchor.csv", a.str());
  }
  {
    // push Σ_{k∈N(i)} G_ik = a_i w_r Σ_N Q_ik does not depend on w_a: one column
    std::ostringstream r;
    r << "row,push (every w_a)";
    for (const auto& s : settings) r << ",pull (" << s.second << ")";
    r << "\n";
    for (std::int64_t i = 0; i < M; ++i) {
      r << "i=" << i;
      for (size_t c = 0; c < G.size(); ++c) {
        double pull = 0.0, push = 0.0;
        for (std::int64_t k = 0; k < M; ++k)
          if (k != i) (L.same_image(i, k) ? pull : push) += G[c][i * M + k];
        if (c == 0) r << "," << push;
        r << "," << pull;
      }
      r << "\n";
    }
    write_file_atomically(stem + "_rows.csv", r.str());
  }
  train::Figure fa;
  fa.csv = stem + "_anchor.csv";
  fa.out_stem = stem + "_anchor";
  // (gnuplot's enhanced text: _{ik} is a subscript)
  fa.title = "Row " + std::to_string(anchor) + " of G = ∂L/∂Λ: pull on the positive (< 0), push on the negatives (> 0)";
  fa.xlabel = "column k of the logits Λ_{" + std::to_string(anchor) + "k}";
  fa.ylabel = "G_{" + std::to_string(anchor) + "k}";
  fa.boxes = true;
  fa.xtics_column = "1";
  for (int c = 0; c < 3; ++c) fa.series.push_back({settings[c].second, c + 2});
  train::Figure fr = fa;
  fr.csv = stem + "_rows.csv";
  fr.out_stem = stem + "_rows";
  fr.title = "Per anchor i: push Σ_{N(i)} G_{ik} and pull Σ_{P(i)} G_{ik}; they cancel only when w_a = w_r";
  fr.xlabel = "anchor row i";
  fr.ylabel = "sum of G_{ik}";
  fr.series = {{"push (every w_a)", 2}};
  for (int c = 0; c < 3; ++c) fr.series.push_back({"pull, " + settings[c].second, 3 + c});
  const bool drawn = train::draw(fa) && train::draw(fr);
  std::printf("balance figure: wrote %s_anchor.csv and %s_rows.csv%s\n", stem.c_str(), stem.c_str(),
              drawn ? " and their .png/.svg" : " (gnuplot not found: no pictures)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"inspect_loss: every intermediate of a contrastive loss on a small batch (docs/derivation.md)"};
  std::string loss_name = "balanced", embeddings, labels_path, grad_out, dtype_name_opt = "f64", reading_name = "inner",
              balance_stem;
  std::int64_t views = 2, images = 4, dim = 3, classes = 2, anchor = 0;
  std::uint64_t seed = 0;
  double temperature = 0.5, attract = 1.0, repel = 1.0, positive_weight = 1.0, lambda = 1.0;
  std::optional<double> nu, beta, rho;
  app.add_option("--loss", loss_name, "which loss: " + train::loss_help())
      ->check(CLI::IsMember(train::loss_names()))
      ->capture_default_str();
  app.add_option("--embeddings", embeddings, "Z.npy: float32/float64 (M, D), view-major rows")->check(CLI::ExistingFile);
  app.add_option("--views", views, "views per image V (rows are view-major: row r = image r mod N, view r div N)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--images", images, "random mode: images N")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--dim", dim, "random mode: embedding width D")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", seed, "random mode: seed of the normal embeddings (and labels)")->capture_default_str();
  app.add_option("--dtype", dtype_name_opt, "random mode: f32 or f64")
      ->check(CLI::IsMember({"f32", "f64"}))
      ->capture_default_str();
  app.add_option("--labels", labels_path, "y.npy: integer labels per image (N,) or per row (M,)")
      ->check(CLI::ExistingFile);
  app.add_option("--classes", classes,
                 "random labels, classes C (images 0..C−1 get labels 0..C−1): drawn for supervised/supcon without "
                 "--labels, and for any loss when given (then the bounds and the PRB are printed)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--reading", reading_name,
                 "prototype reading for the bounds and (S1): inner (z̄·μ, μ = mean of z̄; every bound exact), cosine "
                 "(s(f, m), m = mean of f; B3 not guaranteed), both (bounds only)")
      ->check(CLI::IsMember({"inner", "cosine", "both"}))
      ->capture_default_str();
  app.add_option("--balance-figure", balance_stem,
                 "write STEM_anchor.csv/.png and STEM_rows.csv/.png: rows of G for w_a = w_r/2, w_r, 3w_r/2 (gnuplot)");
  app.add_option("--anchor", anchor, "--balance-figure: the anchor row drawn")->capture_default_str();
  // τ below 1e-4 makes Λ = S/τ overflow the exponentials (−inf loss, NaN gradients):
  // refused, like pretrain's loss.temperature range.
  app.add_option("--temperature", temperature, "τ in [1e-4, 100]")->check(CLI::Range(1e-4, 100.0))->capture_default_str();
  app.add_option("--attract", attract, "balanced: attraction weight w_a")->capture_default_str();
  app.add_option("--repel", repel, "balanced: repulsion weight w_r")->capture_default_str();
  app.add_option("--positive-weight", positive_weight, "balanced: w_p ∈ [0,1] (1 = NT-Xent, 0 = D1)")
      ->capture_default_str();
  app.add_option("--nu", nu, "balanced: ν = attraction weight (as we read the paper; docs/derivation.md §6, §9)");
  app.add_option("--beta", beta, "balanced: β = repulsion weight (as we read the paper)");
  app.add_option("--rho", rho, "balanced: ρ = β/ν, sets w_r = ρ·w_a (as we read the paper)");
  app.add_option("--lambda", lambda, "derived/supervised and the bounds: λ")->capture_default_str();
  app.add_option("--grad-out", grad_out, "write ∂L/∂Z (unnormalised input, input dtype) to this .npy");
  app.add_option("--max-rows", g_max_rows, "rows and columns printed per matrix")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return exit_code_for_parse(rc);
  }

  try {
    std::cerr << "kernels: " << kernel_report() << "\n";  // stderr: stdout is the inspection itself
    // ---- the batch
    Tensor f;
    if (!embeddings.empty()) {
      const NpyInfo info = read_npy_info(embeddings);  // the dtype as written (int32 loads as i64)
      CONTRA_CHECK(info.shape.size() == 2 && (info.descr == "<f4" || info.descr == "<f8"), "inspect_loss --embeddings",
                   embeddings, ": expected a float32/float64 (M, D) array, got ", info.dtype, " ",
                   shape_str(info.shape));
      f = load_npy(embeddings);
    } else {
      Generator g(seed);
      f = Tensor::randn({images * views, dim}, g, DType::f64).to(dtype_name_opt == "f32" ? DType::f32 : DType::f64);
    }
    const ViewLayout L = ViewLayout::for_rows(f.size(0), views, "inspect_loss --views");
    const std::int64_t M = L.M();
    Tensor labels;
    if (!labels_path.empty()) {
      labels = load_npy(labels_path);
    } else if (train::find_loss(loss_name).uses_labels || app.count("--classes") > 0) {
      Generator g(seed ^ 0x9e3779b97f4a7c15ULL);
      std::vector<std::int64_t> y(static_cast<size_t>(L.N));
      for (std::int64_t x = 0; x < L.N; ++x)
        y[x] = x < classes ? x : static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(classes)));
      labels = Tensor::from_vector(y, {L.N});
    }
    BalancedParams p;
    p.temperature = temperature;
    p.attract = attract;
    p.repel = repel;
    p.positive_weight = positive_weight;
    p = with_paper_aliases(p, PaperAliases{nu, beta, rho});
    std::printf("inspect_loss: loss %s, N=%lld images × V=%lld views = M=%lld rows (view-major), D=%lld, %s, %s\n",
                loss_name.c_str(), static_cast<long long>(L.N), static_cast<long long>(L.V),
                static_cast<long long>(M), static_cast<long long>(f.size(1)), dtype_name(f.dtype()),
                embeddings.empty() ? ("seed " + std::to_string(seed)).c_str() : embeddings.c_str());
    std::printf("parameters: τ=%.12g", p.temperature);
    if (loss_name == "balanced")
      std::printf(" w_a(ν)=%.12g w_r(β)=%.12g ρ=β/ν=%.12g w_p=%.12g  [ν, β, ρ as we read the paper]", p.attract,
                  p.repel, p.attract > 0 ? p.repel / p.attract : 0.0, p.positive_weight);
    if (loss_name == "derived" || loss_name == "supervised") std::printf(" λ=%.12g", lambda);
    std::printf("\n");
    std::vector<std::int64_t> y_rows;
    if (labels.defined()) {
      const Tensor yr = row_labels(labels, L, "inspect_loss --labels");
      y_rows = yr.to_vector<std::int64_t>();
      print_vector("labels per row", yr.to(DType::f64));
    }

    // ---- the steps, differentiable, in the input's dtype
    const Tensor x = f.detach().clone();
    x.set_requires_grad(true);
    print_matrix("f (input rows)", x);
    print_vector("‖f_i‖", sqrt(sum(x * x, {1})));
    const Tensor z = normalize_embeddings(x);
    print_matrix("z̄ = f/‖f‖  (docs/derivation.md §0)", z);
    const Tensor S = similarity_matrix(z);
    print_matrix("S = Z̄Z̄ᵀ  (cosine similarities)", S);
    Tensor loss, grad_wrt;  // grad_wrt: the matrix whose gradient is G
    const char* g_title = "G = ∂L/∂Λ";
    if (loss_name == "supervised") {
      const Tensor yr = row_labels(labels, L, "inspect_loss");
      const PrototypeReading rd = prototype_reading_from_name(reading_name == "cosine" ? "cosine" : "inner");
      ClassPrototypes cp = class_prototypes(prototype_inputs(x, rd), yr);
      cp.mu = scored_prototypes(cp.mu, rd, cp.present);
      print_matrix(rd == PrototypeReading::inner_product ? "class prototypes μ_c = class means of z̄  (S2)"
                                                         : "class prototypes m̂_c = m_c/‖m_c‖, m_c = class means of f  (S2, cosine reading)",
                   cp.mu);
      const Tensor scores = matmul(z, transpose(cp.mu, 0, 1));
      print_matrix("scores z̄·μ_c  (M, C)", scores);
      const Tensor per = supervised_prototype_per_anchor(z, yr, cp, lambda);
      print_vector("ℓ_i = −z̄·μ_y + λ max_{c≠y} z̄·μ_c  (S1)", per);
      loss = mean(per);
      grad_wrt = scores;
      g_title = "G = ∂L/∂(z̄·μ_c)  (M, C)";
    } else {
      const Tensor logits = scaled_logits(S, p.temperature);
      print_matrix("Λ = S/τ  (logits)", logits);
      grad_wrt = logits;
      if (loss_name == "balanced") {
        const Tensor A = balanced_attraction(logits, L, p);
        const Tensor logD = balanced_log_denominator(logits, L, p);
        print_matrix("log W (weights inside D_i: log w_p on P(i), log ω on N(i), −inf elsewhere)",
                     balanced_log_weights(L, p, logits.dtype()));
        print_vector("A_i = −w_a/|P| Σ_p Λ_ip  (attraction)", A);
        print_vector("log D_i = log(w_p Σ_p e^Λ_ip + Σ_N ω e^Λ_ik)  (stable log-sum-exp)", logD);
        const Tensor per = A + scale(logD, p.repel);
        print_vector("ℓ_i = A_i + w_r log D_i  (docs/derivation.md §6)", per);
        loss = anchor_weighted_mean(per, p.anchor_weights);
      } else if (loss_name == "nt_xent") {
        const Tensor per = nt_xent_per_anchor(logits, L);
        print_vector("ℓ_i = −log(e^Λ_ip / Σ_{k≠i} e^Λ_ik)  (NT)", per);
        loss = mean(per);
      } else if (loss_name == "derived") {
        const Tensor per = derived_per_anchor(logits, L, lambda);
        print_vector("ℓ_i = −mean_P Λ_ip + λ log Σ_N e^Λ_ik  (D1)", per);
        loss = mean(per);
      } else {  // supcon
        const Tensor per = supcon_per_anchor(logits, row_labels(labels, L, "inspect_loss"));
        print_vector("ℓ_i = −mean_{p: y_p=y_i} log softmax_{a≠i}(Λ_i)_p  (SupCon L_out)", per);
        loss = mean(per);
      }
    }
    std::printf("loss (step-by-step)  % .15e\n", loss.item());

    // ---- gradients: G = ∂L/∂Λ and ∂L/∂f from autograd
    {
      const auto gs = contra::grad(loss, {grad_wrt, x});
      print_matrix(g_title, gs[0]);
      if (loss_name != "supervised") print_balance(gs[0], L, loss_name == "supcon" ? &y_rows : nullptr);
      print_matrix("∂L/∂f  (through (I − z̄z̄ᵀ)/‖f‖)", gs[1]);
      if (loss_name == "balanced") {
        FusedOptions o;
        o.keep_logit_grad = true;
        const Tensor xf = f.detach().clone();
        xf.set_requires_grad(true);
        const BalancedOutput out = balanced_loss(xf, L, p, o);
        std::printf("loss (fused)         % .15e   |fused − step-by-step| = %.3e\n", out.loss.item(),
                    std::abs(out.loss.item() - loss.item()));
        std::printf("max |G_fused − G_autograd| = %.3e,  max |∂L/∂f fused − autograd| = %.3e\n",
                    max(abs(out.logit_grad - gs[0])).item(), max(abs(out.input_grad - gs[1])).item());
        print_telemetry(out.telemetry);
      }
      if (!grad_out.empty()) {
        save_npy(grad_out, gs[1].detach().contiguous());
        std::printf("wrote ∂L/∂Z %s to %s\n", shape_str(gs[1].shape()).c_str(), grad_out.c_str());
      }
    }

    // ---- bounds and PRB when labels are known
    if (labels.defined()) {
      BoundsOptions bo;
      bo.lambda = lambda;
      bo.temperature = p.temperature;
      for (const char* r : {"inner", "cosine"}) {
        if (reading_name != "both" && reading_name != r) continue;
        bo.reading = prototype_reading_from_name(r);
        std::printf("%s", format_bounds(compute_bounds(f, L, labels, bo), 4 * g_max_rows).c_str());
      }
      const Tensor y_img = Tensor::from_vector(std::vector<std::int64_t>(y_rows.begin(), y_rows.begin() + L.N), {L.N});
      std::printf("PRB of this batch (K = V views per image; docs/derivation.md §3):\n%s",
                  format_prb(prototype_representation_bias(f, L.V, y_img)).c_str());
    } else {
      std::printf("bounds (B1)–(B3) and PRB: pass --labels y.npy (or --classes C for random labels)\n");
    }
    if (!balance_stem.empty()) balance_figure(f, L, p, anchor, balance_stem);
    return kExitOk;
  } catch (const train::UsageError& e) {
    std::fprintf(stderr, "inspect_loss: %s\n", e.what());
    return kExitUsage;
  } catch (const contra::Error& e) {  // a runtime error: exit 1 like every tool (exit_codes.h)
    std::fprintf(stderr, "inspect_loss: %s\n", e.what());
    return kExitRuntimeError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inspect_loss: internal error: %s\n", e.what());
    return kExitRuntimeError;
  }
}
