// augment_throughput — two-view SimCLR CIFAR augmentation + collation throughput of the
// data loader (images/s; one image = two 32×32 views in the batch tensor), with 1 and 2
// threads, side by side with torchvision (bench/augment_torchvision.py, run with
// /usr/bin/python3) on the same machine. The contenders alternate for --rounds rounds
// so that load from other processes hits both alike; the report gives per-round
// numbers, medians and the median of the per-round ratios.
//
//   bench/augment_throughput [--images N] [--rounds R] [--no-torchvision]
//                            [--python /usr/bin/python3] [--script PATH]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "data/augment.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "tensor/error.h"

#ifndef CONTRA_SOURCE_DIR
#define CONTRA_SOURCE_DIR "."
#endif

using namespace contra;
using namespace contra::bench;
using namespace contra::data;

namespace {
// One warm-up epoch, then one timed epoch; images (samples) per second.
double ours(std::shared_ptr<const Dataset> d, int threads) {
  LoaderOptions o;
  o.batch_size = 256;
  o.views = 2;
  o.num_workers = threads;
  o.prefetch = 4;
  o.seed = 1;
  Loader l(d, Augment(simclr_cifar_preset()), o);
  while (l.next()) {}
  std::int64_t n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (auto b = l.next()) n += b->size();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(n) / dt;
}

double torchvision(const std::string& python, const std::string& script, int threads, std::int64_t images) {
  const std::string cmd = python + " " + script + " --threads " + std::to_string(threads) +
                          " --images " + std::to_string(images) + " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), &pclose);
  if (!p) return -1;
  char buf[4096];
  std::string out;
  while (std::fgets(buf, sizeof buf, p.get())) out += buf;
  const auto k = out.find("\"images_per_s\": ");
  if (k == std::string::npos) return -1;
  return std::strtod(out.c_str() + k + 16, nullptr);
}
}  // namespace

int main(int argc, char** argv) {
  std::int64_t images = 8192;
  int rounds = 3;
  bool with_tv = true;
  std::string python = "/usr/bin/python3";
  std::string script = std::string(CONTRA_SOURCE_DIR) + "/bench/augment_torchvision.py";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--images") images = std::atoll(value().c_str());
    else if (a == "--rounds") rounds = std::atoi(value().c_str());
    else if (a == "--no-torchvision") with_tv = false;
    else if (a == "--python") python = value();
    else if (a == "--script") script = value();
    else {
      std::fprintf(stderr, "usage: augment_throughput [--images N] [--rounds R] [--no-torchvision] "
                           "[--python PATH] [--script PATH]\n");
      return 2;
    }
  }
  if (images < 512 || rounds < 1) {
    std::fprintf(stderr, "augment_throughput: need --images >= 512 and --rounds >= 1\n");
    return 2;
  }
  try {
    SyntheticOptions so;
    so.train_size = images;
    so.test_size = 0;
    auto d = std::make_shared<const Dataset>(make_synthetic(so, 0));
    print_kernels();
    std::printf("two-view SimCLR CIFAR augmentation + collation, %lld images 32x32, batch 256, %d rounds\n",
                static_cast<long long>(images), rounds);
    std::printf("%s", simclr_cifar_preset().describe().c_str());
    for (int threads : {1, 2}) {
      std::vector<double> a, b, r;
      for (int k = 0; k < rounds; ++k) {
        a.push_back(ours(d, threads));
        if (with_tv) {
          const double t = torchvision(python, script, threads, std::min<std::int64_t>(images, 4096));
          if (t <= 0) {
            std::printf("torchvision run failed (%s %s); continuing without it\n", python.c_str(), script.c_str());
            with_tv = false;
          } else {
            b.push_back(t);
            r.push_back(a.back() / t);
          }
        }
        std::printf("  threads %d round %d: contra %.0f images/s", threads, k + 1, a.back());
        if (with_tv && !b.empty()) std::printf(", torchvision %.0f images/s, ratio %.2fx", b.back(), r.back());
        std::printf("\n");
        std::fflush(stdout);
      }
      std::printf("threads %d: contra median %.0f images/s", threads, median(a));
      if (!b.empty()) std::printf(", torchvision median %.0f images/s, median ratio %.2fx", median(b), median(r));
      std::printf("\n");
    }
    std::printf("(a training step of the Fashion-MNIST-LT job in recipes.md consumes ~600 images/s)\n");
    return 0;
  } catch (const contra::Error& e) {
    std::fprintf(stderr, "augment_throughput: %s\n", e.what());
    return 1;
  }
}
