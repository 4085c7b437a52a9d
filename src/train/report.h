// report.h — the one-page report of a run: training curves, results tables, pictures.
//
// From the run's manifest and its evaluation results (EvalResults, whose section
// eval_writer.h writes), and the training logs of the run directory (metrics.jsonl and
// epochs.csv, which hold every process's steps across resumes): derives curves.csv from
// metrics.jsonl, draws the training figures (loss; attraction vs repulsion; kNN accuracy per
// epoch) with gnuplot, and writes report.md and report.html that link every figure and CSV.
// Missing pieces are skipped (a run stopped before its evaluation still gets its curves).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "train/evaluation.h"

namespace contra::train {

// The process that trained or evaluated: the manifest (null: none) and the results in memory
// (null: no evaluation). Returns the path of report.md.
std::string write_report(const std::string& run_dir, const nlohmann::json& manifest, const EvalResults* evaluation);
// The run directory's manifest.json, or null when it is missing or not JSON.
nlohmann::json read_run_manifest(const std::string& run_dir);
// A finished run directory: manifest.json and eval/results.json (read_evaluation) as written.
std::string write_report(const std::string& run_dir);

}  // namespace contra::train
