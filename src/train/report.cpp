#include "train/report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "train/metrics_log.h"
#include "train/plots.h"

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

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  auto j = nlohmann::json::parse(f, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

// A table kept as rows so it can be written as Markdown and as HTML.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string md() const {
    std::ostringstream os;
    os << "|";
    for (auto& h : header) os << " " << h << " |";
    os << "\n|";
    for (size_t i = 0; i < header.size(); ++i) os << "---|";
    os << "\n";
    for (auto& r : rows) {
      os << "|";
      for (auto& c : r) os << " " << c << " |";
      os << "\n";
    }
    return os.str();
  }
  std::string html() const {
    std::ostringstream os;
    os << "<table><tr>";
    for (auto& h : header) os << "<th>" << h << "</th>";
    os << "</tr>";
    for (auto& r : rows) {
      os << "<tr>";
      for (auto& c : r) os << "<td>" << c << "</td>";
      os << "</tr>";
    }
    os << "</table>\n";
    return os.str();
  }
};

struct Doc {
  std::ostringstream md, html;
  void h(int level, const std::string& t) {
    md << std::string(level, '#') << " " << t << "\n\n";
    html << "<h" << level << ">" << t << "</h" << level << ">\n";
  }
  void p(const std::string& t) {
    md << t << "\n\n";
    html << "<p>" << t << "</p>\n";
  }
  void table(const Table& t) {
    md << t.md() << "\n";
    html << t.html();
  }
  void image(const std::string& rel_png, const std::string& alt) {
    md << "![" << alt << "](" << rel_png << ")\n\n";
    html << "<p><img src=\"" << rel_png << "\" alt=\"" << alt << "\" style=\"max-width:100%\"></p>\n";
  }
};

}  // namespace

std::string write_report(const std::string& run_dir) {
  const nlohmann::json manifest = read_json(run_dir + "/manifest.json");
  const nlohmann::json results = read_json(run_dir + "/eval/results.json");
  const auto entries = JsonlLog::read(run_dir + "/metrics.jsonl");

  // curves.csv from metrics.jsonl
  bool have_curves = false;
  if (!entries.empty()) {
    std::ofstream c(run_dir + "/curves.csv");
    c << "step,loss,attraction,repulsion,lr,images_per_s\n";
    for (const auto& e : entries) {
      if (!e.contains("loss")) continue;
      c << e.value("step", 0) << "," << e.value("loss", NAN) << "," << e.value("attraction", NAN) << ","
        << e.value("repulsion", NAN) << "," << e.value("lr", NAN) << "," << e.value("images_per_s", NAN) << "\n";
      have_curves = true;
    }
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
    k.title = "kNN monitor accuracy (k=200, T=0.1) per epoch";
    k.xlabel = "epoch";
    k.ylabel = "test accuracy";
    k.series = {{"kNN accuracy", 3, "linespoints"}};
    draw(k);
  }

  Doc d;
  d.h(1, "contra run report: " + fs::path(run_dir).filename().string());
  if (!manifest.is_null()) {
    const auto& cfg = manifest["config"];
    Table t{{"setting", "value"}, {}};
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
    Table t{{"encoder", "kNN (full bank) %", "kNN (LT bank) %", "linear probe %", "few-shot probe %",
             "probe many / medium / few %", "group std"}, {}};
    for (auto& [name, e] : results["encoders"].items()) {
      std::string few = "–";
      if (e.contains("few_shot_probe") && !e["few_shot_probe"].empty()) {
        const auto& f = e["few_shot_probe"][0];
        few = pct(f["mean"]) + " ± " + pct(f["std"]) + " (" + std::to_string(f["shots_per_class"].get<int>()) + "/class)";
      }
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
    Table prb{{"encoder", "where", "PRB raw", "PRB normalised", "views × images"}, {}};
    for (auto& [name, e] : results["encoders"].items())
      if (e.contains("prb"))
        for (auto& [where, r] : e["prb"].items())
          prb.rows.push_back({name, where, num(r["raw"]), num(r["normalised"]),
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
  std::ofstream(md_path) << d.md.str();
  std::ofstream(run_dir + "/report.html")
      << "<!doctype html><html><head><meta charset=\"utf-8\"><title>contra report</title><style>"
         "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>\n"
      << d.html.str() << "</body></html>\n";
  return md_path;
}

}  // namespace contra::train
