// plots.h — pictures a person would rather look at than read, drawn by gnuplot from CSVs.
//
// Every figure is written twice, as PNG (pngcairo) and SVG, next to the CSV it is drawn
// from, so the numbers behind each picture are one file away. When gnuplot is missing the
// CSVs are still written and the function says so (returns false) instead of failing.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace contra::train {

struct Series {
  Series(std::string t, int col, std::string sty = "lines", bool right = false)
      : title(std::move(t)), column(col), style(std::move(sty)), right_axis(right) {}
  std::string title;
  int column;          // 1-based CSV column for y
  std::string style = "lines";  // gnuplot style; with err_column: "yerrorlines" or "yerrorbars"
  bool right_axis = false;
  int err_column = 0;  // 1-based column of ± y errors (0 = none)
  int x_column = 0;    // 1-based column for x (0 = the figure's)
  std::string csv;     // data file of this series ("" = the figure's)
};

struct Figure {
  std::string csv;        // data file (header line, comma separated)
  std::string out_stem;   // output path without extension (.png / .svg are added)
  std::string title, xlabel, ylabel, y2label;
  int x_column = 1;
  std::vector<Series> series;
  bool logx = false;
  bool boxes = false;          // bar chart over the x column
  std::string xtics_column;    // column index (as text) whose labels name the x tics (bars, or
                               // lines over an ordinal x)
};

// Draws a figure as PNG and SVG; returns false (and writes nothing) when gnuplot is absent.
bool draw(const Figure& f);
bool gnuplot_available();

}  // namespace contra::train
