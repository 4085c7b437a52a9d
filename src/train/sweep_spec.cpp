// sweep_spec.cpp — reading a sweep file (see sweep_spec.h for the format).
#include "train/sweep_spec.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <toml++/toml.h>

#include "train/toml_text.h"

namespace contra::train {

namespace fs = std::filesystem;

namespace {

std::string where(const std::string& file, const toml::node& n) {
  const auto& s = n.source();
  return file + ":" + std::to_string(s.begin.line) + ":" + std::to_string(s.begin.column);
}

std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return buf;
}

// A scalar TOML value as the text a command-line flag would carry.
std::optional<std::string> scalar_text(const toml::node& n) {
  if (auto s = n.value_exact<std::string>()) return *s;
  if (auto i = n.value_exact<std::int64_t>()) return std::to_string(*i);
  if (auto d = n.value_exact<double>()) return format_number(*d);
  if (auto b = n.value_exact<bool>()) return std::string(*b ? "true" : "false");
  return std::nullopt;
}

// Keys a sweep decides itself.
const char* reserved_reason(const std::string& key) {
  if (key == "run.seed") return "seeds are listed in [sweep] seeds";
  if (key == "run.name" || key == "run.out") return "the sweep names its runs (<out>/runs/<point>-seed<s>)";
  if (key == "run.resume") return "the sweep resumes interrupted runs itself";
  if (key == "run.preset") return "the base preset is [sweep] base";
  if (key == "run.threads") return "threads are split between jobs by tools/sweep (--threads, -j)";
  if (key == "eval.final") return "the sweep evaluates every run with tools/evaluate ([evaluate])";
  return nullptr;
}

// Checks that `key` is a configuration key a sweep may set; throws naming `src`.
void check_key(const std::string& key, const std::string& src) {
  bool known = false;
  std::string valid;
  for (const auto& f : config_fields()) {
    known = known || f.key == key;
    valid += (valid.empty() ? "" : ", ") + f.key;
  }
  if (!known) throw UsageError(src, "unknown configuration key \"" + key + "\"", "valid keys: " + valid);
  if (const char* why = reserved_reason(key)) throw UsageError(src, key + " cannot be set in a sweep", why);
}

// Flattens nested tables into dotted keys: visit(key, node) for every leaf. A table for
// which `is_leaf` says yes (an axis range) is a leaf too.
void flatten(const toml::table& t, const std::string& prefix, const std::function<bool(const toml::table&)>& is_leaf,
             const std::function<void(const std::string&, const toml::node&)>& visit) {
  for (const auto& [k, node] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = node.as_table(); sub && !is_leaf(*sub)) flatten(*sub, key, is_leaf, visit);
    else visit(key, node);
  }
}

std::vector<SweepSetting> settings_of(const toml::table& t, const std::string& file,
                                      const std::vector<std::string>& skip = {}) {
  std::vector<SweepSetting> out;
  flatten(t, "", [](const toml::table&) { return false; }, [&](const std::string& key, const toml::node& n) {
    for (const auto& s : skip)
      if (s == key) return;
    const std::string src = where(file, n);
    check_key(key, src);
    const auto text = scalar_text(n);
    if (!text) throw UsageError(src, key + " must be a string, number or boolean");
    out.push_back({key, *text, src});
  });
  return out;
}

// `loss.repel = [0.6, 0.8]` or `{ from, to, step }` or `{ from, to, count, log }`.
SweepAxis axis_of(const std::string& key, const toml::node& n, const std::string& file) {
  SweepAxis a{key, {}, where(file, n)};
  check_key(key, a.source);
  if (const toml::array* arr = n.as_array()) {
    for (const auto& v : *arr) {
      const auto text = scalar_text(v);
      if (!text) throw UsageError(where(file, v), "values of axis " + key + " must be strings, numbers or booleans");
      a.values.push_back(*text);
    }
  } else if (const toml::table* r = n.as_table()) {
    auto num = [&](const char* name) -> std::optional<double> {
      const toml::node* v = r->get(name);
      if (!v) return std::nullopt;
      if (!v->is_number()) throw UsageError(where(file, *v), "axis " + key + ": " + name + " must be a number");
      return v->value<double>();
    };
    for (const auto& [k, v] : *r) {
      const std::string s(k.str());
      if (s != "from" && s != "to" && s != "step" && s != "count" && s != "log")
        throw UsageError(where(file, v), "axis " + key + ": unknown range field \"" + s + "\"",
                         "a range is { from, to, step } or { from, to, count, log = true }");
    }
    const auto from = num("from"), to = num("to"), step = num("step"), count = num("count");
    const bool log = r->get("log") && r->get("log")->value<bool>().value_or(false);
    if (!from || !to || (!step == !count))
      throw UsageError(a.source, "axis " + key + ": a range needs from, to and one of step or count",
                       "loss.repel = { from = 0.5, to = 1.5, step = 0.25 }");
    if (step) {
      if (!(*step > 0) || *to < *from)
        throw UsageError(a.source, "axis " + key + ": the range needs step > 0 and to ≥ from");
      const auto n_values = static_cast<std::int64_t>(std::floor((*to - *from) / *step + 1e-9)) + 1;
      for (std::int64_t i = 0; i < n_values; ++i) a.values.push_back(format_number(*from + static_cast<double>(i) * *step));
    } else {
      const auto n_values = static_cast<std::int64_t>(*count);
      if (n_values < 1 || static_cast<double>(n_values) != *count)
        throw UsageError(a.source, "axis " + key + ": count must be a positive integer");
      if (log && !(*from > 0 && *to > 0)) throw UsageError(a.source, "axis " + key + ": a log range needs from, to > 0");
      for (std::int64_t i = 0; i < n_values; ++i) {
        const double t = n_values == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n_values - 1);
        a.values.push_back(format_number(log ? *from * std::pow(*to / *from, t) : *from + t * (*to - *from)));
      }
    }
  } else {
    throw UsageError(a.source, "axis " + key + " must be a list of values or a range table",
                     "loss.repel = [0.6, 0.8] or loss.repel = { from = 0.5, to = 1.5, step = 0.25 }");
  }
  if (a.values.empty()) throw UsageError(a.source, "axis " + key + " has no values");
  return a;
}

std::string dir_safe(std::string s) {
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) c = '_';
  return s;
}

void apply(PretrainConfig& c, const std::vector<SweepSetting>& settings) {
  const auto fields = config_fields();
  for (const auto& s : settings)
    if (const ConfigField* f = find_field(fields, s.key)) f->set_from_text(c, s.value, s.source);
}

// [sweep]: name, base (a preset or a .toml file), seeds (a count or a list), out.
void parse_sweep_section(const toml::table& t, const std::string& file, SweepSpec& spec) {
  for (const auto& [kk, v] : t) {
    const std::string key(kk.str());
    const std::string src = where(file, v);
    if (key == "name" || key == "base" || key == "out") {
      if (!v.is_string()) throw UsageError(src, "sweep." + key + " must be a string");
      const std::string s = *v.value<std::string>();
      if (key == "name") spec.name = s;
      else if (key == "out") spec.out = s;
      else spec.base = s;
    } else if (key == "seeds") {
      spec.seeds.clear();
      if (auto n = v.value_exact<std::int64_t>()) {
        if (*n < 1) throw UsageError(src, "sweep.seeds = " + std::to_string(*n) + " must be ≥ 1");
        for (std::int64_t s = 0; s < *n; ++s) spec.seeds.push_back(s);
      } else if (const toml::array* arr = v.as_array()) {
        for (const auto& e : *arr) {
          const auto s = e.value_exact<std::int64_t>();
          if (!s || *s < 0) throw UsageError(where(file, e), "seeds must be integers ≥ 0");
          for (auto prev : spec.seeds)
            if (prev == *s) throw UsageError(where(file, e), "seed " + std::to_string(*s) + " is listed twice");
          spec.seeds.push_back(*s);
        }
        if (spec.seeds.empty()) throw UsageError(src, "sweep.seeds is empty");
      } else {
        throw UsageError(src, "sweep.seeds must be a list of integers or a count", "seeds = [0, 1, 2] or seeds = 3");
      }
    } else {
      throw UsageError(src, "unknown key \"sweep." + key + "\"", "valid keys in [sweep]: name, base, seeds, out");
    }
  }
}

// [evaluate]: the evaluation protocol of every run (few-shot probes, PRB, baselines).
void parse_evaluate_section(const toml::table& t, const std::string& file, SweepEvaluate& out) {
  for (const auto& [kk, v] : t) {
    const std::string key(kk.str());
    const std::string src = where(file, v);
    auto integer = [&](std::int64_t lo, std::int64_t hi) {
      const auto i = v.value_exact<std::int64_t>();
      if (!i || *i < lo || *i > hi)
        throw UsageError(src, "evaluate." + key + " must be an integer in [" + std::to_string(lo) + ", " +
                                  std::to_string(hi) + "]");
      return *i;
    };
    if (key == "few_shot") {
      const toml::array* arr = v.as_array();
      if (!arr) throw UsageError(src, "evaluate.few_shot must be a list of shots per class", "few_shot = [100, 50]");
      out.few_shot.clear();
      for (const auto& e : *arr) {
        const auto s = e.value_exact<std::int64_t>();
        if (!s || *s < 1) throw UsageError(where(file, e), "few-shot counts must be integers ≥ 1");
        out.few_shot.push_back(*s);
      }
    } else if (key == "few_shot_draws") {
      out.few_shot_draws = static_cast<int>(integer(1, 100));
    } else if (key == "prb_views") {
      out.prb_views = static_cast<int>(integer(0, 256));
    } else if (key == "prb_images") {
      out.prb_images = integer(1, 10000000);
    } else if (key == "probe_epochs") {
      out.probe_epochs = integer(1, 100000);
    } else if (key == "baselines") {
      if (!v.is_boolean()) throw UsageError(src, "evaluate.baselines must be true or false");
      out.baselines = *v.value<bool>();
    } else {
      throw UsageError(src, "unknown key \"evaluate." + key + "\"",
                       "valid keys in [evaluate]: few_shot, few_shot_draws, prb_views, prb_images, probe_epochs, baselines");
    }
  }
}

}  // namespace

SweepSpec SweepSpec::parse_file(const std::string& path) {
  std::ifstream f(path);
  if (!f.good()) throw UsageError(path, "cannot read the sweep file", "check the path");
  std::stringstream ss;
  ss << f.rdbuf();
  const fs::path parent = fs::path(path).parent_path();
  return parse_string(ss.str(), path, parent.empty() ? "." : parent.string());
}

SweepSpec SweepSpec::parse_string(const std::string& text, const std::string& file, const std::string& base_dir) {
  const toml::table root = parse_toml_checked(text, file);
  SweepSpec spec;
  spec.path = file;
  spec.name = fs::path(file).stem().string();
  spec.base = "fashion_mnist_lt_small";
  std::vector<SweepSetting> grid_only;
  std::string baseline_label = "baseline";
  const toml::table* baseline_table = nullptr;
  for (const auto& [k, node] : root) {
    const std::string section(k.str());
    const toml::table* t = node.as_table();
    if (!t) throw UsageError(where(file, node), "\"" + section + "\" must be a [section]",
                             "sections: [sweep] [set] [grid] [axes] [baseline] [evaluate]");
    if (section == "sweep") {
      parse_sweep_section(*t, file, spec);
    } else if (section == "set") {
      spec.set = settings_of(*t, file);
    } else if (section == "grid") {
      grid_only = settings_of(*t, file);
    } else if (section == "axes") {
      flatten(*t, "", [](const toml::table& r) { return r.contains("from"); },
              [&](const std::string& key, const toml::node& n) {
                for (const auto& a : spec.axes)
                  if (a.key == key) throw UsageError(where(file, n), "axis " + key + " is given twice");
                spec.axes.push_back(axis_of(key, n, file));
              });
    } else if (section == "baseline") {
      baseline_table = t;
      if (const toml::node* l = t->get("label")) {
        if (!l->is_string()) throw UsageError(where(file, *l), "baseline.label must be a string");
        baseline_label = *l->value<std::string>();
      }
    } else if (section == "evaluate") {
      parse_evaluate_section(*t, file, spec.evaluate);
    } else {
      throw UsageError(where(file, node), "unknown section [" + section + "]",
                       "sections: [sweep] [set] [grid] [axes] [baseline] [evaluate]");
    }
  }
  if (spec.out.empty()) spec.out = "sweeps/" + spec.name;
  if (spec.base.size() > 5 && spec.base.compare(spec.base.size() - 5, 5, ".toml") == 0) {
    spec.base_is_file = true;
    if (fs::path(spec.base).is_relative()) spec.base = (fs::path(base_dir) / spec.base).lexically_normal().string();
  }

  // Points: the baseline, then the product of the axes (the first axis outermost).
  if (baseline_table) {
    SweepPoint b;
    b.label = baseline_label;
    b.name = "baseline";
    b.baseline = true;
    b.values = settings_of(*baseline_table, file, {"label"});
    spec.points.push_back(b);
  }
  std::vector<size_t> index(spec.axes.size(), 0);
  while (true) {
    SweepPoint p;
    for (size_t a = 0; a < spec.axes.size(); ++a) {
      const auto& axis = spec.axes[a];
      const std::string& v = axis.values[index[a]];
      p.label += (p.label.empty() ? "" : ", ") + axis.key + "=" + v;
      const std::string short_key = axis.key.substr(axis.key.rfind('.') + 1);
      p.name += (p.name.empty() ? "" : "_") + dir_safe(short_key + "_" + v);
      p.values.push_back({axis.key, v, axis.source});
    }
    for (const auto& g : grid_only) p.values.insert(p.values.begin(), g);
    if (p.label.empty()) {
      p.label = "base";
      p.name = "base";
    }
    spec.points.push_back(p);
    size_t a = spec.axes.size();
    while (a > 0 && ++index[a - 1] == spec.axes[a - 1].values.size()) index[--a] = 0;
    if (a == 0) break;
  }
  // Every run's configuration must be valid before anything runs.
  for (const auto& p : spec.points)
    for (auto seed : spec.seeds) (void)spec.config_for(p, seed);
  return spec;
}

PretrainConfig SweepSpec::config_for(const SweepPoint& point, std::int64_t seed) const {
  PretrainConfig c;
  if (base_is_file) apply_toml_file(c, base);
  else apply_preset(c, base);
  apply(c, set);
  apply(c, point.values);
  c.seed = seed;
  c.final_eval = false;  // evaluation is the sweep's second step (tools/evaluate)
  c.name = run_name(point, seed);
  try {
    validate(c);
  } catch (const Error& e) {
    // Named by the line of the point's last value (its axis or baseline key), else the file.
    const std::string at = point.values.empty() ? path : point.values.back().source;
    throw UsageError(at + ": point \"" + point.label + "\", seed " + std::to_string(seed), e.where() + ": " + e.detail(),
                     e.hint().empty() ? "fix [set], [grid], [axes] or [baseline]" : e.hint());
  }
  return c;
}

std::string SweepSpec::run_name(const SweepPoint& point, std::int64_t seed) {
  return point.name + "-seed" + std::to_string(seed);
}

const SweepPoint* SweepSpec::baseline() const {
  for (const auto& p : points)
    if (p.baseline) return &p;
  return nullptr;
}

}  // namespace contra::train
