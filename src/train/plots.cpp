#include "train/plots.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace contra::train {

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

namespace {

std::string quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) q += (c == '"' ? std::string("\\\"") : std::string(1, c));
  return q + "\"";
}

std::string script_for(const Figure& f, const std::string& terminal, const std::string& out) {
  std::ostringstream g;
  g << "set terminal " << terminal << "\n";
  g << "set output " << quote(out) << "\n";
  g << "set datafile separator ','\n";
  g << "set key outside top center horizontal\n";
  g << "set grid ytics lc rgb '#dddddd'\n";
  g << "set title " << quote(f.title) << "\n";
  g << "set xlabel " << quote(f.xlabel) << "\n";
  g << "set ylabel " << quote(f.ylabel) << "\n";
  if (f.logx) g << "set logscale x\n";
  bool any_right = false;
  for (const auto& s : f.series) any_right = any_right || s.right_axis;
  if (any_right) {
    g << "set y2label " << quote(f.y2label) << "\n";
    g << "set y2tics\nset ytics nomirror\n";
  }
  if (f.boxes) {
    g << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n";
    g << "set xtics rotate by -45\n";
  }
  g << "plot ";
  for (size_t i = 0; i < f.series.size(); ++i) {
    const Series& s = f.series[i];
    if (i) g << ", ";
    if (f.boxes) {
      g << quote(f.csv) << " using " << s.column;
      if (i == 0 && !f.xtics_column.empty()) g << ":xtic(" << f.xtics_column << ")";
      g << " title " << quote(s.title);
    } else {
      g << quote(s.csv.empty() ? f.csv : s.csv) << " using " << (s.x_column > 0 ? s.x_column : f.x_column) << ":"
        << s.column;
      if (s.err_column > 0) g << ":" << s.err_column;
      if (!f.xtics_column.empty()) g << ":xtic(" << f.xtics_column << ")";
      g << " with " << s.style << (s.style.rfind("points", 0) == 0 ? " ps 1.5" : " lw 2") << " title " << quote(s.title);
      if (s.right_axis) g << " axes x1y2";
    }
  }
  g << "\n";
  return g.str();
}

bool run_gnuplot(const std::string& script) {
  char path[] = "/tmp/contra_plot_XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return false;
  const std::string text = "set key autotitle columnhead\n" + script;  // skip the CSV header
  try {
    write_all_to_fd(fd, text.data(), text.size(), path);
  } catch (const Error&) {  // a figure is optional: no script, no figure
    ::close(fd);
    std::remove(path);
    return false;
  }
  ::close(fd);
  const int rc = std::system((std::string("gnuplot ") + path + " 2>/tmp/contra_plot.err").c_str());
  std::remove(path);
  return rc == 0;
}

}  // namespace

bool draw(const Figure& f) {
  if (!gnuplot_available()) return false;
  const bool png = run_gnuplot(script_for(f, "pngcairo size 960,540 font 'sans,10'", f.out_stem + ".png"));
  const bool svg = run_gnuplot(script_for(f, "svg size 960,540 dynamic font 'sans,10'", f.out_stem + ".svg"));
  return png && svg;
}

}  // namespace contra::train
