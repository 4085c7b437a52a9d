// eval_writer.cpp — the files of an evaluation, from its results. See eval_writer.h.
#include "train/eval_writer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "tensor/atomic_file.h"
#include "tensor/npy.h"
#include "train/plots.h"
#include "train/report_doc.h"

namespace contra::train {

namespace {

std::string fixed_text(double v, int prec) {
  std::ostringstream os;
  os.precision(prec);
  os << std::fixed << v;
  return os.str();
}

// A number for the CSVs: fixed with `prec` decimals, "" for NaN.
std::string fmt(double v, int prec = 4) { return std::isnan(v) ? "" : fixed_text(v, prec); }

// For the report: a number, and a fraction as a percentage; "–" when the value is missing
// (null, or NaN, which results.json holds as null).
bool present(const nlohmann::json& v) { return v.is_number() && !std::isnan(v.get<double>()); }
std::string num(const nlohmann::json& v, int prec = 4) { return present(v) ? fixed_text(v.get<double>(), prec) : "–"; }
std::string pct(const nlohmann::json& v) { return present(v) ? fixed_text(100.0 * v.get<double>(), 1) : "–"; }

// Boxes per class, the class names (CSV column 2) on the x axis.
Figure class_bars(const std::string& csv, const std::string& out_stem, const std::string& title, const std::string& xlabel,
                  const std::string& ylabel) {
  Figure fig;
  fig.csv = csv;
  fig.out_stem = out_stem;
  fig.title = title;
  fig.xlabel = xlabel;
  fig.ylabel = ylabel;
  fig.boxes = true;
  fig.xtics_column = "2";
  return fig;
}

// summary.csv: one row per encoder and kNN/probe metric, with the many/medium/few groups.
void write_summary_csv(const EvalResults& r, const std::string& out_dir) {
  const nlohmann::json& results = r.json;
  std::ostringstream f;
  f << "encoder,metric,overall,mean_per_class,many,medium,few,group_std\n";
  for (auto& [name, e] : results["encoders"].items())
    for (const char* metric : {"knn_full_bank", "knn_lt_bank", "linear_probe"})
      if (e.contains(metric)) {
        const auto& m = e[metric];
        auto cell = [](const nlohmann::json& v) { return v.is_null() ? std::string() : fmt(v.get<double>()); };
        f << name << "," << metric << "," << cell(m["overall"]) << "," << cell(m["mean_per_class"]) << ","
          << cell(m["terciles"]["many"]) << "," << cell(m["terciles"]["medium"]) << "," << cell(m["terciles"]["few"])
          << "," << cell(m["terciles"]["std"]) << "\n";
      }
  write_file_atomically(out_dir + "/summary.csv", f.str());
}

// per_class.csv and its figure: probe and kNN accuracy per class, classes by pretraining count.
void write_per_class(const EvalResults& r, const std::string& out_dir) {
  const nlohmann::json& results = r.json;
  const std::vector<std::int64_t> pretrain_counts = results["pretrain_counts"].get<std::vector<std::int64_t>>();
  const std::vector<std::string> class_names = results["class_names"].get<std::vector<std::string>>();
  const int C = static_cast<int>(class_names.size());
  // Classes sorted by pretraining count (descending): accuracy against frequency.
  std::vector<int> order(C);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return pretrain_counts[a] > pretrain_counts[b]; });
  std::ostringstream f;
  std::vector<std::string> names;
  for (auto& [name, e] : results["encoders"].items()) names.push_back(name);
  f << "rank,class,pretrain_count";
  for (const auto& n : names) f << "," << n << " probe," << n << " kNN";
  f << "\n";
  for (int r = 0; r < C; ++r) {
    const int c = order[r];
    f << r << "," << class_names[c] << " (" << pretrain_counts[c] << ")," << pretrain_counts[c];
    for (const auto& n : names) {
      const auto& e = results["encoders"][n];
      auto acc = [&](const char* m) {
        const auto& v = e[m]["per_class"][c];
        return v.is_null() ? std::string("nan") : fmt(v.get<double>());
      };
      f << "," << acc("linear_probe") << "," << acc("knn_full_bank");
    }
    f << "\n";
  }
  write_file_atomically(out_dir + "/per_class.csv", f.str());
  Figure fig = class_bars(out_dir + "/per_class.csv", out_dir + "/per_class_accuracy",
                          "Per-class linear-probe accuracy, classes by pretraining frequency (most frequent left)",
                          "class (sorted by pretraining count)", "test accuracy");
  fig.y2label = "pretraining images";
  for (size_t i = 0; i < names.size(); ++i) fig.series.push_back({names[i] + " (probe)", static_cast<int>(4 + 2 * i)});
  draw(fig);
}

// prb_per_class.csv and its figure: the prototype representation bias of every class.
void write_prb_per_class(const EvalResults& r, const std::string& out_dir) {
  const nlohmann::json& results = r.json;
  const std::vector<std::string> class_names = results["class_names"].get<std::vector<std::string>>();
  const int C = static_cast<int>(class_names.size());
  std::ostringstream f;
  f << "class,name";
  // Columns "<encoder> <where>" for the test subset, "<encoder> <where> LT" for the
  // pretraining images.
  struct PrbColumn {
    std::string encoder, key, where, label;
  };
  std::vector<PrbColumn> cols;
  for (auto& [name, e] : results["encoders"].items())
    for (const char* key : {"prb", "prb_pretrain"})
      if (e.contains(key))
        for (auto& [where, r] : e[key].items())
          cols.push_back({name, key, where, name + " " + where + (std::string(key) == "prb" ? "" : " LT")});
  for (const auto& col : cols) f << "," << col.label << " raw," << col.label << " normalised";
  f << "\n";
  for (int c = 0; c < C; ++c) {
    f << c << "," << class_names[c];
    for (const auto& col : cols) {
      std::string raw = "nan", nor = "nan";
      for (const auto& pc : results["encoders"][col.encoder][col.key][col.where]["per_class"])
        if (pc["label"] == c) {
          raw = fmt(pc["raw"].get<double>(), 5);
          nor = fmt(pc["normalised"].get<double>(), 5);
        }
      f << "," << raw << "," << nor;
    }
    f << "\n";
  }
  write_file_atomically(out_dir + "/prb_per_class.csv", f.str());
  if (!cols.empty()) {
    Figure fig = class_bars(out_dir + "/prb_per_class.csv", out_dir + "/prb_per_class",
                            "Prototype representation bias per class (normalised, docs/derivation.md §3; lower is better)",
                            "class", "mean ‖μ_y/‖μ_y‖ − μ_x/‖μ_x‖‖");
    for (size_t i = 0; i < cols.size(); ++i)
      fig.series.push_back({cols[i].label, static_cast<int>(4 + 2 * i)});
    draw(fig);
  }
}

}  // namespace

void write_evaluation(const EvalResults& r, const std::string& out_dir) {
  for (const auto& [stem, features] : r.test_features) save_npy(out_dir + "/features_" + stem + "_test.npy", features);
  write_file_atomically(out_dir + "/results.json", r.json.dump(2) + "\n");
  write_summary_csv(r, out_dir);
  write_per_class(r, out_dir);
  write_prb_per_class(r, out_dir);
}

void add_evaluation_report(ReportDoc& d, const EvalResults& r) {
  const nlohmann::json& results = r.json;
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
        for (auto& [where, p] : e[key].items())
          prb.rows.push_back({name, where + (std::string(key) == "prb" ? " (balanced test)" : " (LT pretraining)"),
                              num(p["raw"]), num(p["normalised"]),
                              std::to_string(p["views"].get<int>()) + " × " + std::to_string(p["images"].get<int>())});
  if (!prb.rows.empty()) {
    d.h(2, "Prototype representation bias (docs/derivation.md §3)");
    d.table(prb);
    d.image("eval/prb_per_class.png", "PRB per class");
  }
  d.p("Data: [eval/results.json](eval/results.json), [eval/summary.csv](eval/summary.csv), "
      "[eval/per_class.csv](eval/per_class.csv), [eval/prb_per_class.csv](eval/prb_per_class.csv).");
}

std::optional<EvalResults> read_evaluation(const std::string& out_dir) {
  std::ifstream f(out_dir + "/results.json");
  if (!f) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  EvalResults r;
  r.json = std::move(j);
  return r;
}

}  // namespace contra::train
