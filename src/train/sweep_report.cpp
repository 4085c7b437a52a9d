// sweep_report.cpp — aggregation and the sweep's report (see sweep_report.h).
#include "train/sweep_report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "tensor/atomic_file.h"
#include "train/eval_writer.h"
#include "train/plots.h"
#include "train/report_doc.h"

namespace contra::train {

namespace fs = std::filesystem;

namespace {

// The PRB metrics (backbone/head, test/pretraining images), correlated with accuracy.
const std::vector<std::string> kPrbKeys = {"prb_backbone", "prb_head", "prb_lt_backbone", "prb_lt_head"};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fixed(double v, int prec) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

std::string csv_num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Fractions are shown in percent points.
double shown(const SweepMetric& m, double v) { return m.fraction ? 100.0 * v : v; }
int decimals(const SweepMetric& m) { return m.fraction ? 1 : 3; }

std::string mean_pm_std(const SweepMetric& m, const MeanStd& s) {
  if (s.n == 0) return "–";
  std::string t = fixed(shown(m, s.mean), decimals(m));
  if (s.n >= 2) t += " ± " + fixed(shown(m, s.std), decimals(m) + 1);
  return t;
}

std::string difference_text(const SweepMetric& m, const PairedDifference& d) {
  if (d.n == 0) return "–";
  const int p = decimals(m);
  std::string t = (d.mean >= 0 ? "+" : "") + fixed(shown(m, d.mean), p);
  if (d.n >= 2) t += " [" + fixed(shown(m, d.lo()), p) + ", " + fixed(shown(m, d.hi()), p) + "]";
  return d.excludes_zero() ? "**" + t + "**" : t;
}

const nlohmann::json* at(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return nullptr;
    p = &(*p)[k];
  }
  return p->is_number() ? p : nullptr;
}

bool is_number(const std::string& s) {
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

}  // namespace

SweepRunRecord sweep_run_record(const SweepSpec& spec, size_t point, std::int64_t seed, const std::string& out) {
  SweepRunRecord r;
  r.point = point;
  r.seed = seed;
  r.name = SweepSpec::run_name(spec.points[point], seed);
  r.dir = out + "/runs/" + r.name;
  r.log = out + "/logs/" + r.name + ".log";
  return r;
}

std::vector<SweepMetric> sweep_metrics(const std::vector<std::int64_t>& few_shot) {
  std::vector<SweepMetric> m = {{"knn_full", "kNN (full bank) %"}, {"knn_lt", "kNN (LT bank) %"},
                                {"probe", "linear probe %"}};
  for (auto k : few_shot) m.push_back({"few_shot_" + std::to_string(k), "few-shot " + std::to_string(k) + "/class %"});
  for (const SweepMetric& g : std::vector<SweepMetric>{{"probe_many", "probe many %"},
                                                       {"probe_medium", "probe medium %"},
                                                       {"probe_few", "probe few %"},
                                                       {"probe_group_std", "group spread (std) %"},
                                                       {"prb_backbone", "PRB backbone", false},
                                                       {"prb_head", "PRB head", false},
                                                       {"prb_lt_backbone", "PRB backbone (LT images)", false},
                                                       {"prb_lt_head", "PRB head (LT images)", false}})
    m.push_back(g);
  return m;
}

std::map<std::string, double> run_metrics(const nlohmann::json& results) {
  std::map<std::string, double> m;
  if (!results.is_object() || !results.contains("encoders") || !results["encoders"].contains("pretrained")) return m;
  const nlohmann::json& e = results["encoders"]["pretrained"];
  auto take = [&](const std::string& key, std::initializer_list<const char*> path) {
    if (const nlohmann::json* v = at(e, path)) m[key] = v->get<double>();
  };
  take("knn_full", {"knn_full_bank", "overall"});
  take("knn_lt", {"knn_lt_bank", "overall"});
  take("probe", {"linear_probe", "overall"});
  take("probe_many", {"linear_probe", "terciles", "many"});
  take("probe_medium", {"linear_probe", "terciles", "medium"});
  take("probe_few", {"linear_probe", "terciles", "few"});
  take("probe_group_std", {"linear_probe", "terciles", "std"});
  take("prb_backbone", {"prb", "backbone", "normalised"});
  take("prb_head", {"prb", "head", "normalised"});
  take("prb_lt_backbone", {"prb_pretrain", "backbone", "normalised"});
  take("prb_lt_head", {"prb_pretrain", "head", "normalised"});
  if (e.contains("few_shot_probe"))
    for (const auto& f : e["few_shot_probe"])
      if (f.contains("shots_per_class") && f.contains("mean") && f["mean"].is_number())
        m["few_shot_" + std::to_string(f["shots_per_class"].get<std::int64_t>())] = f["mean"].get<double>();
  return m;
}

SweepReport::SweepReport(const SweepSpec& spec, std::vector<SweepRunRecord> runs)
    : spec_(spec), runs_(std::move(runs)), metric_list_(sweep_metrics(spec.evaluate.few_shot)) {
  for (const auto& r : runs_) {
    std::map<std::string, double> m;
    if (r.status == "finished")
      if (const std::optional<EvalResults> e = read_evaluation(r.dir + "/eval")) m = run_metrics(e->json);
    metrics_.push_back(std::move(m));
  }
}

std::vector<double> SweepReport::values(size_t point, const std::string& metric) const {
  std::vector<double> v(spec_.seeds.size(), kNaN);
  for (size_t i = 0; i < runs_.size(); ++i) {
    if (runs_[i].point != point) continue;
    const auto it = metrics_[i].find(metric);
    if (it == metrics_[i].end()) continue;
    for (size_t s = 0; s < spec_.seeds.size(); ++s)
      if (spec_.seeds[s] == runs_[i].seed) v[s] = it->second;
  }
  return v;
}

MeanStd SweepReport::summary(size_t point, const std::string& metric) const {
  std::vector<double> finite;
  for (double v : values(point, metric))
    if (std::isfinite(v)) finite.push_back(v);
  return mean_std(finite);
}

PairedDifference SweepReport::versus_baseline(size_t point, const std::string& metric) const {
  for (size_t b = 0; b < spec_.points.size(); ++b)
    if (spec_.points[b].baseline) return paired_difference(values(point, metric), values(b, metric));
  return {};
}

double SweepReport::correlation(const std::string& x, const std::string& y) const {
  std::vector<double> a, b;
  for (const auto& m : metrics_) {
    const auto ix = m.find(x), iy = m.find(y);
    if (ix == m.end() || iy == m.end()) continue;
    a.push_back(ix->second);
    b.push_back(iy->second);
  }
  return pearson(a, b);
}

void SweepReport::write(const std::string& out_dir, const nlohmann::json& compute, bool figures) const {
  write_file_atomically(out_dir + "/sweep.json", sweep_json(compute).dump(2) + "\n");
  write_summary_csv(out_dir);
  std::int64_t finished = 0;
  for (const auto& r : runs_) finished += r.status == "finished";
  const FigureList figure_files = figures && finished > 0 ? write_figures(out_dir) : FigureList{};
  write_report(out_dir, compute, figure_files);
}

// sweep.json: the spec, the compute, every run with its metrics, every point's summary and
// difference to the baseline, and the PRB–accuracy correlations.
nlohmann::json SweepReport::sweep_json(const nlohmann::json& compute) const {
  const auto& points = spec_.points;
  const SweepPoint* base = spec_.baseline();
  nlohmann::json j;
  j["spec"] = {{"path", spec_.path}, {"name", spec_.name}, {"base", spec_.base}, {"seeds", spec_.seeds}};
  for (const auto& s : spec_.set) j["spec"]["set"][s.key] = s.value;
  for (const auto& a : spec_.axes) j["spec"]["axes"][a.key] = a.values;
  j["spec"]["evaluate"] = {{"few_shot", spec_.evaluate.few_shot}, {"few_shot_draws", spec_.evaluate.few_shot_draws},
                           {"prb_views", spec_.evaluate.prb_views}, {"prb_images", spec_.evaluate.prb_images},
                           {"baselines", spec_.evaluate.baselines}};
  j["compute"] = compute;
  {
    double run_seconds = 0.0;
    for (const auto& r : runs_) run_seconds += r.seconds;
    j["compute"]["run_seconds_summed"] = run_seconds;
  }
  j["runs"] = nlohmann::json::array();
  for (size_t i = 0; i < runs_.size(); ++i) {
    const auto& r = runs_[i];
    j["runs"].push_back({{"name", r.name}, {"point", points[r.point].label}, {"seed", r.seed}, {"dir", r.dir},
                         {"log", r.log}, {"status", r.status}, {"message", r.message}, {"seconds", r.seconds},
                         {"metrics", metrics_[i]}});
  }
  j["points"] = nlohmann::json::array();
  for (size_t p = 0; p < points.size(); ++p) {
    nlohmann::json pj = {{"label", points[p].label}, {"name", points[p].name}, {"baseline", points[p].baseline}};
    for (const auto& v : points[p].values) pj["values"][v.key] = v.value;
    for (const auto& m : metric_list_) {
      const MeanStd s = summary(p, m.key);
      if (s.n == 0) continue;
      nlohmann::json mj = {{"mean", s.mean}, {"n", s.n}, {"per_seed", nlohmann::json::array()}};
      mj["std"] = std::isfinite(s.std) ? nlohmann::json(s.std) : nlohmann::json(nullptr);
      for (double v : values(p, m.key)) mj["per_seed"].push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
      const PairedDifference d = versus_baseline(p, m.key);
      if (base && !points[p].baseline && d.n > 0) {
        mj["vs_baseline"] = {{"mean", d.mean}, {"pairs", d.n}};
        if (d.n >= 2) mj["vs_baseline"]["ci95"] = {d.lo(), d.hi()};
      }
      pj["metrics"][m.key] = mj;
    }
    j["points"].push_back(pj);
  }
  const std::vector<std::string> acc_keys = {"probe", "knn_full", "knn_lt"};
  for (const auto& x : kPrbKeys)
    for (const auto& y : acc_keys) {
      const double r = correlation(x, y);
      j["correlations"][x + " vs " + y] = std::isfinite(r) ? nlohmann::json(r) : nlohmann::json(nullptr);
    }
  return j;
}

// summary.csv: one row per point, mean/std and the difference to the baseline per metric.
void SweepReport::write_summary_csv(const std::string& out_dir) const {
  const auto& points = spec_.points;
  const SweepPoint* base = spec_.baseline();
  {
    std::ostringstream f;
    f << "point,label,baseline";
    for (const auto& a : spec_.axes) f << "," << a.key;
    f << ",seeds_finished";
    for (const auto& m : metric_list_)
      f << "," << m.key << "_mean," << m.key << "_std," << m.key << "_delta," << m.key << "_ci_lo," << m.key << "_ci_hi";
    f << "\n";
    for (size_t p = 0; p < points.size(); ++p) {
      f << points[p].name << ",\"" << points[p].label << "\"," << (points[p].baseline ? 1 : 0);
      for (const auto& a : spec_.axes) {
        std::string v;
        for (const auto& pv : points[p].values)
          if (pv.key == a.key) v = pv.value;
        f << "," << v;
      }
      f << "," << summary(p, "probe").n;
      for (const auto& m : metric_list_) {
        const MeanStd s = summary(p, m.key);
        const PairedDifference d = versus_baseline(p, m.key);
        const bool has_d = base && !points[p].baseline && d.n > 0;
        f << "," << csv_num(s.mean) << "," << csv_num(s.std) << "," << (has_d ? csv_num(d.mean) : "") << ","
          << (has_d ? csv_num(d.lo()) : "") << "," << (has_d ? csv_num(d.hi()) : "");
      }
      f << "\n";
    }
    write_file_atomically(out_dir + "/summary.csv", f.str());
  }
}

SweepMetric SweepReport::metric(const std::string& key) const {
  for (const auto& m : metric_list_)
    if (m.key == key) return m;
  return SweepMetric{key, key};
}

// figures/: accuracy and group accuracy against each axis, and PRB against accuracy.
SweepReport::FigureList SweepReport::write_figures(const std::string& out_dir) const {
  FigureList figure_files;
  const std::string fig_dir = out_dir + "/figures";
  fs::create_directories(fig_dir);
  for (const auto& axis : spec_.axes) axis_figures(fig_dir, axis, figure_files);
  prb_figure(fig_dir, figure_files);
  return figure_files;
}

// Two panels against one axis (accuracies; many/medium/few groups): one curve per group of
// points sharing the other axes' values, the baseline dashed.
void SweepReport::axis_figures(const std::string& fig_dir, const SweepAxis& axis, FigureList& figure_files) const {
  const auto& points = spec_.points;
  const SweepPoint* base = spec_.baseline();
  const std::vector<std::vector<std::string>> panels = {{"probe", "knn_full", "knn_lt"},
                                                        {"probe_many", "probe_medium", "probe_few"}};
  bool numeric = true;
  for (const auto& v : axis.values) numeric = numeric && is_number(v);
  // Points grouped by the values of the other axes: one curve per group.
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t p = 0; p < points.size(); ++p) {
    if (points[p].baseline) continue;
    std::string others;
    for (const auto& v : points[p].values)
      for (const auto& a : spec_.axes)
        if (a.key == v.key && v.key != axis.key) others += (others.empty() ? "" : ", ") + v.key + "=" + v.value;
    groups[others].push_back(p);
  }
  const std::string short_key = axis.key.substr(axis.key.rfind('.') + 1);
  for (size_t panel = 0; panel < panels.size(); ++panel) {
    Figure fig;
    fig.out_stem = fig_dir + "/" + std::string(panel == 0 ? "accuracy" : "groups") + "_vs_" + short_key;
    fig.title = std::string(panel == 0 ? "Accuracy" : "Linear-probe accuracy of the many / medium / few classes") +
                " against " + axis.key + " (mean ± std over seeds)";
    fig.xlabel = axis.key;
    fig.ylabel = "test accuracy %";
    if (!numeric) fig.xtics_column = "2";
    int g = 0;
    for (const auto& [others, members] : groups) {
      const std::string csv = fig_dir + "/" + (panel == 0 ? "accuracy" : "groups") + "_vs_" + short_key + "_" +
                              std::to_string(g) + ".csv";
      std::ostringstream f;
      f << "x,label";
      for (const auto& k : panels[panel]) f << "," << k << "_mean," << k << "_std";
      for (const auto& k : panels[panel]) f << ",baseline_" << k;
      f << "\n";
      for (size_t i = 0; i < members.size(); ++i) {
        const size_t p = members[i];
        std::string value;
        for (const auto& v : points[p].values)
          if (v.key == axis.key) value = v.value;
        f << (numeric ? value : std::to_string(i)) << "," << value;
        for (const auto& k : panels[panel]) {
          const MeanStd s = summary(p, k);
          f << "," << csv_num(shown(metric(k), s.mean)) << "," << csv_num(std::isfinite(s.std) ? shown(metric(k), s.std) : 0.0);
        }
        for (const auto& k : panels[panel]) {
          double b = kNaN;
          for (size_t q = 0; q < points.size(); ++q)
            if (points[q].baseline) b = summary(q, k).mean;
          f << "," << csv_num(shown(metric(k), b));
        }
        f << "\n";
      }
      write_file_atomically(csv, f.str());
      const std::string suffix = others.empty() ? "" : " (" + others + ")";
      for (size_t k = 0; k < panels[panel].size(); ++k) {
        Series s{metric(panels[panel][k]).label + suffix, static_cast<int>(3 + 2 * k), "yerrorlines"};
        s.err_column = static_cast<int>(4 + 2 * k);
        s.csv = csv;
        fig.series.push_back(s);
      }
      if (base && g == 0)
        for (size_t k = 0; k < panels[panel].size(); ++k) {
          Series s{metric(panels[panel][k]).label + ", " + base->label, static_cast<int>(3 + 2 * panels[panel].size() + k),
                   "lines dt 2"};
          s.csv = csv;
          fig.series.push_back(s);
        }
      ++g;
    }
    fig.csv = fig.series.empty() ? "" : fig.series.front().csv;
    if (!fig.series.empty() && draw(fig))
      figure_files.push_back({"figures/" + fs::path(fig.out_stem).filename().string() + ".png", fig.title});
  }
}

// PRB against linear-probe accuracy, one point per finished run.
void SweepReport::prb_figure(const std::string& fig_dir, FigureList& figure_files) const {
  const auto& points = spec_.points;
  const std::string csv = fig_dir + "/prb_vs_accuracy.csv";
  std::ostringstream f;
  f << "run,point,seed,probe,knn_lt";
  for (const auto& k : kPrbKeys) f << "," << k;
  f << "\n";
  for (size_t i = 0; i < runs_.size(); ++i) {
    if (metrics_[i].empty()) continue;
    auto get = [&](const std::string& k) {
      const auto it = metrics_[i].find(k);
      return it == metrics_[i].end() ? kNaN : it->second;
    };
    f << runs_[i].name << ",\"" << points[runs_[i].point].label << "\"," << runs_[i].seed << ","
      << csv_num(100 * get("probe")) << "," << csv_num(100 * get("knn_lt"));
    for (const auto& k : kPrbKeys) f << "," << csv_num(get(k));
    f << "\n";
  }
  write_file_atomically(csv, f.str());
  Figure fig;
  fig.csv = csv;
  fig.out_stem = fig_dir + "/prb_vs_accuracy";
  fig.title = "PRB (normalised, docs/derivation.md §3) against linear-probe accuracy, every run";
  fig.xlabel = "prototype representation bias";
  fig.ylabel = "linear-probe accuracy %";
  for (size_t k = 0; k < kPrbKeys.size(); ++k) {
    const double r = correlation(kPrbKeys[k], "probe");
    Series s{metric(kPrbKeys[k]).label + " (r = " + fixed(r, 2) + ")", 4, "points pt " + std::to_string(5 + 2 * k)};
    s.x_column = static_cast<int>(6 + k);
    fig.series.push_back(s);
  }
  if (draw(fig)) figure_files.push_back({"figures/prb_vs_accuracy.png", fig.title});
}

// report.md / report.html: the spec, the tables over seeds, the differences, the figures, the runs.
void SweepReport::write_report(const std::string& out_dir, const nlohmann::json& compute,
                               const FigureList& figure_files) const {
  const auto& points = spec_.points;
  const SweepPoint* base = spec_.baseline();
  std::int64_t finished = 0, failed = 0, open = 0;
  for (const auto& r : runs_) (r.status == "finished" ? finished : r.status == "failed" ? failed : open)++;
  ReportDoc d;
  d.h(1, "contra sweep: " + spec_.name);
  {
    std::string set_text, axes_text;
    for (const auto& s : spec_.set) set_text += (set_text.empty() ? "" : ", ") + s.key + " = " + s.value;
    for (const auto& a : spec_.axes) {
      std::string vs;
      for (const auto& v : a.values) vs += (vs.empty() ? "" : ", ") + v;
      axes_text += (axes_text.empty() ? "" : "; ") + a.key + " ∈ {" + vs + "}";
    }
    std::string seeds;
    for (auto s : spec_.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
    d.p("Spec `" + spec_.path + "`: base " + spec_.base + (set_text.empty() ? "" : "; for every run: " + set_text) +
        (axes_text.empty() ? "" : "; axes: " + axes_text) + "; seeds " + seeds +
        (base ? "; baseline: " + base->label : "") + ".");
    double run_seconds = 0.0;
    for (const auto& r : runs_) run_seconds += r.seconds;
    std::string comp;
    for (auto& [k, v] : compute.items()) comp += (comp.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
    d.p("Runs: " + std::to_string(finished) + " finished, " + std::to_string(failed) + " failed, " +
        std::to_string(open) + " not finished (pending or stopped). Wall time of the runs, summed: " +
        fixed(run_seconds / 60.0, 1) + " min. Compute: " + comp + ".");
  }
  auto table_for = [&](const std::vector<std::string>& keys, bool differences) {
    ReportTable t;
    t.header = {"point", "seeds"};
    for (const auto& k : keys)
      for (const auto& m : metric_list_)
        if (m.key == k) t.header.push_back(differences ? "Δ " + m.label : m.label);
    for (size_t p = 0; p < points.size(); ++p) {
      if (differences && points[p].baseline) continue;
      std::vector<std::string> row = {points[p].label, std::to_string(summary(p, "probe").n)};
      for (const auto& k : keys)
        for (const auto& m : metric_list_)
          if (m.key == k) row.push_back(differences ? difference_text(m, versus_baseline(p, k)) : mean_pm_std(m, summary(p, k)));
      t.rows.push_back(row);
    }
    return t;
  };
  std::vector<std::string> accuracy_keys = {"knn_full", "knn_lt", "probe"};
  for (auto k : spec_.evaluate.few_shot) accuracy_keys.push_back("few_shot_" + std::to_string(k));
  const std::vector<std::string> group_keys = {"probe_many", "probe_medium", "probe_few", "probe_group_std"};
  d.h(2, "Accuracy (mean ± std over seeds)");
  d.table(table_for(accuracy_keys, false));
  d.h(2, "Long-tailed groups of the linear probe (mean ± std over seeds)");
  d.table(table_for(group_keys, false));
  d.h(2, "Prototype representation bias (normalised; mean ± std over seeds)");
  d.table(table_for(kPrbKeys, false));
  if (base) {
    d.h(2, "Difference to the baseline (" + base->label + "), paired over seeds");
    d.p("Δ = mean over seeds of (point − baseline) on the same seed (same data split and initialisation), with "
        "the 95 % Student-t interval over the seed differences; **bold** where the interval excludes 0, i.e. the "
        "difference exceeds the seed noise. Accuracies in percent points.");
    std::vector<std::string> keys = accuracy_keys;
    keys.insert(keys.end(), group_keys.begin(), group_keys.end());
    d.table(table_for(keys, true));
    d.table(table_for(kPrbKeys, true));
  }
  {
    d.h(2, "PRB against accuracy (every finished run)");
    ReportTable t{{"PRB", "r with linear probe", "r with kNN (full bank)", "r with kNN (LT bank)"}, {}};
    for (const auto& x : kPrbKeys) {
      std::string label = x;
      for (const auto& m : metric_list_)
        if (m.key == x) label = m.label;
      t.rows.push_back({label, fixed(correlation(x, "probe"), 2), fixed(correlation(x, "knn_full"), 2),
                        fixed(correlation(x, "knn_lt"), 2)});
    }
    d.table(t);
    d.p("Pearson's r over runs; negative r means the bias falls as accuracy rises.");
  }
  if (!figure_files.empty()) {
    d.h(2, "Figures");
    for (const auto& [png, caption] : figure_files) d.image(png, caption);
  }
  {
    d.h(2, "Runs");
    ReportTable t{{"run", "point", "seed", "status", "seconds", "report / log"}, {}};
    for (const auto& r : runs_) {
      const std::string rel = fs::relative(r.dir, out_dir).string();
      const std::string logrel = fs::relative(r.log, out_dir).string();
      t.rows.push_back({r.name, points[r.point].label, std::to_string(r.seed),
                        r.status + (r.message.empty() ? "" : ": " + r.message), fixed(r.seconds, 0),
                        (r.status == "finished" ? "[report](" + rel + "/report.md), " : std::string()) + "[log](" + logrel + ")"});
    }
    d.table(t);
    d.p("Data: [sweep.json](sweep.json), [summary.csv](summary.csv)" +
        std::string(figure_files.empty() ? "" : ", figures/*.csv") + ".");
  }
  write_file_atomically(out_dir + "/report.md", d.md.str());
  write_file_atomically(out_dir + "/report.html", d.html_page("contra sweep " + spec_.name));
}

}  // namespace contra::train
