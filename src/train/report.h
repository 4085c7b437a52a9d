// report.h — the one-page report of a run: training curves, results tables, pictures.
//
// Reads what the run directory already holds (manifest.json, metrics.jsonl, epochs.csv,
// eval/results.json), derives curves.csv from metrics.jsonl, draws the training figures
// (loss; attraction vs repulsion; kNN accuracy per epoch) with gnuplot, and writes
// report.md and report.html that link every figure and CSV. Missing pieces are skipped
// (a run stopped before its evaluation still gets its curves).
#pragma once

#include <string>

namespace contra::train {

// Returns the path of report.md.
std::string write_report(const std::string& run_dir);

}  // namespace contra::train
