// Training infrastructure: config resolution and errors, crash-safe logs, kNN, class metrics.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <variant>
#include <functional>

#include "autograd/engine.h"
#include "contrastive/balanced_fused.h"
#include "nn/adamw.h"
#include "nn/sgd.h"
#include "tensor/cpu/caching_allocator.h"
#include "tensor/generator.h"
#include "train/class_metrics.h"
#include "train/config.h"
#include "train/data_parallel.h"
#include "dist/single_process_communicator.h"
#include "dist/world.h"
#include "train/device_choice.h"
#include "tensor/backend.h"
#include "train/eval_writer.h"
#include "train/evaluation.h"
#include "train/knn.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/report.h"
#include "train/resources.h"
#include "train/run_setup.h"

using namespace contra;
using namespace contra::train;

namespace {
std::string tmp(const char* name) { return std::string("/tmp/contra_train_") + name; }
void write(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::string read(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
// Rank 0 of a job of K ranks, for code that only asks rank() and size() (no collective runs).
struct FakeRanks final : dist::Communicator {
  explicit FakeRanks(int k) : k_(k) {}
  int rank() const override { return 0; }
  int size() const override { return k_; }
  std::string name() const override { return "fake"; }
  void all_reduce_sum(const Tensor&) override { unused(); }
  std::unique_ptr<dist::Request> start_all_reduce_sum(const Tensor&) override { unused(); }
  Tensor all_gather(const Tensor&) override { unused(); }
  Tensor reduce_scatter_sum(const Tensor&) override { unused(); }
  void broadcast(const Tensor&, int) override { unused(); }
  void barrier() override { unused(); }

 private:
  [[noreturn]] static void unused() { throw Error("FakeRanks", "no collective runs in this test"); }
  int k_;
};
}  // namespace

TEST_CASE("config: presets, TOML, flags, and the resolved file round-trips") {
  PretrainConfig c;
  apply_preset(c, "fashion_mnist_lt_small");
  CHECK(c.dataset == "fashion_mnist_lt");
  CHECK(c.width == 0.125);
  apply_toml_string(c, "[optim]\nlr = 0.1\nepochs = 3\n[loss]\ntype = \"balanced\"\nrepel = 0.8\n", "t.toml");
  CHECK(c.lr == 0.1);
  CHECK(c.epochs == 3);
  CHECK(c.loss == "balanced");
  CHECK(c.repel == 0.8);
  for (const auto& f : config_fields())
    if (f.flag == "--batch-size") f.set_from_text(c, "64", "--batch-size");
  CHECK(c.batch_size == 64);
  PretrainConfig d;
  apply_toml_string(d, to_toml(c), "resolved.toml");
  CHECK(to_json(d) == to_json(c));
  CHECK_THROWS_WITH_AS(apply_preset(c, "nope"), doctest::Contains("valid presets"), Error);
}

TEST_CASE("config: run.device is a [run] key and --device, printed, parsed, and not a resume key") {
  PretrainConfig c;
  CHECK(c.device == "cpu");
  CHECK(to_toml(c).find("device = \"cpu\"") != std::string::npos);
  apply_toml_string(c, "[run]\ndevice = \"cuda:1\"\n", "t.toml");
  CHECK(c.device == "cuda:1");
  CHECK(to_json(c)["run"]["device"] == "cuda:1");
  validate(c);  // the text only: whether this machine has cuda:1 is asked when a run starts
  const auto fields = config_fields();
  const ConfigField* f = find_field(fields, "run.device");
  REQUIRE(f != nullptr);
  CHECK(f->flag == "--device");
  f->set_from_text(c, "cuda", "--device");
  CHECK(c.device == "cuda");
  for (const auto& k : resume_critical_keys()) CHECK(k != "run.device");  // resume on another device
  CHECK(parse_device("cpu", "x") == Device::cpu());
  CHECK(parse_device("cuda", "x") == Device::cuda(0));
  CHECK(parse_device("cuda:3", "x") == Device::cuda(3));
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "CPU", "cuda:-1", "cuda:12345", ""})
    CHECK_THROWS_WITH_AS(parse_device(bad, "--device"), doctest::Contains("valid: cpu, cuda, cuda:N"), UsageError);
  c.device = "tpu";
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("run.device"), UsageError);
  c.device = "cuda";  // data-parallel GPU runs need NCCL: a build without it says so at the start
  CHECK_NOTHROW(check_data_parallel(c, 1));
  if (dist::nccl_built()) CHECK_NOTHROW(check_data_parallel(c, 2));
  else CHECK_THROWS_WITH_AS(check_data_parallel(c, 2), doctest::Contains("need NCCL"), UsageError);
  c.device = "cpu";
  CHECK_NOTHROW(check_data_parallel(c, 2));
  // The device of each rank: plain "cuda" at K > 1 is cuda:<local rank>; anything else as written.
  {
    DataParallel one, two;
    one.comm = std::make_shared<dist::SingleProcessCommunicator>();
    two.comm = std::make_shared<FakeRanks>(2);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    CHECK(rank_device("cuda", one) == "cuda");
    CHECK(rank_device("cuda", two) == "cuda:1");
    CHECK(rank_device("cuda:0", two) == "cuda:0");
    CHECK(rank_device("cpu", two) == "cpu");
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    CHECK(rank_device("cuda", two) == "cuda:0");
  }
  CHECK(open_device("cpu", "--device") == Device::cpu());
  if (!cuda_available()) {  // a CPU-only build, or a CUDA build on a machine without a GPU: exit 2, said clearly
    CHECK_THROWS_WITH_AS(open_device("cuda", "--device"), doctest::Contains("CUDA"), UsageError);
  }
}

TEST_CASE("config: errors name file:line:col, the key, the value and what is allowed") {
  PretrainConfig c;
  CHECK_THROWS_WITH_AS(apply_toml_string(c, "[optim]\nlr = = 3\n", "bad.toml"), doctest::Contains("bad.toml:2:"), Error);
  CHECK_THROWS_WITH_AS(apply_toml_string(c, "[optim]\nlearning_rate = 3\n", "u.toml"),
                       doctest::Contains("unknown key \"optim.learning_rate\""), Error);
  CHECK_THROWS_WITH_AS(apply_toml_string(c, "[optim]\nlearning_rate = 3\n", "u.toml"), doctest::Contains("u.toml:2:1"), Error);
  CHECK_THROWS_WITH_AS(apply_toml_string(c, "[optim]\nepochs = \"ten\"\n", "t.toml"), doctest::Contains("must be an integer"), Error);
  CHECK_THROWS_WITH_AS(apply_toml_string(c, "[optim]\nlr = -1.0\n", "r.toml"), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(apply_toml_string(c, "[loss]\ntype = \"triplet\"\n", "ch.toml"), doctest::Contains("valid: nt_xent"), Error);
  CHECK_THROWS_WITH_AS(apply_toml_string(c, "lr = 1.0\n", "s.toml"), doctest::Contains("[section]"), Error);
  for (const auto& f : config_fields())
    if (f.flag == "--epochs") {
      CHECK_THROWS_WITH_AS(f.set_from_text(c, "3x", "--epochs"), doctest::Contains("not an integer"), Error);
      CHECK_THROWS_WITH_AS(f.set_from_text(c, "0", "--epochs"), doctest::Contains("out of range"), Error);
    }
  CHECK_THROWS_WITH_AS(apply_toml_file(c, "/nonexistent.toml"), doctest::Contains("cannot read"), Error);
}

TEST_CASE("config: a loss option the chosen loss does not read is refused, naming the option") {
  // nt_xent with a repulsion weight would train NT-Xent and record repel = 0.8.
  PretrainConfig c;
  apply_preset(c, "fashion_mnist_lt_small");
  c.repel = 0.8;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("--repel"), UsageError);
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("read only by --loss balanced"), UsageError);
  c.loss = "balanced";
  CHECK_NOTHROW(validate(c));
  c.positive_weight = 0.0;
  CHECK_NOTHROW(validate(c));
  // λ under balanced, w_a under derived, w_p under supcon.
  c.lambda = 2.0;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("--lambda"), UsageError);
  c.loss = "derived";
  c.repel = 1.0;
  c.positive_weight = 1.0;
  CHECK_NOTHROW(validate(c));
  c.attract = 0.5;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("--attract"), UsageError);
  c.attract = 1.0;
  c.lambda = 1.0;
  c.loss = "supcon";
  c.positive_weight = 0.5;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("--positive-weight"), UsageError);
  // The same rule through a config file.
  PretrainConfig f;
  apply_toml_string(f, "[loss]\nrepel = 1.25\n", "nt.toml");
  CHECK_THROWS_AS(validate(f), UsageError);
  CHECK(loss_option_rule().find("no option changes --loss") != std::string::npos);
}

TEST_CASE("config: the paper aliases follow with_paper_aliases (β vs ρ) and need --loss balanced") {
  PretrainConfig c;
  PaperAliasOptions a;
  a.rho = 0.8;
  CHECK_THROWS_WITH_AS(apply_paper_aliases(c, a), doctest::Contains("--rho"), UsageError);  // nt_xent
  c.loss = "balanced";
  c.attract = 2.0;
  apply_paper_aliases(c, a);
  CHECK(c.repel == doctest::Approx(1.6));  // w_r = ρ · w_a
  // β and ρ that disagree: refused (before, ρ won silently in tools/pretrain).
  a.beta = 3.0;
  CHECK_THROWS_WITH_AS(apply_paper_aliases(c, a), doctest::Contains("disagrees with ρ·ν"), UsageError);
  // β and ρ that agree: accepted.
  c.attract = 1.0;
  a.beta = 0.8;
  a.nu = 1.0;
  apply_paper_aliases(c, a);
  CHECK(c.repel == doctest::Approx(0.8));
}

TEST_CASE("data.split_seed: the training seed varies only the training, never the data") {
  PretrainConfig c;
  apply_preset(c, "smoke");
  c.max_train_images = 200;
  CHECK(to_json(c)["data"]["split_seed"] == 0);  // recorded with the configuration
  auto signature = [](const PretrainConfig& cfg) {
    const RunData d = open_run_data(cfg, false);
    std::vector<std::int64_t> s = d.pretrain->labels;
    for (std::int64_t i = 0; i < d.pretrain->size(); i += 17) s.push_back(d.pretrain->image(i)[5]);
    return s;
  };
  const auto seed0 = signature(c);
  c.seed = 1;
  CHECK(signature(c) == seed0);  // same split, other training seed
  c.split_seed = 1;
  CHECK(signature(c) != seed0);  // another split
  CHECK(dataset_options(c).long_tail.seed == 1);
  bool critical = false;
  for (const auto& k : resume_critical_keys()) critical = critical || k == "data.split_seed";
  CHECK(critical);
}

TEST_CASE("--jitter: the help states what apply_jitter does (hue = jitter/4 for RGB)") {
  std::string help;
  for (const auto& f : config_fields())
    if (f.key == "data.jitter") help = f.help;
  CHECK(help.find("hue = jitter/4") != std::string::npos);
  data::AugmentSpec spec;
  apply_jitter(spec, 0.8, 3);
  REQUIRE(spec.ops.size() == 1);
  const auto& j = std::get<data::ColorJitter>(spec.ops[0]);
  CHECK(j.brightness == 0.8);
  CHECK(j.hue == doctest::Approx(0.8 / 4));
  data::AugmentSpec gray;
  apply_jitter(gray, 0.8, 1);
  CHECK(std::get<data::ColorJitter>(gray.ops[0]).hue == 0.0);
}

TEST_CASE("evaluate: PRB on the long-tailed pretraining images too; several few-shot counts, 5 draws by default") {
  CHECK(EvalOptions{}.few_shot == std::vector<std::int64_t>{100, 50});  // recipes.md
  CHECK(EvalOptions{}.few_shot_draws == 5);
  data::DatasetOptions o;
  o.synthetic.train_size = 300;
  o.synthetic.test_size = 100;
  data::DatasetSplits s = data::open_dataset("synthetic", o);
  // A long-tailed pretraining subset: class y keeps 30 − 3y of its images.
  std::vector<std::int64_t> idx, taken(10, 0);
  for (std::int64_t i = 0; i < s.train.size(); ++i)
    if (taken[s.train.labels[i]]++ < 30 - 3 * s.train.labels[i]) idx.push_back(i);
  EvalData ed;
  ed.train = std::make_shared<const data::Dataset>(s.train);
  ed.test = std::make_shared<const data::Dataset>(s.test);
  ed.pretrain = std::make_shared<const data::Dataset>(data::subset(s.train, idx, "lt"));
  ed.stats = data::dataset_stats("synthetic", *ed.pretrain);
  ed.augment = data::augment_preset("simclr_cifar", 3, 32, 32, ed.stats.mean, ed.stats.std);
  PretrainConfig c;
  apply_preset(c, "smoke");
  Generator gen(3);
  nn::ResNet backbone(backbone_config(c, 3), gen);
  nn::ProjectionHead head(head_config(c, backbone.feature_dim()), gen);
  EvalOptions eo;
  eo.probe.epochs = 2;
  eo.few_shot = {5, 2};
  eo.few_shot_draws = 2;
  eo.prb_views = 2;
  eo.prb_images = 40;
  eo.random_baseline = eo.pixel_baseline = false;
  const std::string out = tmp("eval_lt");
  std::filesystem::create_directories(out);
  const EvalResults results = evaluate({{"pretrained", &backbone, &head}}, ed, eo, [](const std::string&) {});
  write_evaluation(results, out);
  const nlohmann::json& r = results.json;
  const auto& e = r["encoders"]["pretrained"];
  REQUIRE(e["few_shot_probe"].size() == 2);
  CHECK(e["few_shot_probe"][0]["shots_per_class"] == 5);
  CHECK(e["few_shot_probe"][1]["shots_per_class"] == 2);
  CHECK(e["few_shot_probe"][1]["accuracy"].size() == 2);
  REQUIRE(e.contains("prb_pretrain"));
  CHECK(e["prb"]["backbone"]["images"] == 40);           // class-balanced test subset: 4 per class
  CHECK(e["prb_pretrain"]["head"]["images"] == 40);      // uniform subset of the 165 long-tailed images
  // Uniform, so the head classes keep more images than the tail ones.
  const auto& pc = e["prb_pretrain"]["backbone"]["per_class"];
  CHECK(pc.front()["images"].get<int>() > pc.back()["images"].get<int>());
  CHECK(r["protocol"]["prb_pretrain"] == true);
  std::stringstream csv;
  csv << std::ifstream(out + "/prb_per_class.csv").rdbuf();
  CHECK(csv.str().find("pretrained backbone LT raw") != std::string::npos);
  std::filesystem::remove_all(out);

  // The report: from the results in memory (pretrain, evaluate) and from a finished run
  // directory (results.json read back by read_evaluation) it is the same page.
  const std::string run = tmp("eval_lt_run");
  std::filesystem::create_directories(run + "/eval");
  write_evaluation(results, run + "/eval");
  auto report_md = [&] {
    std::stringstream md;
    md << std::ifstream(run + "/report.md").rdbuf();
    return md.str();
  };
  write_report(run, nullptr, &results);
  const std::string from_memory = report_md();
  write_report(run);
  CHECK(report_md() == from_memory);
  CHECK(from_memory.find("Evaluation (balanced test set)") != std::string::npos);
  REQUIRE(read_evaluation(run + "/eval"));
  CHECK(read_evaluation(run + "/eval")->json["encoders"].contains("pretrained"));
  CHECK_FALSE(read_evaluation(run + "/nowhere"));
  std::filesystem::remove_all(run);
}

TEST_CASE("metrics.jsonl: a torn last line and entries past the resume step are dropped") {
  const std::string p = tmp("metrics.jsonl");
  write(p, "{\"step\": 1, \"loss\": 2.0}\n{\"step\": 2, \"loss\": 1.5}\n{\"step\": 3, \"loss\": 1.2}\n{\"step\": 4, \"lo");
  {
    JsonlLog log(p, "step", /*keep_below=*/3);
    log.append({{"step", 3}, {"loss", 1.25}});
  }
  const auto entries = JsonlLog::read(p);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0]["step"] == 1);
  CHECK(entries[1]["step"] == 2);
  CHECK(entries[2]["loss"] == 1.25);
  std::remove(p.c_str());
}

TEST_CASE("epochs.csv keeps its header once and rows below the resume epoch") {
  const std::string p = tmp("epochs.csv");
  std::remove(p.c_str());
  {
    CsvLog log(p, {"epoch", "loss"});
    log.append({"0", "2.0"});
    log.append({"1", "1.5"});
  }
  write(p, read(p) + "2,1.");  // torn row
  {
    CsvLog log(p, {"epoch", "loss"}, /*keep_below=*/1);
    log.append({"1", "1.4"});
  }
  CHECK(read(p) == "epoch,loss\n0,2.0\n1,1.4\n");
  std::remove(p.c_str());
}

TEST_CASE("kNN: weighted votes of the k most similar bank entries") {
  // Bank: two clusters along x and y; a third class far away.
  Tensor bank = Tensor::from_vector<float>({1, 0.1f, 1, -0.1f, 0.1f, 1, -0.1f, 1, -1, 0}, {5, 2});
  std::vector<std::int64_t> labels = {0, 0, 1, 1, 2};
  Tensor q = Tensor::from_vector<float>({2, 0.05f, 0.02f, 3, -5, 0.3f}, {3, 2});
  KnnOptions o;
  o.k = 2;
  CHECK(knn_predict(bank, labels, q, 3, o) == std::vector<std::int64_t>{0, 1, 2});
  // With k = 5 the query near class 2 still wins by its weight exp(s/T).
  o.k = 5;
  CHECK(knn_predict(bank, labels, q, 3, o)[2] == 2);
  CHECK_THROWS_AS(knn_predict(bank, {0, 1}, q, 3, o), Error);
}

TEST_CASE("class report: per-class, terciles 4/3/3 for 10 classes, thresholds, group std") {
  std::vector<std::int64_t> counts = {5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50};
  std::vector<std::int64_t> labels, pred;
  for (int c = 0; c < 10; ++c)
    for (int i = 0; i < 10; ++i) {
      labels.push_back(c);
      pred.push_back(i < 10 - c ? c : (c + 1) % 10);  // class c: (10 − c)/10 correct
    }
  const ClassReport r = class_report(pred, labels, counts);
  CHECK(r.overall == doctest::Approx(0.55));
  CHECK(r.per_class[3] == doctest::Approx(0.7));
  REQUIRE(r.terciles.size() == 3);
  CHECK(r.terciles[0].classes == std::vector<int>{0, 1, 2, 3});
  CHECK(r.terciles[1].classes == std::vector<int>{4, 5, 6});
  CHECK(r.terciles[2].classes == std::vector<int>{7, 8, 9});
  CHECK(r.terciles[0].accuracy == doctest::Approx(0.85));
  CHECK(r.terciles[2].accuracy == doctest::Approx(0.2));
  const double m = (0.85 + 0.5 + 0.2) / 3;
  CHECK(r.terciles_std == doctest::Approx(std::sqrt(((0.85 - m) * (0.85 - m) + (0.5 - m) * (0.5 - m) + (0.2 - m) * (0.2 - m)) / 3)));
  CHECK(r.thresholds[0].classes.size() == 8);   // > 100
  CHECK(r.thresholds[1].classes == std::vector<int>{8, 9});  // 20–100
  CHECK(std::isnan(r.thresholds[2].accuracy));  // no class below 20
}

// ---- issue 13: memory estimate, run lock, config details --------------------------------------

namespace {
// Peak bytes (caching allocator) of one real training step of `c` on random C×H×W images:
// forward through backbone and head, the fused loss, backward, optimizer step.
std::uint64_t measured_step_peak(const PretrainConfig& c, std::int64_t C, std::int64_t H, std::int64_t W) {
  Generator gen(3);
  const nn::ResNetConfig rc = backbone_config(c, C);
  nn::ResNet backbone(rc, gen);
  nn::ProjectionHead head(head_config(c, backbone.feature_dim()), gen);
  const nn::NamedTensors params = model_parameters(backbone, head);
  std::unique_ptr<nn::Optimizer> opt;
  if (c.optimizer == "adamw")
    opt = std::make_unique<nn::AdamW>(std::vector<nn::ParamGroup>{nn::make_group(params, 0.01, 0)}, nn::AdamWOptions{});
  else
    opt = std::make_unique<nn::SGD>(std::vector<nn::ParamGroup>{nn::make_group(params, 0.01, 0)}, nn::SGDOptions{0.9});
  const contrastive::ViewLayout layout{c.batch_size, c.views};
  std::uint64_t peak = 0;
  for (int step = 0; step < 2; ++step) {  // the second step has the optimizer state
    cpu::reset_peak_live_bytes();
    const Tensor x = Tensor::randn({c.batch_size * c.views, C, H, W}, gen);
    const Tensor f = head(backbone.forward_features(x));
    contrastive::BalancedParams p;
    p.temperature = c.temperature;
    Tensor loss = contrastive::balanced_loss(f, layout, p).loss;
    opt->zero_grad();
    backward(loss);
    opt->step();
    peak = std::max<std::uint64_t>(peak, cpu::peak_live_bytes());
  }
  return peak;
}
}  // namespace

TEST_CASE("memory: the step estimate bounds the measured peak within [1, 3]× (I8, issue 13.1)") {
  struct Case {
    const char* arch;
    const char* stem;
    double width;
    std::int64_t batch, C, H, W;
    const char* optimizer;
  };
  for (const Case& k : {Case{"resnet18", "cifar", 0.0625, 16, 3, 32, 32, "sgd"},
                        Case{"resnet18", "cifar", 0.125, 32, 1, 28, 28, "sgd"},
                        Case{"resnet50", "imagenet", 0.0625, 8, 3, 64, 64, "adamw"},
                        Case{"resnet34", "cifar", 0.0625, 8, 3, 24, 24, "sgd"}}) {
    PretrainConfig c;
    apply_preset(c, "smoke");
    c.arch = k.arch;
    c.stem = k.stem;
    c.width = k.width;
    c.batch_size = k.batch;
    c.optimizer = k.optimizer;
    const StepMemory est = estimate_step_memory(c, k.C, k.H, k.W);
    // The test holds one batch, not the loader's prefetched ones.
    const std::uint64_t one_batch = static_cast<std::uint64_t>(k.batch * c.views * k.C * k.H * k.W * 4);
    const double predicted = static_cast<double>(est.total() - est.batches + one_batch);
    const double measured = static_cast<double>(measured_step_peak(c, k.C, k.H, k.W));
    MESSAGE(std::string(k.arch), " ", std::string(k.stem), " width ", k.width, " batch ", k.batch, ": estimate ",
            predicted / 1e6, " MB (activations ", est.activations / 1e6, ", parameters ", est.parameters / 1e6,
            ", loss ", est.loss / 1e6, "), measured peak ", measured / 1e6, " MB, ratio ", predicted / measured);
    CHECK(predicted >= measured);
    CHECK(predicted <= 3 * measured);
    // Parameters counted analytically = the modules' own count.
    Generator gen(0);
    nn::ResNet bb(backbone_config(c, k.C), gen);
    nn::ProjectionHead hd(head_config(c, bb.feature_dim()), gen);
    CHECK(count_parameters(c, k.C) == static_cast<std::uint64_t>(bb.num_parameters() + hd.num_parameters()));
  }
}

TEST_CASE("memory: an impossible step is refused with needs, availability and the batch that fits") {
  PretrainConfig c;
  apply_preset(c, "smoke");
  c.width = 4;
  c.batch_size = 4096;
  try {
    check_step_memory(c, 3, 32, 32);
    FAIL("accepted");
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("one training step (resnet18 width 4, batch 4096 × 2 views of 3×32×32") != std::string::npos);
    CHECK(m.find(" GiB, this machine has ") != std::string::npos);
    CHECK(m.find("hint: lower --batch-size (at most about ") != std::string::npos);
  }
  c.width = 0.0625;
  c.batch_size = 32;
  CHECK_NOTHROW(check_step_memory(c, 3, 32, 32));
  // The allocator's own failure: the same kind of message.
  try {
    cpu::cached_allocate(std::size_t{1} << 56);
    FAIL("a 64 PiB allocation succeeded");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("out of memory: a tensor needs ") != std::string::npos);
    CHECK(m.find(" GiB, this machine has ") != std::string::npos);
  }
}

TEST_CASE("run lock: a second holder is refused naming the first's PID; released with it (C7)") {
  const std::string dir = tmp("lockdir");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    RunLock first(dir);
    // Another process (flock locks belong to open files: a child's own open() conflicts).
    const pid_t pid = ::fork();
    if (pid == 0) {
      try {
        RunLock second(dir);
        ::_exit(0);
      } catch (const UsageError& e) {
        const std::string m = e.what();
        ::_exit(m.find("(pid " + std::to_string(::getppid()) + ",") != std::string::npos ? 7 : 8);
      } catch (...) {
        ::_exit(9);
      }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WEXITSTATUS(status) == 7);
  }
  CHECK_NOTHROW(RunLock{dir});  // released
  std::filesystem::remove_all(dir);
}

TEST_CASE("config: integer ranges print as integers; a directory is not a config file (issue 13.9)") {
  // Runs f, requires a UsageError whose message contains `needle`.
  auto usage_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      FAIL("accepted, expected: ", needle);
    } catch (const UsageError& e) {
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  PretrainConfig c;
  usage_error([&] { apply_toml_string(c, "[optim]\nepochs = 0\n", "x.toml"); },
              "optim.epochs = 0 is out of range (hint: allowed range: [1, 1000000])");
  usage_error([&] { apply_toml_string(c, "[loss]\ntemperature = 1e-9\n", "x.toml"); },
              "loss.temperature = 1e-09 is out of range (hint: allowed range: [0.0001, 100])");
  std::filesystem::create_directories(tmp("confdir"));
  usage_error([&] { apply_toml_file(c, tmp("confdir")); }, "is a directory");
}

TEST_CASE("config: table headers toml++ would assert on are refused first (found by fuzz_config)") {
  // toml++ 3.3 asserts (debug) or assumes (release) that a header's key starts with a key
  // character; these broke that assumption.
  for (const std::string& text : {std::string("[\x1bpr = [\n\\u= [\n"), std::string("[[[1]]]\n"), std::string("[[[a]]]\n"),
                                 std::string("[[[]]\n"), std::string("[[=\n"), std::string("x = 1\n  [ ]\n"),
                                 // non-ASCII where toml++ tests for whitespace: TOML_UNREACHABLE
                                 std::string("[data]\nroot\xc2\xb7x = \"a\"\n"), std::string("a = 1 \xc2\xb7\n"),
                                 std::string("a\x01 = 1\n"),
                                 // '}' where an array item may start: TOML_ASSERT_ASSUME in parse_value
                                 std::string("optimailed = [[}i\nlr = "), std::string("a = [1, # c\n }\n"),
                                 std::string("a = { b = 1, }\n")}) {
    PretrainConfig c;
    try {
      apply_toml_string(c, text, "f.toml");
      FAIL("accepted: ", text);
    } catch (const UsageError& e) {
      CHECK(std::string(e.what()).find("malformed TOML") != std::string::npos);
    }
  }
  PretrainConfig c;
  CHECK_NOTHROW(apply_toml_string(c, "  [optim]\nlr = 0.5\n[ \"run\" ]\nseed = 3\n", "ok.toml"));
  CHECK(c.lr == 0.5);
  CHECK(c.seed == 3);
  // Non-ASCII inside strings and comments is fine, and so are brackets and quotes there.
  CHECK_NOTHROW(apply_toml_string(c, "# τ · → \"\n[run] # [[[x\nname = \"a·b [[[1]]] '\"\n"
                                     "out = '''r\n[[[\n'''\npreset = \"\"\"smoke\"\"\"\n", "ok.toml"));
  CHECK(c.name == "a·b [[[1]]] '");
  CHECK(c.out == "r\n[[[\n");
  CHECK_NOTHROW(apply_toml_string(c, "[run]\nname = \"[}, }\" # [ }\n", "ok.toml"));  // inside strings and comments
  CHECK(c.name == "[}, }");
  // The resolved file (comments with τ, ·, →) reads back.
  PretrainConfig d;
  CHECK_NOTHROW(apply_toml_string(d, to_toml(c), "round.toml"));
  CHECK(to_json(d) == to_json(c));
}

TEST_CASE("config: presets are TOML text through the user-file parser, with exactly the recipes' values") {
  PretrainConfig c;
  c.seed = 7;  // a preset starts from the defaults: nothing set before it survives
  apply_preset(c, "fashion_mnist_lt_small");
  CHECK(c.seed == 0);
  CHECK(c.preset == "fashion_mnist_lt_small");
  CHECK(c.dataset == "fashion_mnist_lt");
  CHECK(c.crop_min_scale == 0.2);  // exact: the TOML number parses to the same double as the literal
  CHECK(c.jitter == 0.8);
  CHECK(c.width == 0.125);
  CHECK(c.temperature == 0.2);
  CHECK(c.lr == 0.06);
  CHECK(c.weight_decay == 5e-4);
  CHECK(c.head_hidden == 0);
  apply_preset(c, "simclr_cifar");
  CHECK(c.optimizer == "lars");
  CHECK(c.warmup_epochs == 10.0);
  CHECK(c.weight_decay == 1e-4);
  apply_preset(c, "smoke");
  CHECK(c.width == 0.0625);
  CHECK(c.max_train_images == 320);
  CHECK(c.log_every == 1);
  CHECK(c.loss == "nt_xent");  // not named by the preset: the default
  for (const auto& [name, description] : preset_descriptions()) {
    PretrainConfig p;
    CHECK_NOTHROW(apply_preset(p, name));
    CHECK_NOTHROW(validate(p));
  }
  CHECK_THROWS_WITH_AS(apply_preset(c, "nope"), doctest::Contains("valid presets: fashion_mnist_lt_small"), UsageError);
}

TEST_CASE("data parallel: the K-rank checks and the bound on waiting for rank 0 (CONTRA_DIST_ROOT_TIMEOUT_S)") {
  contra::train::PretrainConfig c;
  c.batch_size = 10;
  CHECK_NOTHROW(contra::train::check_data_parallel(c, 1));
  CHECK_NOTHROW(contra::train::check_data_parallel(c, 2));
  CHECK_THROWS_WITH_AS(contra::train::check_data_parallel(c, 3), doctest::Contains("does not split evenly over 3 ranks"),
                       contra::train::UsageError);
  ::unsetenv("CONTRA_DIST_ROOT_TIMEOUT_S");
  CHECK(contra::train::root_work_timeout_s() == contra::train::kRootWorkTimeoutS);
  ::setenv("CONTRA_DIST_ROOT_TIMEOUT_S", "900", 1);
  CHECK(contra::train::root_work_timeout_s() == 900.0);
  ::setenv("CONTRA_DIST_ROOT_TIMEOUT_S", "-5", 1);
  CHECK_THROWS_WITH_AS(contra::train::root_work_timeout_s(), doctest::Contains("not a positive number"),
                       contra::train::UsageError);
  CHECK_THROWS_AS(contra::train::check_data_parallel(c, 2), contra::train::UsageError);  // at start-up, not after training
  CHECK_NOTHROW(contra::train::check_data_parallel(c, 1));  // one process waits for nobody
  ::unsetenv("CONTRA_DIST_ROOT_TIMEOUT_S");
}

namespace {
// What Progress draws when stdout is a terminal: runs `updates` units 120 ms apart with stdout
// on a fresh pseudo-terminal (as under mpirun, where a rank's stdout is one even when the job's
// output goes to a file) and returns what reached the terminal; nothing where no
// pseudo-terminal can be opened (a chroot without /dev/pts).
std::optional<std::string> progress_on_a_terminal(double log_every_seconds, int updates) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0) return std::nullopt;
  const int slave = ::grantpt(master) == 0 && ::unlockpt(master) == 0 ? ::open(::ptsname(master), O_RDWR | O_NOCTTY) : -1;
  if (slave < 0) {
    ::close(master);
    return std::nullopt;
  }
  std::fflush(stdout);
  const int saved_stdout = ::dup(STDOUT_FILENO);
  ::dup2(slave, STDOUT_FILENO);
  {
    contra::train::Progress progress("train", updates, log_every_seconds);
    for (int i = 1; i <= updates; ++i) {
      ::usleep(120000);
      progress.update(i, 1, "loss 1.0");
    }
  }
  std::fflush(stdout);
  ::dup2(saved_stdout, STDOUT_FILENO);
  ::close(saved_stdout);
  ::close(slave);
  std::string out;
  char buf[4096];
  ::fcntl(master, F_SETFL, O_NONBLOCK);
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(master);
  return out;
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("progress: --quiet draws only the last line, on a terminal too (mpirun gives ranks a pty)") {
  const std::optional<std::string> drawn = progress_on_a_terminal(10.0, 4);
  if (!drawn) {
    MESSAGE("SKIPPED: no pseudo-terminal can be opened here (/dev/pts)");
    return;
  }
  CHECK_MESSAGE(count_of(*drawn, "train ") == 4, *drawn);  // a terminal redraws every unit ≥ 0.1 s apart
  const std::optional<std::string> quiet = progress_on_a_terminal(contra::train::Progress::kQuiet, 4);
  REQUIRE(quiet);
  CHECK_MESSAGE(count_of(*quiet, "train ") == 1, *quiet);
  CHECK(quiet->find("train 4/4") != std::string::npos);
}
