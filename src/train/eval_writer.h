// eval_writer.h — the files of an evaluation, all produced from its EvalResults (evaluation.h),
// which measure and know nothing of files:
//
//   results.json                     every number (EvalResults::json)
//   summary.csv                      one row per encoder × kNN/probe metric, with the groups
//   per_class.csv, per_class_accuracy.{png,svg}   accuracy per class by pretraining count
//   prb_per_class.csv, prb_per_class.{png,svg}    PRB per class (docs/derivation.md §3)
//   features_<encoder>_test.npy      the test features of each encoder (N, D) f32
//
// The run report (report.h) reads results.json with the run's logs. All files are written
// atomically (tensor/atomic_file.h); figures need gnuplot and are skipped without it.
#pragma once

#include <string>

#include "train/evaluation.h"

namespace contra::train {

void write_evaluation(const EvalResults& results, const std::string& out_dir);

}  // namespace contra::train
