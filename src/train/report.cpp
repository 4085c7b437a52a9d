#include "train/report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tensor/atomic_file.h"
#include "train/eval_writer.h"
#include "train/metrics_log.h"
#include "train/plots.h"
#include "train/report_doc.h"

namespace contra::train {

namespace fs = std::filesystem;

namespace {

// "k=20, T=0.1": the kNN monitor's settings as the run recorded them (manifest.json).
std::string knn_settings(const nlohmann::json& manifest) {
  if (manifest.is_null() || !manifest.contains("config") || !manifest["config"].contains("eval")) return "kNN";
  const auto& e = manifest["config"]["eval"];
  std::ostringstream os;
  os << "k=" << e.value("knn_k", std::int64_t{0}) << ", T=" << e.value("knn_temperature", 0.0);
  return os.str();
}

}  // namespace

nlohmann::json read_run_manifest(const std::string& run_dir) {
  std::ifstream f(run_dir + "/manifest.json");
  if (!f) return nullptr;
  auto j = nlohmann::json::parse(f, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::string write_report(const std::string& run_dir) {
  const std::optional<EvalResults> evaluation = read_evaluation(run_dir + "/eval");
  return write_report(run_dir, read_run_manifest(run_dir), evaluation ? &*evaluation : nullptr);
}

std::string write_report(const std::string& run_dir, const nlohmann::json& manifest, const EvalResults* evaluation) {
  const auto entries = JsonlLog::read(run_dir + "/metrics.jsonl");

  // curves.csv from metrics.jsonl
  bool have_curves = false;
  if (!entries.empty()) {
    std::ostringstream c;
    c << "step,loss,attraction,repulsion,lr,images_per_s\n";
    for (const auto& e : entries) {
      if (!e.contains("loss")) continue;
      c << e.value("step", 0) << "," << e.value("loss", NAN) << "," << e.value("attraction", NAN) << ","
        << e.value("repulsion", NAN) << "," << e.value("lr", NAN) << "," << e.value("images_per_s", NAN) << "\n";
      have_curves = true;
    }
    write_file_atomically(run_dir + "/curves.csv", c.str());
  }
  if (have_curves) {
    Figure loss;
    loss.csv = run_dir + "/curves.csv";
    loss.out_stem = run_dir + "/training_loss";
    loss.title = "Training loss";
    loss.xlabel = "step";
    loss.ylabel = "loss";
    loss.y2label = "learning rate";
    loss.series = {{"loss", 2}, {"learning rate", 5, "lines", true}};
    draw(loss);
    Figure ar = loss;
    ar.out_stem = run_dir + "/attraction_repulsion";
    ar.title = "Attraction (−w_a·mean s_ip/τ) and repulsion (w_r·log D_i) terms of the loss (docs/derivation.md §6)";
    ar.ylabel = "term value";
    ar.series = {{"attraction", 3}, {"repulsion", 4}};
    draw(ar);
  }
  const bool have_epochs = fs::exists(run_dir + "/epochs.csv");
  if (have_epochs) {
    Figure k;
    k.csv = run_dir + "/epochs.csv";
    k.out_stem = run_dir + "/knn_accuracy";
    k.title = "kNN monitor accuracy (" + knn_settings(manifest) + ") per epoch";
    k.xlabel = "epoch";
    k.ylabel = "test accuracy";
    k.series = {{"kNN accuracy", 3, "linespoints"}};
    draw(k);
  }

  ReportDoc d;
  d.h(1, "contra run report: " + fs::path(run_dir).filename().string());
  if (!manifest.is_null()) {
    const auto& cfg = manifest["config"];
    ReportTable t{{"setting", "value"}, {}};
    auto add = [&](const std::string& k, const nlohmann::json& v) {
      t.rows.push_back({k, v.is_string() ? v.get<std::string>() : v.dump()});
    };
    for (const char* sec : {"data", "model", "loss", "optim"})
      if (cfg.contains(sec))
        for (auto& [k, v] : cfg[sec].items()) add(std::string(sec) + "." + k, v);
    if (manifest.contains("dataset")) add("pretraining images", manifest["dataset"].value("images", nlohmann::json(nullptr)));
    if (manifest.contains("training")) {
      for (auto& [k, v] : manifest["training"].items()) add("training." + k, v);
    }
    d.h(2, "Configuration");
    d.table(t);
  }
  if (have_curves || have_epochs) {
    d.h(2, "Training");
    if (have_curves) {
      d.image("training_loss.png", "training loss");
      d.image("attraction_repulsion.png", "attraction and repulsion terms");
    }
    if (have_epochs) d.image("knn_accuracy.png", "kNN accuracy per epoch");
    d.p("Data: [metrics.jsonl](metrics.jsonl), [curves.csv](curves.csv), [epochs.csv](epochs.csv).");
  }
  if (evaluation) add_evaluation_report(d, *evaluation);
  const std::string md_path = run_dir + "/report.md";
  write_file_atomically(md_path, d.md.str());
  write_file_atomically(run_dir + "/report.html", d.html_page("contra report"));
  return md_path;
}

}  // namespace contra::train
