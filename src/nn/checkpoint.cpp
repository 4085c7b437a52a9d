// checkpoint.cpp — see checkpoint.h for the layout.
#include "nn/checkpoint.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace contra::nn {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json rng_to_json(const std::map<std::string, Generator::State>& rng) {
  json j = json::object();
  for (const auto& [name, st] : rng) {
    json words = json::array();
    for (auto w : st) {
      char buf[17];
      std::snprintf(buf, sizeof buf, "%016" PRIx64, w);
      words.push_back(buf);
    }
    j[name] = words;
  }
  return j;
}

std::map<std::string, Generator::State> rng_from_json(const json& j, const std::string& path) {
  std::map<std::string, Generator::State> out;
  CONTRA_CHECK(j.is_object(), path, "metadata contra.rng must be an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    CONTRA_CHECK(it.value().is_array() && it.value().size() == 4, path, "contra.rng entry '", abbreviate(it.key()),
                 "' must hold 4 words");
    Generator::State st{};
    for (int i = 0; i < 4; ++i) {
      const auto& w = it.value()[i];
      const bool hex = w.is_string() && w.get_ref<const std::string&>().size() == 16 &&
                       w.get_ref<const std::string&>().find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
      CONTRA_CHECK(hex, path, "contra.rng entry '", abbreviate(it.key()), "' word ", i, " must be 16 hex digits");
      st[i] = std::stoull(w.get<std::string>(), nullptr, 16);
    }
    out[it.key()] = st;
  }
  return out;
}

json parse_meta(const Metadata& m, const char* key, const std::string& path) {
  auto it = m.find(key);
  if (it == m.end()) return json();
  return parse_json_bounded(it->second, path, std::string("metadata ") + key);
}

// A config value for a message (the saved side comes from a file: never printed whole).
std::string shown(const json& v) { return abbreviate(v.dump(), 120); }

void diff_into(const json& a, const json& b, const std::string& prefix, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    std::vector<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) keys.push_back(it.key());
    for (const auto& k : keys) {
      const std::string name = prefix.empty() ? k : prefix + "." + k;
      if (!a.contains(k)) out.push_back(abbreviate(name) + ": (absent) → " + shown(b[k]));
      else if (!b.contains(k)) out.push_back(abbreviate(name) + ": " + shown(a[k]) + " → (absent)");
      else diff_into(a[k], b[k], name, out);
    }
    return;
  }
  if (a != b) out.push_back((prefix.empty() ? std::string("(root)") : abbreviate(prefix)) + ": " + shown(a) + " → " + shown(b));
}

std::int64_t step_of_name(const std::string& name) {
  static const std::regex pattern(R"(ckpt-([0-9]{1,18})\.safetensors)");
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) return -1;
  return std::stoll(m[1].str());
}

}  // namespace

std::optional<NonFinite> find_non_finite(const StateDict& tensors) {
  for (const auto& [name, t] : tensors) {
    if (!t.defined() || !is_floating(t.dtype())) continue;
    const std::vector<double> v = t.to_vector<double>();  // a host read, once per load
    std::optional<NonFinite> bad;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (std::isfinite(v[i])) continue;
      if (!bad) bad = NonFinite{name, 0, static_cast<std::int64_t>(i), v[i]};
      ++bad->count;
    }
    if (bad) return bad;
  }
  return std::nullopt;
}

void check_finite(const StateDict& tensors, const std::string& source) {
  if (const auto bad = find_non_finite(tensors))
    throw Error(source,
                detail::concat("tensor '", abbreviate(bad->name), "' holds ", bad->count, " non-finite value(s) (",
                               bad->value, " at flat index ", bad->index, ")"),
                "the weights are corrupt or diverged; use an earlier checkpoint");
}

void save_checkpoint(const std::string& path, const StateDict& model, const Optimizer* optimizer,
                     const TrainingState& state) {
  StateDict all;
  for (const auto& [k, t] : model) {
    CONTRA_CHECK(k.rfind("optimizer.", 0) != 0, "save_checkpoint", "model tensor '", k,
                 "' uses the reserved prefix 'optimizer.'");
    all.emplace_back(k, t);
  }
  Metadata meta;
  meta["format"] = "pt";
  meta["contra.checkpoint"] = "1";
  meta["contra.step"] = std::to_string(state.step);
  meta["contra.config"] = state.config.dump();
  meta["contra.data_cursor"] = state.data_cursor.dump();
  meta["contra.rng"] = rng_to_json(state.rng).dump();
  meta["contra.extra"] = state.extra.dump();
  if (optimizer) {
    meta["contra.optimizer"] = optimizer->state_json().dump();
    for (const auto& [k, t] : optimizer->state_tensors()) all.emplace_back(kOptimizerPrefix + k, t);
  }
  save_safetensors(path, all, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  Checkpoint c;
  c.path = path;
  c.metadata = f.metadata;
  const std::string prefix = kOptimizerPrefix;
  for (auto& [k, t] : f.tensors) {
    if (k.rfind(prefix, 0) == 0) c.optimizer_tensors.emplace_back(k.substr(prefix.size()), t);
    else c.model.emplace_back(k, t);
  }
  check_finite(c.model, path);
  check_finite(c.optimizer_tensors, path + " (optimizer state)");
  c.optimizer = parse_meta(f.metadata, "contra.optimizer", path);
  CONTRA_CHECK(c.optimizer_tensors.empty() || !c.optimizer.is_null(), path,
               "has optimizer tensors but no contra.optimizer metadata");
  if (f.metadata.count("contra.checkpoint")) {
    TrainingState st;
    const std::string& step = f.metadata.count("contra.step") ? f.metadata.at("contra.step") : std::string();
    try {
      std::size_t used = 0;
      st.step = std::stoll(step, &used);
      CONTRA_CHECK(used == step.size() && st.step >= 0, path, "metadata contra.step '", abbreviate(step), "' is not a step");
    } catch (const std::logic_error&) {
      throw Error(path, "metadata contra.step '" + abbreviate(step) + "' is not a step number");
    }
    st.config = parse_meta(f.metadata, "contra.config", path);
    st.data_cursor = parse_meta(f.metadata, "contra.data_cursor", path);
    const json rng = parse_meta(f.metadata, "contra.rng", path);
    if (!rng.is_null()) st.rng = rng_from_json(rng, path);
    st.extra = parse_meta(f.metadata, "contra.extra", path);
    c.training = st;
  }
  return c;
}

std::vector<std::string> config_differences(const json& saved, const json& current) {
  std::vector<std::string> out;
  diff_into(saved, current, "", out);
  return out;
}

void check_config_compatible(const std::string& path, const json& saved, const json& current) {
  const auto diffs = config_differences(saved, current);
  if (diffs.empty()) return;
  std::string list;
  for (const auto& d : diffs) list += (list.empty() ? "" : "; ") + d;
  throw Error(path, "cannot resume: the configuration differs from the checkpoint's (" + list + ")",
              "use the checkpoint's configuration, or load its weights only as an initialisation");
}

CheckpointManager::CheckpointManager(std::string dir, int keep_last) : dir_(std::move(dir)), keep_last_(keep_last) {
  CONTRA_CHECK(keep_last >= 1, "CheckpointManager", "keep_last must be ≥ 1, got ", keep_last);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  CONTRA_CHECK(!ec && fs::is_directory(dir_), "CheckpointManager", "cannot create checkpoint directory ", dir_, ": ",
               ec.message());
  stale_removed_ = remove_stale_temp_files(dir_);
}

std::vector<std::string> CheckpointManager::list() const {
  std::vector<std::pair<std::int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    const std::int64_t step = step_of_name(name);
    if (step >= 0 && e.is_regular_file(ec)) found.emplace_back(step, name);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [_, n] : found) out.push_back((fs::path(dir_) / n).string());
  return out;
}

std::string CheckpointManager::save(const StateDict& model, const Optimizer* optimizer, const TrainingState& state,
                                    const std::function<void()>& before_latest) {
  char name[64];
  std::snprintf(name, sizeof name, "ckpt-%08" PRId64 ".safetensors", state.step);
  const std::string path = (fs::path(dir_) / name).string();
  save_checkpoint(path, model, optimizer, state);  // durable before the pointer moves
  if (before_latest) before_latest();
  write_file_atomically((fs::path(dir_) / "latest").string(), std::string(name) + "\n");
  auto all = list();
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep_last_) < all.size(); ++i) {
    std::error_code ec;
    if (fs::path(all[i]).filename() != name) fs::remove(all[i], ec);
  }
  return path;
}

std::optional<Checkpoint> CheckpointManager::load_latest(std::vector<std::string>* skipped) const {
  std::vector<std::string> candidates;
  const fs::path pointer = fs::path(dir_) / "latest";
  std::error_code ec;
  if (fs::exists(pointer, ec)) {
    try {
      std::string name = read_file_bytes(pointer.string());
      while (!name.empty() && (name.back() == '\n' || name.back() == '\r' || name.back() == ' ')) name.pop_back();
      if (step_of_name(name) >= 0) candidates.push_back((fs::path(dir_) / name).string());
      else if (skipped) skipped->push_back(pointer.string() + ": does not name a checkpoint file ('" + name + "')");
    } catch (const Error& e) {
      if (skipped) skipped->push_back(e.what());
    }
  }
  auto all = list();
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (std::find(candidates.begin(), candidates.end(), *it) == candidates.end()) candidates.push_back(*it);
  for (const auto& path : candidates) {
    try {
      return load_checkpoint(path);
    } catch (const Error& e) {
      if (skipped) skipped->push_back(e.what());
    }
  }
  return std::nullopt;
}

}  // namespace contra::nn
