// report_doc.h — a document written twice, as Markdown and as HTML, from the same calls
// (headings, paragraphs, tables, images): the run report (report.cpp) and the sweep
// report (sweep_report.cpp) are built with it.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace contra::train {

// A table kept as rows so it can be written as Markdown and as HTML.
struct ReportTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string md() const {
    std::ostringstream os;
    os << "|";
    for (auto& h : header) os << " " << h << " |";
    os << "\n|";
    for (size_t i = 0; i < header.size(); ++i) os << "---|";
    os << "\n";
    for (auto& r : rows) {
      os << "|";
      for (auto& c : r) os << " " << c << " |";
      os << "\n";
    }
    return os.str();
  }
  std::string html() const {
    std::ostringstream os;
    os << "<table><tr>";
    for (auto& h : header) os << "<th>" << h << "</th>";
    os << "</tr>";
    for (auto& r : rows) {
      os << "<tr>";
      for (auto& c : r) os << "<td>" << c << "</td>";
      os << "</tr>";
    }
    os << "</table>\n";
    return os.str();
  }
};

struct ReportDoc {
  std::ostringstream md, html;
  void h(int level, const std::string& t) {
    md << std::string(level, '#') << " " << t << "\n\n";
    html << "<h" << level << ">" << t << "</h" << level << ">\n";
  }
  void p(const std::string& t) {
    md << t << "\n\n";
    html << "<p>" << t << "</p>\n";
  }
  void table(const ReportTable& t) {
    md << t.md() << "\n";
    html << t.html();
  }
  void image(const std::string& rel_png, const std::string& alt) {
    md << "![" << alt << "](" << rel_png << ")\n\n";
    html << "<p><img src=\"" << rel_png << "\" alt=\"" << alt << "\" style=\"max-width:100%\"></p>\n";
  }
  // The HTML page around the body.
  std::string html_page(const std::string& title) const {
    return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + title +
           "</title><style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>\n" +
           html.str() + "</body></html>\n";
  }
};

}  // namespace contra::train
