// safetensors files and checkpoints: bit-exact round trips, hostile and corrupt files
// (reliability.md C4, C5), atomic writes and the `latest` pointer (C1, C3), config checks (C6).
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "tensor/atomic_file.h"
#include "nn/checkpoint.h"
#include "nn/safetensors.h"
#include "nn/sgd.h"
#include "nn_test_util.h"

using namespace contra;
using namespace contra::nn;
using contra::nn_test::temp_dir;
namespace fs = std::filesystem;

namespace {

StateDict sample_tensors() {
  Generator gen(11);
  return {{"conv1.weight", Tensor::randn({4, 3, 3, 3}, gen)},
          {"bn1.running_var", Tensor::rand({4}, gen, DType::f64)},
          {"bn1.num_batches_tracked", Tensor::full({}, 7, DType::i64)},
          {"bytes", Tensor::from_vector<std::uint8_t>({0, 255, 3}, {3})},
          {"empty", Tensor::zeros({0, 5})}};
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

// A file with header `json` followed by `data_bytes` zero bytes.
std::string raw_file(const std::string& json, std::size_t data_bytes) {
  return le64(json.size()) + json + std::string(data_bytes, '\0');
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string parse_error(const std::string& bytes) {
  try {
    safetensors_parse(bytes, "hostile.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), x.numel() * dtype_size(x.dtype())) == 0;
}

}  // namespace

TEST_CASE("safetensors round trip is bit-exact, in order, with metadata") {
  const std::string dir = temp_dir("st_rt");
  const std::string path = dir + "/a.safetensors";
  const StateDict in = sample_tensors();
  save_safetensors(path, in, {{"note", "hello"}});
  const SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    CHECK(f.tensors[i].first == in[i].first);
    CHECK(same_bits(f.tensors[i].second, in[i].second));
  }
  CHECK(f.metadata.at("note") == "hello");
  CHECK(f.checksummed);
  // Layout: 8-byte length, header padded to a multiple of 8.
  const std::string bytes = read_file_bytes(path);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes[8] == '{');
  // Non-contiguous input is written as its logical contents.
  Tensor base = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = base.as_strided({3, 2}, {1, 3}, 0);  // transpose view
  save_safetensors(path, {{"t", t}});
  CHECK(load_safetensors(path).tensors[0].second.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  fs::remove_all(dir);
}

TEST_CASE("safetensors: a plain file without checksums (as PyTorch exports) loads") {
  // {"w": F32 (2,), "__metadata__": {"format": "pt"}}: what safetensors.torch.save_file writes.
  std::string header = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string bytes = le64(header.size()) + header;
  const float vals[2] = {1.5f, -2.0f};
  bytes.append(reinterpret_cast<const char*>(vals), 8);
  const SafetensorsFile f = safetensors_parse(bytes, "plain.safetensors");
  CHECK_FALSE(f.checksummed);
  CHECK(f.tensors[0].second.to_vector<float>() == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("safetensors: hostile headers are rejected with the file and tensor named (C5)") {
  const std::string T = R"("dtype":"F32","shape":[2],"data_offsets":)";
  // Too short, header length past the end, absurd length.
  CHECK(parse_error("abc").find("shorter than the 8-byte") != std::string::npos);
  CHECK(parse_error(le64(1000) + "{}").find("runs past the end") != std::string::npos);
  CHECK(parse_error(le64(~0ull) + "{}").find("runs past the end") != std::string::npos);
  // Not JSON, not an object.
  CHECK(parse_error(raw_file("{\"a\": ", 0)).find("not valid JSON") != std::string::npos);
  CHECK(parse_error(raw_file("[1, 2]", 0)).find("must be a JSON object") != std::string::npos);
  // Offsets past the end of the data.
  std::string e = parse_error(raw_file("{\"w\":{" + T + "[0,8]}}", 4));
  CHECK(e.find("'w'") != std::string::npos);
  CHECK(e.find("run past the end") != std::string::npos);
  CHECK(e.find("hostile.safetensors") != std::string::npos);
  // Overlapping ranges.
  CHECK(parse_error(raw_file("{\"a\":{" + T + "[0,8]},\"b\":{" + T + "[4,12]}}", 12)).find("overlap") !=
        std::string::npos);
  // A gap, and trailing bytes.
  CHECK(parse_error(raw_file("{\"a\":{" + T + "[0,8]},\"b\":{" + T + "[12,20]}}", 20)).find("gap") !=
        std::string::npos);
  CHECK(parse_error(raw_file("{\"a\":{" + T + "[0,8]}}", 16)).find("trailing") != std::string::npos);
  // shape × dtype ≠ byte range.
  e = parse_error(raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8));
  CHECK(e.find("is 12 bytes but data_offsets span 8") != std::string::npos);
  // Overflowing shapes.
  e = parse_error(raw_file(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8));
  CHECK(e.find("overflows") != std::string::npos);
  e = parse_error(raw_file(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", 8));
  CHECK(e.find("overflows") != std::string::npos);
  CHECK(parse_error(raw_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)).find("non-negative") !=
        std::string::npos);
  CHECK(parse_error(raw_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8)).find("non-negative") !=
        std::string::npos);
  // Duplicate names (top level and inside __metadata__).
  e = parse_error(raw_file("{\"w\":{" + T + "[0,8]},\"w\":{" + T + "[8,16]}}", 16));
  CHECK(e.find("duplicate name 'w'") != std::string::npos);
  CHECK(parse_error(raw_file(R"({"__metadata__":{"a":"1","a":"2"}})", 0)).find("duplicate") != std::string::npos);
  // Unknown and unsupported dtypes.
  CHECK(parse_error(raw_file(R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8)).find("unknown dtype 'Q7'") !=
        std::string::npos);
  CHECK(parse_error(raw_file(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4)).find("does not support") !=
        std::string::npos);
  // Reversed offsets, malformed entries and metadata.
  CHECK(parse_error(raw_file("{\"w\":{" + T + "[8,0]}}", 8)).find("reversed") != std::string::npos);
  CHECK(parse_error(raw_file(R"({"w":{"dtype":"F32","shape":[2]}})", 8)).find("exactly dtype, shape and data_offsets") !=
        std::string::npos);
  CHECK(parse_error(raw_file(R"({"__metadata__":{"a":1}})", 0)).find("must be a string") != std::string::npos);
  // Deep nesting (once an out-of-bounds index in the duplicate-key tracker, found by ASan).
  CHECK(parse_error(raw_file(R"({"a":{"b":{"c":{"d":{"e":{}}}}}})", 0)).find("'a'") != std::string::npos);
}

TEST_CASE("safetensors: 20k random mutations of a valid file never crash and rarely pass") {
  const std::string good = safetensors_serialize(sample_tensors(), {{"k", "v"}});
  std::mt19937_64 rng(7);
  int accepted = 0;
  for (int it = 0; it < 20000; ++it) {
    std::string b = good;
    switch (it % 4) {
      case 0: b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255); break;                  // flip
      case 1: b = good.substr(0, rng() % good.size()); break;                                    // truncate
      case 2:
        for (int j = 0; j < 4; ++j) b[rng() % b.size()] = "0123456789[]{},:\"-e."[rng() % 20];  // JSON noise
        break;
      default: {
        const std::uint64_t n = rng() % (b.size() + 16);                                          // length field
        std::memcpy(b.data(), &n, 8);
      }
    }
    try {
      safetensors_parse(b, "mutated");
      ++accepted;  // harmless edits: padding spaces, the metadata value "v"
    } catch (const Error&) {
    }
  }
  CHECK(accepted < 400);
}

TEST_CASE("safetensors: corrupt files fail naming the tensor and the checksums (C4)") {
  const std::string dir = temp_dir("st_corrupt");
  const std::string path = dir + "/c.safetensors";
  save_safetensors(path, sample_tensors());
  const std::string good = read_file_bytes(path);
  std::uint64_t n = 0;
  std::memcpy(&n, good.data(), 8);

  // Flip one byte in the data of the first tensor.
  std::string bad = good;
  bad[8 + n + 5] ^= 0x40;
  write_bytes(path, bad);
  try {
    load_safetensors(path);
    FAIL("a flipped byte was accepted");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("checksum mismatch in tensor 'conv1.weight'") != std::string::npos);
    CHECK(msg.find("stored crc32") != std::string::npos);
  }
  // Truncate: every length from 0 to the full size minus one is rejected.
  for (std::size_t len : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{20}, static_cast<std::size_t>(8 + n),
                          good.size() - 1}) {
    CAPTURE(len);
    write_bytes(path, good.substr(0, len));
    CHECK_THROWS_AS(load_safetensors(path), Error);
  }
  // Zeroed header.
  bad = good;
  std::memset(bad.data() + 8, 0, n);
  write_bytes(path, bad);
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("not valid JSON"), Error);
  // Zeroed length field.
  bad = good;
  std::memset(bad.data(), 0, 8);
  write_bytes(path, bad);
  CHECK_THROWS_AS(load_safetensors(path), Error);
  // Every single-byte flip anywhere in the file is detected (header or data).
  int accepted = 0;
  for (std::size_t i = 0; i < good.size(); i += 7) {
    bad = good;
    bad[i] ^= 0x01;
    try {
      safetensors_parse(bad, "flip");
      // A flip inside JSON whitespace padding or in a metadata string that is not the
      // checksum table is harmless; anything else must be caught.
      ++accepted;
    } catch (const Error&) {
    }
  }
  CHECK(accepted < 20);
  CHECK_THROWS_WITH_AS(load_safetensors(dir + "/missing.safetensors"), doctest::Contains("cannot open"), Error);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint round trip: model, optimizer state, step, RNG, cursor, config") {
  const std::string dir = temp_dir("ckpt_rt");
  Tensor w = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  w.set_requires_grad(true);
  SGD opt({make_group({{"w", w}}, 0.1, 1e-4)}, SGDOptions{0.9});
  w.set_grad(Tensor::ones({2, 2}));
  opt.step();

  TrainingState st;
  st.step = 42;
  st.config = {{"model", {{"arch", "resnet18"}, {"width", 0.125}}}, {"batch", 256}};
  st.data_cursor = {{"epoch", 3}, {"batch", 17}};
  Generator g(99);
  g.next_u64();
  st.rng["data"] = g.state();
  st.extra = {{"loss", 1.25}};
  const std::string path = dir + "/ck.safetensors";
  save_checkpoint(path, {{"w", w}, {"n", Tensor::full({}, 5, DType::i64)}}, &opt, st);

  const Checkpoint c = load_checkpoint(path);
  REQUIRE(c.model.size() == 2);
  CHECK(same_bits(c.model[0].second, w));
  CHECK(c.model[1].second.item() == 5);
  REQUIRE(c.training.has_value());
  CHECK(c.training->step == 42);
  CHECK(c.training->config == st.config);
  CHECK(c.training->data_cursor == st.data_cursor);
  CHECK(c.training->rng.at("data") == g.state());
  CHECK(c.training->extra == st.extra);
  REQUIRE(c.optimizer_tensors.size() == 1);
  CHECK(c.optimizer_tensors[0].first == "0.momentum_buffer");

  Tensor w2 = Tensor::zeros({2, 2});
  w2.set_requires_grad(true);
  SGD opt2({make_group({{"w", w2}}, 0.5, 0)}, SGDOptions{0.9});
  opt2.restore_state(c.optimizer, c.optimizer_tensors);
  CHECK(opt2.param_groups()[0].lr == 0.1);
  CHECK(opt2.param_groups()[0].weight_decay == 1e-4);
  CHECK(same_bits(opt2.state_tensors()[0].second, opt.state_tensors()[0].second));
  // The raw file holds torchvision names plus the optimizer prefix.
  const SafetensorsFile raw = load_safetensors(path);
  CHECK(raw.tensors[2].first == "optimizer.state.0.momentum_buffer");
  CHECK(raw.metadata.at("format") == "pt");
  fs::remove_all(dir);
}

TEST_CASE("config differences are listed by key (C6)") {
  nlohmann::json a = {{"model", {{"arch", "resnet18"}, {"width", 1}}}, {"batch", 256}, {"data", "cifar10"}};
  nlohmann::json b = {{"model", {{"arch", "resnet50"}, {"width", 1}}}, {"batch", 512}, {"ratio", 100}};
  const auto d = config_differences(a, b);
  REQUIRE(d.size() == 4);
  CHECK(d[0] == "batch: 256 → 512");
  CHECK(d[1] == "data: \"cifar10\" → (absent)");
  CHECK(d[2] == "model.arch: \"resnet18\" → \"resnet50\"");
  CHECK(d[3] == "ratio: (absent) → 100");
  CHECK(config_differences(a, a).empty());
  CHECK_THROWS_WITH_AS(check_config_compatible("x.safetensors", a, b), doctest::Contains("model.arch"), Error);
}

TEST_CASE("CheckpointManager: latest pointer, pruning, fallback past corrupt files, stale temp cleanup") {
  const std::string dir = temp_dir("ckpt_mgr");
  write_bytes(dir + "/ckpt-00000009.safetensors.tmp.12345", "half written");
  CheckpointManager mgr(dir, 2);
  CHECK(mgr.stale_files_removed() == 1);
  CHECK_FALSE(mgr.load_latest().has_value());

  Tensor w = Tensor::zeros({3});
  for (int step = 10; step <= 40; step += 10) {
    w.fill_(step);
    TrainingState st;
    st.step = step;
    mgr.save({{"w", w}}, nullptr, st);
  }
  const auto files = mgr.list();
  REQUIRE(files.size() == 2);  // keep_last = 2
  CHECK(fs::path(files[0]).filename() == "ckpt-00000030.safetensors");
  CHECK(read_file_bytes(dir + "/latest") == "ckpt-00000040.safetensors\n");
  auto c = mgr.load_latest();
  REQUIRE(c.has_value());
  CHECK(c->training->step == 40);

  // Corrupt the newest: resume falls back to the previous one and says why.
  std::string bytes = read_file_bytes(files[1]);
  bytes[bytes.size() - 2] ^= 0x10;
  write_bytes(files[1], bytes);
  std::vector<std::string> skipped;
  c = mgr.load_latest(&skipped);
  REQUIRE(c.has_value());
  CHECK(c->training->step == 30);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].find("checksum mismatch") != std::string::npos);
  CHECK(c->model[0].second.to_vector<float>() == std::vector<float>{30, 30, 30});

  // A `latest` naming a missing file is skipped too.
  write_bytes(dir + "/latest", "ckpt-00000099.safetensors\n");
  skipped.clear();
  c = mgr.load_latest(&skipped);
  REQUIRE(c.has_value());
  CHECK(c->training->step == 30);
  fs::remove_all(dir);
}

TEST_CASE("a failed save leaves the previous checkpoint intact (disk full via RLIMIT_FSIZE, C3)") {
  const std::string dir = temp_dir("ckpt_full");
  const std::string path = dir + "/ckpt-00000001.safetensors";
  Tensor small = Tensor::ones({4});
  save_safetensors(path, {{"w", small}});
  const std::string before = read_file_bytes(path);
  // In a child: limit file size to 4 KiB and try to overwrite with 240 KB.
  const pid_t pid = fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &lim);
    try {
      save_safetensors(path, {{"w", Tensor::zeros({30000})}, {"v", Tensor::zeros({30000})}});
      _exit(0);  // must not succeed
    } catch (const Error& e) {
      _exit(std::strstr(e.what(), "failed") ? 3 : 4);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK(read_file_bytes(path) == before);
  int leftovers = 0;
  for (auto& e : fs::directory_iterator(dir)) leftovers += e.path().filename().string().find(".tmp.") != std::string::npos;
  CHECK(leftovers == 0);
  fs::remove_all(dir);
}

TEST_CASE("kill -9 during checkpoint writes never breaks the newest loadable checkpoint (C1)") {
  const std::string dir = temp_dir("ckpt_kill");
  {
    CheckpointManager mgr(dir, 3);
    TrainingState st;
    st.step = 1;
    mgr.save({{"w0", Tensor::full({1000}, 1.0)}}, nullptr, st);
  }
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      CheckpointManager mgr(dir, 3);
      for (int step = 2;; ++step) {
        TrainingState st;
        st.step = 1000 * round + step;
        // Tensors under the parallel grain: no OpenMP region in a forked child.
        StateDict model;
        for (int i = 0; i < 8; ++i)
          model.emplace_back(std::string(1, static_cast<char>('a' + i)), Tensor::full({30000}, static_cast<double>(st.step)));
        mgr.save(model, nullptr, st);
      }
    }
    usleep(static_cast<useconds_t>(3000 + 1700 * round));  // kill at varying moments
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CheckpointManager mgr(dir, 3);  // cleans stale temp files
    std::vector<std::string> skipped;
    auto c = mgr.load_latest(&skipped);
    REQUIRE(c.has_value());
    CHECK(skipped.empty());
    const auto w = c->model[0].second.to_vector<float>();
    CHECK(w.front() == static_cast<float>(c->training->step));
    for (auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("safetensors: a deeply nested header is refused before parsing; untrusted text is cut (I9, issue 13.2)") {
  // {"a": [[[[...]]]]} with 100,000 levels: once a stack overflow (exit 139) in every reader.
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  std::string e = parse_error(raw_file(deep, 0));
  CHECK(e.find("nests arrays or objects more than 64 levels deep") != std::string::npos);
  CHECK(e.size() < 400);
  // Brackets inside strings do not count; 64 levels are fine.
  std::string ok = "{\"__metadata__\":{\"x\":\"" + std::string(1000, '[') + "\"}}";
  CHECK(parse_error(raw_file(ok, 0)) == "(accepted)");
  // The same bound inside metadata JSON (contra.crc32 and the checkpoint's own keys).
  const std::string nested_meta = "{\"__metadata__\":{\"contra.crc32\":\"" + std::string(5000, '[') + "\"}}";
  CHECK(parse_error(raw_file(nested_meta, 0)).find("metadata contra.crc32 nests") != std::string::npos);
  // A 1 MB name or value is never printed whole.
  const std::string long_name(1 << 20, 'n');
  e = parse_error(raw_file("{\"" + long_name + "\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8));
  CHECK(e.find("must have exactly dtype") != std::string::npos);
  CHECK(e.size() < 600);
  e = parse_error(raw_file("{\"w\":{\"dtype\":\"" + long_name + "\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
  CHECK(e.find("unknown dtype") != std::string::npos);
  CHECK(e.size() < 600);
  e = parse_error(raw_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"" + long_name + "\"],\"data_offsets\":[0,8]}}", 8));
  CHECK(e.find("non-negative") != std::string::npos);
  CHECK(e.size() < 600);
  e = parse_error(raw_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}, \"x\": [" +
                               std::string(200000, '1') + "]}", 8));
  CHECK(e.size() < 600);
}

TEST_CASE("checkpoints: a NaN weight with a valid checksum is refused naming the tensor (S5, issue 13.7)") {
  const std::string dir = temp_dir("nan_ckpt");
  StateDict model = {{"conv1.weight", Tensor::ones({2, 2})},
                     {"layer2.0.conv1.weight", Tensor::from_vector<float>({1.f, 2.f, NAN, 4.f}, {2, 2})},
                     {"layer3.0.conv1.weight", Tensor::from_vector<float>({INFINITY}, {1})},
                     {"bn1.num_batches_tracked", Tensor::full({}, 3, DType::i64)}};
  TrainingState st;
  st.step = 7;
  save_checkpoint(dir + "/nan.safetensors", model, nullptr, st);  // the CRC matches the NaN
  try {
    load_checkpoint(dir + "/nan.safetensors");
    FAIL("a NaN weight loaded");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("nan.safetensors") != std::string::npos);
    CHECK(msg.find("tensor 'layer2.0.conv1.weight' holds 1 non-finite value(s) (nan at flat index 2)") !=
          std::string::npos);
  }
  const auto bad = find_non_finite(model);
  REQUIRE(bad.has_value());
  CHECK(bad->name == "layer2.0.conv1.weight");
  CHECK(!find_non_finite({{"a", Tensor::ones({3})}, {"i", Tensor::full({}, 1, DType::i64)}}).has_value());
  // The manager falls back past it to the previous finite checkpoint, listing why.
  CheckpointManager m(dir + "/run", 5);
  StateDict good = {{"conv1.weight", Tensor::ones({2, 2})}};
  st.step = 1;
  m.save(good, nullptr, st);
  st.step = 2;
  m.save(model, nullptr, st);
  std::vector<std::string> skipped;
  const auto ck = m.load_latest(&skipped);
  REQUIRE(ck.has_value());
  CHECK(ck->training->step == 1);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].find("layer2.0.conv1.weight") != std::string::npos);
}
