// Token relevance as HTML and LaTeX (visualize/tokens.hpp).
#include "headprune/visualize/tokens.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "headprune/common/error.hpp"

namespace headprune::visualize {

namespace {

double finite_or_zero(double v) { return std::isfinite(v) ? v : 0.0; }

// Relevance as a colour strength, 0..100 (xcolor's red!<n>).
int percent(double v) { return static_cast<int>(std::lround(std::clamp(finite_or_zero(v), 0.0, 1.0) * 100.0)); }

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

void check_row(const TokenRow& row) {
  HP_ASSERT(row.tokens.size() == row.relevance.size(), "TokenRow: one relevance per token");
}

}  // namespace

std::vector<double> normalize_min_max(const std::vector<double>& values) {
  std::vector<double> out(values.size(), 0.0);
  if (values.empty()) return out;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    lo = std::min(lo, finite_or_zero(v));
    hi = std::max(hi, finite_or_zero(v));
  }
  const double range = hi - lo;
  if (!(range > 0) || !std::isfinite(range)) return out;
  for (size_t i = 0; i < values.size(); ++i) out[i] = (finite_or_zero(values[i]) - lo) / range;
  return out;
}

std::string latex_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    switch (c) {
      case '#': out += "\\#"; break;
      case '$': out += "\\$"; break;
      case '%': out += "\\%"; break;
      case '&': out += "\\&"; break;
      case '_': out += "\\_"; break;
      case '{': out += "\\{"; break;
      case '}': out += "\\}"; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      case '\n': case '\r': out += ' '; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_relevance(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", finite_or_zero(value));
  return buf;
}

const char* tokens_css() {
  return "table.tokens { border-collapse: collapse; margin: 0.5em 0; }\n"
         "table.tokens th { text-align: left; font-weight: normal; white-space: nowrap; padding: 2px 1em 2px 0; }\n"
         "table.tokens td { padding: 2px 0; }\n"
         ".tok { display: inline-block; text-align: center; margin: 1px; padding: 1px 4px; border-radius: 3px; }\n"
         ".tok .w { display: block; font-family: monospace; font-size: 110%; }\n"
         ".tok .v { display: block; font-size: 70%; color: #333; }\n";
}

std::string tokens_html_table(const std::vector<TokenRow>& rows) {
  std::ostringstream o;
  o << "<table class=\"tokens\">\n";
  for (const TokenRow& row : rows) {
    check_row(row);
    o << "<tr><th>" << html_escape(row.label) << "</th><td>";
    for (size_t i = 0; i < row.tokens.size(); ++i) {
      const std::string v = format_relevance(row.relevance[i]);
      char alpha[16];
      std::snprintf(alpha, sizeof alpha, "%.3f", std::clamp(finite_or_zero(row.relevance[i]), 0.0, 1.0));
      o << "<span class=\"tok\" style=\"background-color: rgba(255, 0, 0, " << alpha << ")\" title=\"relevance " << v
        << "\"><span class=\"w\">" << html_escape(row.tokens[i]) << "</span><span class=\"v\">" << v << "</span></span>";
      o << (i + 1 < row.tokens.size() ? " " : "");
    }
    o << "</td></tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

std::string tokens_html(const std::string& title, const std::vector<TokenRow>& rows) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(one_line(title))
    << "</title>\n<style>\nbody { font-family: sans-serif; }\n" << tokens_css() << "</style></head>\n<body>\n<h3>"
    << html_escape(title) << "</h3>\n"
    << tokens_html_table(rows) << "</body></html>\n";
  return o.str();
}

std::string tokens_latex(const std::string& title, const std::vector<TokenRow>& rows) {
  std::ostringstream o;
  o << "% Written by headprune visualize: question tokens coloured by relevance (values under each token).\n"
    << "% " << one_line(title) << "\n"
    << "\\documentclass[border=4pt]{standalone}\n"
    << "\\usepackage[T1]{fontenc}\n"
    << "\\usepackage[utf8]{inputenc}\n"
    << "\\usepackage{xcolor}\n"
    << "\\newcommand{\\tok}[3]{\\begin{tabular}[t]{@{}c@{}}\\colorbox{red!#1}{\\strut #2}\\\\[-1pt]{\\tiny #3}"
       "\\end{tabular}}\n"
    << "\\begin{document}\n"
    << "\\setlength{\\fboxsep}{1.5pt}%\n"
    << "\\begin{tabular}{@{}l@{\\quad}l@{}}\n"
    << "\\multicolumn{2}{@{}l@{}}{" << latex_escape(title) << "}\\\\[4pt]\n";
  for (const TokenRow& row : rows) {
    check_row(row);
    o << latex_escape(row.label) << " &";
    for (size_t i = 0; i < row.tokens.size(); ++i)
      o << " \\tok{" << percent(row.relevance[i]) << "}{" << latex_escape(row.tokens[i]) << "}{"
        << format_relevance(row.relevance[i]) << "}";
    o << " \\\\\n";
  }
  o << "\\end{tabular}\n\\end{document}\n";
  return o.str();
}

}  // namespace headprune::visualize
