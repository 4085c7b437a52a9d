// sweep_runner.cpp — child processes, markers, signals (see sweep_runner.h for why).
#include "train/sweep_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tensor/atomic_file.h"
#include "train/signals.h"

namespace contra::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The sweep's own signal policy: count signals; the loop forwards each one to the children.
volatile std::sig_atomic_t g_signals = 0, g_last_signal = 0;
extern "C" void on_sweep_signal(int sig) {
  g_signals = g_signals + 1;
  g_last_signal = sig;
}

// The configuration as recorded in the markers: what decides the result (not threads,
// resume or where the run directory is).
nlohmann::json comparable(PretrainConfig c) {
  c.threads = 0;
  c.resume = "none";
  c.out = "";
  return to_json(c);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  auto j = nlohmann::json::parse(f, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

double read_seconds(const std::string& path) {
  std::ifstream f(path);
  double s = 0.0;
  return (f >> s) ? s : 0.0;
}

std::string last_line(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  return last.size() > 300 ? last.substr(0, 300) + "…" : last;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string self_dir() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

// Starts `argv` in its own process group with stdout and stderr appended to `log`.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("sweep", "fork failed", "too many processes or no memory");
  if (pid == 0) {
    ::setpgid(0, 0);
    // Default dispositions for the child (the sweep's handlers do not survive exec anyway).
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::execv(args[0], args.data());
    const std::string msg = "sweep: cannot execute " + argv[0] + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so a signal cannot race the child's own call
  return pid;
}

std::string fixed0(double v) { return std::to_string(static_cast<long long>(std::llround(v))); }

}  // namespace

SweepRunner::SweepRunner(const SweepSpec& spec, SweepOptions options) : spec_(spec), opt_(std::move(options)) {
  out_ = opt_.out.empty() ? spec_.out : opt_.out;
  if (opt_.tools_dir.empty()) opt_.tools_dir = self_dir();
  if (opt_.jobs < 1) throw UsageError("-j", "the number of jobs must be ≥ 1");
  const int total = opt_.threads > 0 ? opt_.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_per_job_ = std::max(1, total / opt_.jobs);
}

std::vector<SweepRunRecord> SweepRunner::scan() const {
  std::vector<SweepRunRecord> runs;
  for (size_t p = 0; p < spec_.points.size(); ++p)
    for (auto seed : spec_.seeds) {
      SweepRunRecord r = sweep_run_record(spec_, p, seed, out_);
      r.seconds = read_seconds(out_ + "/logs/" + r.name + ".seconds");
      const nlohmann::json done = read_json(r.dir + "/sweep_done.json");
      if (!done.is_null()) {
        if (done.value("config", nlohmann::json()) == comparable(spec_.config_for(spec_.points[p], seed))) {
          r.status = "finished";
        } else {
          r.status = "failed";
          r.message = "the run directory holds a finished run with another configuration: remove " + r.dir +
                      " or give another --out";
        }
      } else if (fs::exists(r.dir + "/checkpoints")) {
        r.status = "stopped";
      }
      runs.push_back(r);
    }
  return runs;
}

nlohmann::json SweepRunner::compute_json(double wall_seconds) const {
  nlohmann::json j = {{"cpu", cpu_model()},
                      {"hardware_threads", std::thread::hardware_concurrency()},
                      {"jobs", opt_.jobs},
                      {"threads_per_job", threads_per_job_}};
  if (wall_seconds > 0) j["wall_seconds_this_invocation"] = wall_seconds;  // not for --report-only
  return j;
}

void SweepRunner::write_report() {
  SweepReport report(spec_, scan());
  report.write(out_, compute_json(0.0), true);
}

int SweepRunner::run() {
  for (const auto& t : {opt_.tools_dir + "/pretrain", opt_.tools_dir + "/evaluate"})
    if (::access(t.c_str(), X_OK) != 0)
      throw UsageError("--tools", "cannot execute " + t, "build the tools (meson compile -C build) or give --tools DIR");
  for (const char* d : {"runs", "configs", "logs"}) fs::create_directories(out_ + "/" + d);
  // One sweep at a time per output directory (the lock is released when the process ends).
  const int lock_fd = ::open((out_ + "/.sweep.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
    throw UsageError(out_, "another tools/sweep is running in this directory", "wait for it, or give another --out");

  std::vector<SweepRunRecord> runs = scan();
  const auto start = Clock::now();
  std::int64_t todo = 0;
  for (const auto& r : runs) todo += r.status != "finished" && r.status != "failed";
  opt_.log("sweep " + spec_.name + ": " + std::to_string(runs.size()) + " runs (" + std::to_string(spec_.points.size()) +
           " points × " + std::to_string(spec_.seeds.size()) + " seeds), " + std::to_string(runs.size() - todo) +
           " already done or failed, " + std::to_string(todo) + " to run; " + std::to_string(opt_.jobs) + " job(s) × " +
           std::to_string(threads_per_job_) + " thread(s); output " + out_);

  struct Active {
    size_t run;
    pid_t pid;
    std::string stage;  // "pretrain" | "evaluate"
    Clock::time_point started;
  };
  std::vector<Active> active;
  std::vector<size_t> queue;
  for (size_t i = 0; i < runs.size(); ++i)
    if (runs[i].status != "finished" && runs[i].status != "failed") queue.push_back(i);
  size_t next = 0;
  std::int64_t completed = 0;
  install_signal_handler(on_sweep_signal);
  int forwarded = 0;

  auto start_stage = [&](size_t i, const std::string& stage) {
    SweepRunRecord& r = runs[i];
    const std::vector<std::string> argv = stage_command(r, stage);
    {
      std::ofstream log(r.log, std::ios::app);
      log << "==== sweep: " << stage << ":";
      for (const auto& a : argv) log << " " << a;
      log << "\n";
    }
    active.push_back({i, spawn(argv, r.log), stage, Clock::now()});
    r.status = "running";
  };

  auto launch_next = [&]() {
    const size_t i = queue[next++];
    SweepRunRecord& r = runs[i];
    const auto trained = read_json(r.dir + "/sweep_trained.json");
    const bool skip_training =
        !trained.is_null() && trained.value("config", nlohmann::json()) == comparable(spec_.config_for(spec_.points[r.point], r.seed));
    opt_.log("[" + std::to_string(completed + static_cast<std::int64_t>(active.size()) + 1) + "/" + std::to_string(todo) +
             "] " + r.name + (r.status == "stopped" ? " (resuming)" : "") + ": " + (skip_training ? "evaluate" : "pretrain") +
             " (log " + r.log + ")");
    start_stage(i, skip_training ? "evaluate" : "pretrain");
  };

  while (true) {
    if (g_signals > forwarded) {
      if (forwarded == 0)
        opt_.log("stop requested (signal " + std::to_string(g_last_signal) + "): forwarding it to " +
                 std::to_string(active.size()) + " running child(ren), starting nothing new");
      for (const auto& a : active) ::kill(a.pid, g_last_signal);
      forwarded = g_signals;
    }
    const bool stopping = g_signals > 0;
    while (!stopping && static_cast<int>(active.size()) < opt_.jobs && next < queue.size()) launch_next();
    if (active.empty()) break;
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    size_t k = 0;
    while (k < active.size() && active[k].pid != pid) ++k;
    if (k == active.size()) continue;
    const Active a = active[k];
    active.erase(active.begin() + static_cast<std::ptrdiff_t>(k));
    SweepRunRecord& r = runs[a.run];
    const double secs = std::chrono::duration<double>(Clock::now() - a.started).count();
    r.seconds += secs;
    write_file_atomically(out_ + "/logs/" + r.name + ".seconds", std::to_string(r.seconds) + "\n");
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const nlohmann::json marker = {{"config", comparable(spec_.config_for(spec_.points[r.point], r.seed))},
                                   {"seconds", r.seconds}};
    if (code == 0 && a.stage == "pretrain") {
      write_file_atomically(r.dir + "/sweep_trained.json", marker.dump(2) + "\n");
      if (!stopping) {
        start_stage(a.run, "evaluate");
        continue;
      }
      r.status = "stopped";
      r.message = "trained; evaluation not started";
    } else if (code == 0) {
      write_file_atomically(r.dir + "/sweep_done.json", marker.dump(2) + "\n");
      r.status = "finished";
      r.message.clear();
      ++completed;
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const std::int64_t left = todo - completed;
      opt_.log("finished " + r.name + " in " + fixed0(r.seconds) + " s; " + std::to_string(left) + " left" +
               (left > 0 ? ", about " + fixed0(elapsed / static_cast<double>(completed) * static_cast<double>(left) / 60.0) + " min" : std::string()));
      SweepReport(spec_, runs).write(out_, compute_json(elapsed), false);
    } else if (stopping && (code == 130 || code == 143 || code == 128 + SIGINT || code == 128 + SIGTERM)) {
      r.status = "stopped";
      r.message = a.stage + " interrupted (exit " + std::to_string(code) + ")";
    } else {
      r.status = "failed";
      r.message = a.stage + " exited with code " + std::to_string(code) + ": " + last_line(r.log);
      ++completed;
      opt_.log("FAILED " + r.name + ": " + r.message + " (log " + r.log + "); the other runs go on");
    }
  }
  const int code = finish(runs, std::chrono::duration<double>(Clock::now() - start).count());
  ::close(lock_fd);  // after the final report: a second sweep waits for it
  return code;
}

std::vector<std::string> SweepRunner::stage_command(const SweepRunRecord& r, const std::string& stage) const {
  if (stage == "pretrain") {
    PretrainConfig c = spec_.config_for(spec_.points[r.point], r.seed);
    c.out = out_ + "/runs";
    c.threads = threads_per_job_;
    const std::string cfg = out_ + "/configs/" + r.name + ".toml";
    write_file_atomically(cfg, to_toml(c));
    return {opt_.tools_dir + "/pretrain", "--config", cfg, "--resume", "auto", "--quiet"};
  }
  std::string shots;
  for (auto k : spec_.evaluate.few_shot) shots += (shots.empty() ? "" : ",") + std::to_string(k);
  std::vector<std::string> argv = {opt_.tools_dir + "/evaluate", r.dir, "--threads", std::to_string(threads_per_job_),
                                   "--few-shot", shots.empty() ? "0" : shots, "--few-shot-draws",
                                   std::to_string(spec_.evaluate.few_shot_draws), "--prb-views",
                                   std::to_string(spec_.evaluate.prb_views), "--prb-images",
                                   std::to_string(spec_.evaluate.prb_images)};
  if (spec_.evaluate.probe_epochs > 0)
    for (const auto& a : {std::string("--probe-epochs"), std::to_string(spec_.evaluate.probe_epochs)}) argv.push_back(a);
  if (!spec_.evaluate.baselines)
    for (const char* a : {"--no-random-baseline", "--no-pixel-baseline"}) argv.push_back(a);
  return argv;
}

int SweepRunner::finish(const std::vector<SweepRunRecord>& runs, double elapsed) const {
  SweepReport report(spec_, runs);
  report.write(out_, compute_json(elapsed), true);
  std::int64_t finished = 0, failed = 0;
  for (const auto& r : runs) {
    finished += r.status == "finished";
    failed += r.status == "failed";
  }
  opt_.log("sweep " + spec_.name + ": " + std::to_string(finished) + " of " + std::to_string(runs.size()) +
           " runs finished, " + std::to_string(failed) + " failed; report " + out_ + "/report.md");
  if (g_signals > 0) {
    opt_.log("stopped by signal " + std::to_string(g_last_signal) + ": run the same command again to resume");
    return 128 + g_last_signal;
  }
  return failed > 0 ? 1 : 0;
}

}  // namespace contra::train
