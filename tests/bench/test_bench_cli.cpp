// test_bench_cli.cpp — bench_train_step's command line (bench/train_step.cpp: CLI11): --help
// lists the options with their choices and exits 0; an unknown option or a bad value exits 2
// with CLI11's message naming it. None of these may run the benchmark: its header ("omp env:")
// and result ("contra train_step:") lines must be absent. Every case also asks for the
// smallest run, so a parser that let a bad value through costs a second, not minutes.
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "../train/tool_test_util.h"

using contra::test::run_command;
using contra::test::tool;

namespace {

// The tool with `args`; the cheap-run options are added unless the case sets them itself.
contra::test::ToolResult bench(const std::string& args) {
  std::string cmd = std::string(tool("CONTRA_BENCH_TRAIN_STEP")) + " " + args;
  const std::pair<std::string, std::string> cheap[] = {
      {"--batch", "2"}, {"--steps", "1"}, {"--warmup", "0"}, {"--width", "0.0625"}, {"--threads", "1"}};
  for (const auto& [name, value] : cheap) {
    const bool set = args.find(name + ' ') != std::string::npos || args.find(name + '=') != std::string::npos;
    if (!set) cmd.append(" ").append(name).append(" ").append(value);
  }
  return run_command(cmd);
}

void check_did_not_run(const contra::test::ToolResult& r) {
  CHECK_MESSAGE(r.output.find("contra train_step:") == std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("omp env:") == std::string::npos, r.output);
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("bench_train_step --help lists every option and its choices, exits 0, runs nothing") {
  const auto r = bench("--help");
  CHECK_MESSAGE(r.code == 0, r.output);
  check_did_not_run(r);
  for (const char* o : {"--batch", "--threads", "--steps", "--warmup", "--width", "--seed", "--device",
                        "--precision", "--conv-algorithm", "--checkpoint-activations", "--memory-report",
                        "--dump-steps"})
    CHECK_MESSAGE(has(r.output, o), o, " missing from --help:\n", r.output);
  // The choices and ranges as CLI11 prints them.
  CHECK_MESSAGE(has(r.output, "{direct,winograd}"), r.output);
  CHECK_MESSAGE(has(r.output, "{f32,bf16}"), r.output);
  CHECK_MESSAGE(has(r.output, "{none,stages,blocks}"), r.output);
  CHECK_MESSAGE(has(r.output, "INT >= 2"), r.output);   // --batch
  CHECK_MESSAGE(has(r.output, "NUMBER > 0"), r.output); // --width
}

TEST_CASE("bench_train_step: an unknown option is a usage error naming it (exit 2)") {
  const auto r = bench("--thread 1");  // a typo of --threads, once silently ignored
  CHECK_MESSAGE(r.code == 2, r.output);
  CHECK_MESSAGE(has(r.output, "--thread"), r.output);
  check_did_not_run(r);
}

TEST_CASE("bench_train_step: a value outside its range or choices is a usage error naming the option (exit 2)") {
  struct Case {
    const char* args;
    const char* names;  // what the message must contain
  };
  for (const Case& c : {Case{"--conv-algorithm fft", "--conv-algorithm"}, Case{"--precision f16", "--precision"},
                        Case{"--checkpoint-activations all", "--checkpoint-activations"},
                        Case{"--batch 1", "--batch"}, Case{"--steps 0", "--steps"}, Case{"--threads 0", "--threads"},
                        Case{"--warmup -1", "--warmup"}, Case{"--width 0", "--width"}, Case{"--batch abc", "--batch"},
                        Case{"--device tpu", "--device"}, Case{"--device cuda:x", "--device"}}) {
    CAPTURE(c.args);
    const auto r = bench(c.args);
    CHECK_MESSAGE(r.code == 2, r.output);
    CHECK_MESSAGE(has(r.output, c.names), r.output);
    check_did_not_run(r);
  }
}
