// eval_writer.h — the files of an evaluation, all produced from its EvalResults (evaluation.h),
// which measure and know nothing of files:
//
//   results.json                     every number (EvalResults::json)
//   summary.csv                      one row per encoder × kNN/probe metric, with the groups
//   per_class.csv, per_class_accuracy.{png,svg}   accuracy per class by pretraining count
//   prb_per_class.csv, prb_per_class.{png,svg}    PRB per class (docs/derivation.md §3)
//   features_<encoder>_test.npy      the test features of each encoder (N, D) f32
//
// and the evaluation section of the run report (report.h), from the same EvalResults: in
// memory when the evaluation ran in this process, else read back by read_evaluation (the one
// reader of results.json). All files are written atomically (tensor/atomic_file.h); figures
// need gnuplot and are skipped without it.
#pragma once

#include <optional>
#include <string>

#include "train/evaluation.h"

namespace contra::train {

struct ReportDoc;

void write_evaluation(const EvalResults& results, const std::string& out_dir);

// The run report's evaluation section: kNN, probes, groups and PRB tables, the per-class
// figures written by write_evaluation (paths relative to the run directory, out_dir = eval/).
void add_evaluation_report(ReportDoc& doc, const EvalResults& results);

// What write_evaluation wrote to out_dir/results.json, as EvalResults (the json; no test
// features), or nothing when the file is missing or not JSON.
std::optional<EvalResults> read_evaluation(const std::string& out_dir);

}  // namespace contra::train
