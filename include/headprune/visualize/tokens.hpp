// Question tokens coloured by relevance, as HTML and as a LaTeX `standalone` document.
//
// Each row is one pruning ratio: a label ("40% pruned: yes") and the question's tokens (the
// model's word pieces, [CLS]/[SEP] included), each on a red background whose strength is its
// relevance, with the value written under it (3 decimals). Relevance is min-max normalised per
// row first, as the seed does before drawing (normalize_min_max).
//
// LaTeX: `\documentclass[border=4pt]{standalone}` with xcolor; each token is
// `\tok{<percent>}{<escaped token>}{<relevance>}`, `\tok` being `\colorbox{red!<percent>}{\strut ...}`
// with the value below. The special characters # $ % & ~ _ ^ \ { } are escaped (latex_escape),
// so any token compiles. HTML: every text is escaped (& < > " ').
//
// Torch-free.
#pragma once

#include <string>
#include <vector>

namespace headprune::visualize {

struct TokenRow {
  std::string label;                ///< e.g. "40% pruned: yes"
  std::vector<std::string> tokens;
  std::vector<double> relevance;    ///< displayed values, in [0, 1] (one per token)
};

/// (x - min) / (max - min), as the seed normalises text relevance; a constant (or empty) row
/// gives zeros, non-finite entries count as 0.
std::vector<double> normalize_min_max(const std::vector<double>& values);

/// LaTeX text-mode escape of # $ % & ~ _ ^ \ { } (other bytes, UTF-8 included, pass through).
std::string latex_escape(const std::string& text);

/// HTML escape of & < > " '.
std::string html_escape(const std::string& text);

/// The value as written in both outputs: fixed, 3 decimals ("0.812").
std::string format_relevance(double value);

/// A <table class="tokens"> fragment (one row per TokenRow), for index.html and tokens_html().
/// HP_ASSERTs tokens.size() == relevance.size() in every row.
std::string tokens_html_table(const std::vector<TokenRow>& rows);

/// A complete HTML page: `title` as heading, then the table.
std::string tokens_html(const std::string& title, const std::vector<TokenRow>& rows);

/// A complete standalone LaTeX document: `title` in a comment and as a first line, then one
/// line per row.
std::string tokens_latex(const std::string& title, const std::vector<TokenRow>& rows);

/// The CSS that tokens_html_table() relies on (included by tokens_html()).
const char* tokens_css();

}  // namespace headprune::visualize
