#include "train/report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tensor/atomic_file.h"
#include "train/metrics_log.h"
#include "train/plots.h"
#include "train/report_doc.h"

namespace contra::train {

namespace fs = std::filesystem;

namespace {

std::string pct(const nlohmann::json& v) {
  if (v.is_null() || !v.is_number()) return "–";
  std::ostringstream os;
  os.precision(1);
  os << std::fixed << 100.0 * v.get<double>();
  return os.str();
}

std::string num(const nlohmann::json& v, int prec = 4) {
  if (v.is_null() || !v.is_number()) return "–";
  std::ostringstream os;
  os.precision(prec);
  os << std::fixed << v.get<double>();
  return os.str();
}

// "k=20, T=0.1": the kNN monitor's settings as the run recorded them (manifest.json).
std::string knn_settings(const nlohmann::json& manifest) {
  if (manifest.is_null() || !manifest.contains("config") || !manifest["config"].contains("eval")) return "kNN";
  const auto& e = manifest["config"]["eval"];
  std::ostringstream os;
  os << "k=" << e.value("knn_k", std::int64_t{0}) << ", T=" << e.value("knn_temperature", 0.0);
  return os.str();
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  auto j = nlohmann::json::parse(f, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

}  // namespace

std::string write_report(const std::string& run_dir) {
  const nlohmann::json manifest = read_json(run_dir + "/manifest.json");
  const nlohmann::json results = read_json(run_dir + "/eval/results.json");
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
  if (!results.is_null()) {
    d.h(2, "Evaluation (balanced test set)");
    ReportTable t{{"encoder", "kNN (full bank) %", "kNN (LT bank) %", "linear probe %", "few-shot probe %",
             "probe many / medium / few %", "group std"}, {}};
    for (auto& [name, e] : results["encoders"].items()) {
      std::string few;
      if (e.contains("few_shot_probe"))
        for (const auto& f : e["few_shot_probe"])
          few += std::string(few.empty() ? "" : "; ") + pct(f["mean"]) + " ± " + pct(f["std"]) + " (" +
                 std::to_string(f["shots_per_class"].get<int>()) + "/class)";
      if (few.empty()) few = "–";
      const auto& lp = e["linear_probe"];
      t.rows.push_back({name, pct(e["knn_full_bank"]["overall"]),
                        e.contains("knn_lt_bank") ? pct(e["knn_lt_bank"]["overall"]) : "–", pct(lp["overall"]), few,
                        pct(lp["terciles"]["many"]) + " / " + pct(lp["terciles"]["medium"]) + " / " + pct(lp["terciles"]["few"]),
                        pct(lp["terciles"]["std"])});
    }
    d.table(t);
    d.p("many / medium / few: mean per-class accuracy over terciles of the pretraining class counts (SDCLR "
        "convention). The probe is trained on cached backbone features of the balanced training set.");
    d.image("eval/per_class_accuracy.png", "per-class accuracy");
    ReportTable prb{{"encoder", "where", "PRB raw", "PRB normalised", "views × images"}, {}};
    for (auto& [name, e] : results["encoders"].items())
      for (const char* key : {"prb", "prb_pretrain"})
        if (e.contains(key))
          for (auto& [where, r] : e[key].items())
            prb.rows.push_back({name, where + (std::string(key) == "prb" ? " (balanced test)" : " (LT pretraining)"),
                                num(r["raw"]), num(r["normalised"]),
                                std::to_string(r["views"].get<int>()) + " × " + std::to_string(r["images"].get<int>())});
    if (!prb.rows.empty()) {
      d.h(2, "Prototype representation bias (docs/derivation.md §3)");
      d.table(prb);
      d.image("eval/prb_per_class.png", "PRB per class");
    }
    d.p("Data: [eval/results.json](eval/results.json), [eval/summary.csv](eval/summary.csv), "
        "[eval/per_class.csv](eval/per_class.csv), [eval/prb_per_class.csv](eval/prb_per_class.csv).");
  }
  const std::string md_path = run_dir + "/report.md";
  write_file_atomically(md_path, d.md.str());
  write_file_atomically(run_dir + "/report.html", d.html_page("contra report"));
  return md_path;
}

}  // namespace contra::train
