// Strict YAML config loading: one schema (visit_schema below) drives the key check, the typed
// read, the YAML writer and the key list, so a key cannot exist in one and not the others.
//
// Flow: parse the file -> check its keys -> parse and check each override -> read every schema
// key (the latest override naming the key or a section above it wins, else the file, else the
// default) -> cross-field validation -> resolve `count_rule: seed`.
#include "headprune/config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "headprune/common/error.hpp"
#include "headprune/explain/methods.hpp"
#include "headprune/models/families.hpp"

namespace headprune::config {
namespace {

// ---------------------------------------------------------------------------------------------
// Enum names: one table per enum; the YAML spelling is the enumerator's name (the stage's own
// name function where it has one). The table's order is the order of the choices in messages.
// ---------------------------------------------------------------------------------------------
template <class E>
struct EnumNames;
#define HP_ENUM_NAMES(E, ...)                                                      \
  template <>                                                                      \
  struct EnumNames<E> {                                                            \
    static const std::vector<std::pair<E, const char*>>& items() {                 \
      static const std::vector<std::pair<E, const char*>> v{__VA_ARGS__};          \
      return v;                                                                    \
    }                                                                              \
  };
HP_ENUM_NAMES(Device, {Device::cpu, "cpu"}, {Device::cuda, "cuda"})
HP_ENUM_NAMES(Precision, {Precision::fp64, "fp64"}, {Precision::fp32, "fp32"}, {Precision::tf32, "tf32"},
              {Precision::bf16, "bf16"})
using data::QuestionFormat;
using data::OnMissing;
using data::Selection;
using explain::Target;
using prune::CountRule;
using prune::Granularity;
using prune::Sign;
HP_ENUM_NAMES(QuestionFormat, {QuestionFormat::lxmert_json, data::question_format_name(QuestionFormat::lxmert_json)},
              {QuestionFormat::vqa_official, data::question_format_name(QuestionFormat::vqa_official)},
              {QuestionFormat::mmf_imdb, data::question_format_name(QuestionFormat::mmf_imdb)})
HP_ENUM_NAMES(Selection, {Selection::seed_shuffle, data::selection_name(Selection::seed_shuffle)},
              {Selection::first_n, data::selection_name(Selection::first_n)},
              {Selection::all, data::selection_name(Selection::all)},
              {Selection::list, data::selection_name(Selection::list)})
HP_ENUM_NAMES(OnMissing, {OnMissing::error, data::on_missing_name(OnMissing::error)},
              {OnMissing::skip, data::on_missing_name(OnMissing::skip)})
HP_ENUM_NAMES(Target, {Target::predicted, explain::target_name(Target::predicted)},
              {Target::ground_truth, explain::target_name(Target::ground_truth)})
HP_ENUM_NAMES(Protocol, {Protocol::per_sample, "per_sample"}, {Protocol::global, "global"})
HP_ENUM_NAMES(GlobalFit, {GlobalFit::all, "all"}, {GlobalFit::half, "half"})
using prune::ModuleKind;
HP_ENUM_NAMES(ModuleKind, {ModuleKind::all, prune::module_kind_name(ModuleKind::all)},
              {ModuleKind::text, prune::module_kind_name(ModuleKind::text)},
              {ModuleKind::image, prune::module_kind_name(ModuleKind::image)},
              {ModuleKind::cross, prune::module_kind_name(ModuleKind::cross)},
              {ModuleKind::joint, prune::module_kind_name(ModuleKind::joint)})
HP_ENUM_NAMES(Granularity, {Granularity::head, prune::granularity_name(Granularity::head)},
              {Granularity::layer, prune::granularity_name(Granularity::layer)})
HP_ENUM_NAMES(Sign, {Sign::positive, prune::sign_name(Sign::positive)},
              {Sign::negative, prune::sign_name(Sign::negative)})
HP_ENUM_NAMES(CountRule, {CountRule::keep_floor, prune::count_rule_name(CountRule::keep_floor)},
              {CountRule::prune_floor, prune::count_rule_name(CountRule::prune_floor)},
              {CountRule::nearest, prune::count_rule_name(CountRule::nearest)})
using run::Shard;
HP_ENUM_NAMES(Shard, {Shard::samples, run::shard_name(Shard::samples)},
              {Shard::samples_x_ratios, run::shard_name(Shard::samples_x_ratios)})
#undef HP_ENUM_NAMES

template <class E>
std::string enum_name(E v) {
  for (const auto& [value, name] : EnumNames<E>::items())
    if (value == v) return name;
  HP_ASSERT(false, "enum value without a name");
  return {};
}

template <class E>
E enum_value(const std::string& name) {
  for (const auto& [value, n] : EnumNames<E>::items())
    if (n == name) return value;
  HP_ASSERT(false, "no enum value named " + name);
  return {};
}

template <class E>
std::string enum_choices() {
  std::string out;
  for (const auto& item : EnumNames<E>::items()) out += (out.empty() ? "" : ", ") + std::string(item.second);
  return out;
}

const std::vector<std::string> kLogLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};

// Keys whose values are names from a registry (the model families, the scoring methods, the
// protocols): the registry is the one list of what exists, config only checks against it.
using NamesFn = std::vector<std::string> (*)();

std::vector<std::string> family_choices() {
  std::vector<std::string> out;
  for (const auto& f : models::families()) out.push_back(f.name);
  return out;
}

std::string join_choices(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

/// Marks the one key whose value goes through its own reader (`count_rule: seed`).
struct CountRuleField {
  CountRule* value;
};

// ---------------------------------------------------------------------------------------------
// The schema: every key, in the order it is written. Top-level leaves first, then one block per
// section (the writer relies on this grouping). `req` = required key.
// ---------------------------------------------------------------------------------------------
constexpr bool req = true;
constexpr bool opt = false;

template <class C, class V>
void visit_schema(C& c, V& v) {
  v.leaf("name", c.name, req);
  v.leaf("log_level", c.log_level, opt);
  v.leaf("device", c.device, opt);
  v.leaf("precision", c.precision, opt);
  v.leaf("seed", c.seed, opt);

  v.choice("model.family", c.model.family, req, family_choices);
  v.leaf("model.path", c.model.path, req);
  v.leaf("model.vocab", c.model.vocab, opt);
  v.leaf("model.strict_load", c.model.strict_load, opt);
  v.leaf("model.max_text_tokens", c.model.max_text_tokens, opt);
  v.leaf("model.max_regions", c.model.max_regions, opt);

  v.leaf("data.format", c.data.format, opt);
  v.leaf("data.questions", c.data.questions, req);
  v.leaf("data.annotations", c.data.annotations, opt);
  v.leaf("data.features", c.data.features, opt);  // this or data.images (validate)
  v.leaf("data.answers", c.data.answers, opt);
  v.leaf("data.answers_dir", c.data.answers_dir, opt);  // alias of data.answers (validate)
  v.leaf("data.selection", c.data.selection, opt);
  v.leaf("data.selection_file", c.data.selection_file, opt);
  v.leaf("data.num_samples", c.data.num_samples, opt);
  v.leaf("data.selection_seed", c.data.selection_seed, opt);
  v.leaf("data.exclude_images", c.data.exclude_images, opt);
  v.leaf("data.on_missing", c.data.on_missing, opt);
  v.leaf("data.image_root", c.data.image_root, opt);
  v.leaf("data.images", c.data.images, opt);

  v.choice("scoring.methods", c.scoring.methods, opt, explain::method_names);
  v.leaf("scoring.explain", c.scoring.explain, opt);
  v.leaf("scoring.michel_normalize", c.scoring.michel_normalize, opt);
  v.leaf("scoring.random_seed", c.scoring.random_seed, opt);
  v.leaf("scoring.ig_steps", c.scoring.ig_steps, opt);
  v.leaf("scoring.random_repeats", c.scoring.random_repeats, opt);

  v.leaf("prune.protocols", c.prune.protocols, opt);
  v.leaf("prune.granularities", c.prune.granularities, opt);
  v.leaf("prune.signs", c.prune.signs, opt);
  v.leaf("prune.ratios", c.prune.ratios, opt);
  v.count_rule("prune.count_rule", c.prune.count_rule);
  v.leaf("prune.global_normalize", c.prune.global_normalize, opt);
  v.leaf("prune.modalities", c.prune.modalities, opt);
  v.leaf("prune.global_fit", c.prune.global_fit, opt);

  v.leaf("run.batch_size", c.run.batch_size, opt);
  v.leaf("run.threads_per_rank", c.run.threads_per_rank, opt);
  v.leaf("run.checkpoint_every", c.run.checkpoint_every, opt);
  v.leaf("run.progress_seconds", c.run.progress_seconds, opt);
  v.leaf("run.shard", c.run.shard, opt);

  v.leaf("output.path", c.output.path, req);
  v.leaf("output.overwrite", c.output.overwrite, opt);

  v.leaf("visualize.samples", c.visualize.samples, opt);
  v.leaf("visualize.ratios", c.visualize.ratios, opt);
  v.leaf("visualize.out_dir", c.visualize.out_dir, opt);
}

/// Hints in "missing required key" messages.
std::string required_hint(const std::string& key) {
  if (key == "name") return "experiment/run name";
  if (key == "model.family") return "one of " + join_choices(family_choices());
  if (key == "model.path")
    return "a folder with config.json, model.safetensors or pytorch_model.bin, vocab.txt; or MMF's zoo folder";
  if (key == "data.questions") return "the questions file";
  if (key == "data.features") return "the HDF5 feature store";
  if (key == "data.images") return "the folder of raw images";
  if (key == "data.annotations") return "required when data.format is vqa_official";
  if (key == "data.selection_file") return "required when data.selection is list: question ids, one a line";
  if (key == "output.path") return "the results .h5 file to write";
  return "";
}

struct KeyCollector {
  std::vector<std::string> keys;
  template <class T>
  void leaf(const std::string& key, T&, bool) { keys.push_back(key); }
  template <class T>
  void choice(const std::string& key, T&, bool, NamesFn) { keys.push_back(key); }
  void count_rule(const std::string& key, CountRule&) { keys.push_back(key); }
};

struct Schema {
  std::vector<std::string> leaves;        // schema order
  std::vector<std::string> sections;      // first-appearance order
  std::vector<std::string> top_level;     // names at the top level, schema order
  std::set<std::string> leaf_set, section_set;

  Schema() {
    Config c;
    KeyCollector k;
    visit_schema(c, k);
    leaves = k.keys;
    for (const auto& key : leaves) {
      leaf_set.insert(key);
      auto dot = key.find('.');
      std::string top = key.substr(0, dot);
      if (std::find(top_level.begin(), top_level.end(), top) == top_level.end()) top_level.push_back(top);
      if (dot != std::string::npos && !section_set.count(top)) {
        section_set.insert(top);
        sections.push_back(top);
      }
    }
  }
  bool is_leaf(const std::string& k) const { return leaf_set.count(k) > 0; }
  bool is_section(const std::string& k) const { return section_set.count(k) > 0; }
  bool known(const std::string& k) const { return is_leaf(k) || is_section(k); }
  std::vector<std::string> children(const std::string& section) const {
    std::vector<std::string> out;
    for (const auto& key : leaves)
      if (key.rfind(section + ".", 0) == 0) out.push_back(key.substr(section.size() + 1));
    return out;
  }
};

const Schema& schema() {
  static const Schema s;
  return s;
}

// ---------------------------------------------------------------------------------------------
// "Did you mean": optimal-string-alignment distance (edits + adjacent transpositions).
// ---------------------------------------------------------------------------------------------
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::string last_component(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

size_t typo_budget(const std::string& s) { return std::clamp<size_t>(s.size() / 3, 1, 3); }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

/// " (did you mean 'x'?)" or " (valid keys under 'model': ...)" for an unknown dotted key.
std::string unknown_key_hint(const std::string& key) {
  const Schema& s = schema();
  std::vector<std::string> candidates = s.leaves;
  candidates.insert(candidates.end(), s.sections.begin(), s.sections.end());
  // 1. A typo of a whole key (never an ancestor of the key itself: "run.x" is not "run").
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& cand : candidates) {
    if (key.rfind(cand + ".", 0) == 0) continue;
    size_t d = edit_distance(key, cand);
    if (d < best_d) best_d = d, best = cand;
  }
  if (best_d <= typo_budget(key)) return " (did you mean '" + best + "'?)";
  // 2. The right name in the wrong section ("batch_size" -> "run.batch_size").
  const std::string last = last_component(key);
  best_d = SIZE_MAX;
  for (const auto& cand : s.leaves) {
    size_t d = edit_distance(last, last_component(cand));
    if (d < best_d) best_d = d, best = cand;
  }
  if (best_d <= typo_budget(last) && best != key) return " (did you mean '" + best + "'?)";
  // 3. List what is valid where the key was given.
  std::string parent = key.substr(0, key.find('.'));
  if (key.find('.') != std::string::npos && s.is_section(parent))
    return " (valid keys under '" + parent + "': " + join(s.children(parent)) + ")";
  return " (valid top-level keys: " + join(s.top_level) + ")";
}

// ---------------------------------------------------------------------------------------------
// Sources: the parsed file and the overrides, and where each value came from.
// ---------------------------------------------------------------------------------------------
struct Override {
  std::string key;
  YAML::Node value;
  std::string label;  // "override 'k=v'"
};

struct Found {
  YAML::Node node;  // defined; may be null (= unset)
  std::string label;
};

class Sources {
 public:
  Sources(std::string origin, YAML::Node root) : origin_(std::move(origin)), root_(std::move(root)) {}

  const std::string& origin() const { return origin_; }
  const YAML::Node& root() const { return root_; }
  void add_override(Override o) { overrides_.push_back(std::move(o)); }

  /// File location of a node ("configs/x.yaml:3:7") or the override's label.
  std::string label_for(const YAML::Node& node, const std::string& base) const {
    if (base != origin_) return base;
    YAML::Mark m = node.Mark();
    if (m.is_null()) return origin_;
    return origin_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  /// The value in effect for a dotted key, or nullopt when nobody set it.
  std::optional<Found> lookup(const std::string& key) const {
    for (auto it = overrides_.rbegin(); it != overrides_.rend(); ++it) {
      if (it->key == key) return Found{it->value, it->label};
      if (key.rfind(it->key + ".", 0) == 0) {
        YAML::Node n = navigate(it->value, key.substr(it->key.size() + 1));
        if (n.IsDefined()) return Found{n, it->label};
      }
    }
    YAML::Node n = navigate(root_, key);
    if (n.IsDefined()) return Found{n, label_for(n, origin_)};
    return std::nullopt;
  }

 private:
  static YAML::Node navigate(const YAML::Node& start, const std::string& dotted) {
    // Read-only walk: const operator[] never inserts, and reset() rebinds the handle (a plain
    // Node assignment would overwrite the node it refers to).
    YAML::Node cur;
    cur.reset(start);
    std::stringstream ss(dotted);
    std::string part;
    while (std::getline(ss, part, '.')) {
      if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
      const YAML::Node& ccur = cur;
      YAML::Node next = ccur[part];
      if (!next.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
      cur.reset(next);
    }
    return cur;
  }

  std::string origin_;
  YAML::Node root_;
  std::vector<Override> overrides_;
};

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    default: return "nothing";
  }
}

/// Checks every key of a mapping against the schema: unknown, duplicate, non-scalar keys and
/// sections that are not mappings. `prefix` is the dotted section the mapping belongs to.
void check_keys(const Sources& src, const YAML::Node& map, const std::string& prefix, const std::string& base) {
  const Schema& s = schema();
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const YAML::Node& k = kv.first;
    const YAML::Node& v = kv.second;
    if (!k.IsScalar())
      throw UserError(src.label_for(k, base) + ": a key must be a plain name" +
                      (prefix.empty() ? "" : " (in section '" + prefix + "')"));
    const std::string full = prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
    if (!seen.insert(k.Scalar()).second) throw UserError(src.label_for(k, base) + ": duplicate key '" + full + "'");
    if (s.is_section(full)) {
      if (v.IsMap())
        check_keys(src, v, full, base);
      else if (!v.IsNull())
        throw UserError(src.label_for(v, base) + ": key '" + full + "' expected a mapping (a section with keys " +
                        join(s.children(full)) + "), got " + describe(v));
    } else if (!s.is_leaf(full)) {
      throw UserError(src.label_for(k, base) + ": unknown key '" + full + "'" + unknown_key_hint(full));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar parsing (shared by the reader and the writer's quoting decision).
// ---------------------------------------------------------------------------------------------
std::optional<int64_t> parse_int(std::string s) {
  if (!s.empty() && s[0] == '+') s.erase(0, 1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string s) {
  if (!s.empty() && s[0] == '+') s.erase(0, 1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

/// Shortest text that reads back to exactly `v`.
std::string format_double(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  HP_ASSERT(ec == std::errc(), "to_chars(double) failed");
  return std::string(buf, p);
}

// ---------------------------------------------------------------------------------------------
// Reader: schema key -> typed value.
// ---------------------------------------------------------------------------------------------
class Reader {
 public:
  explicit Reader(const Sources& src) : src_(src) {}

  template <class T>
  void leaf(const std::string& key, T& out, bool required) {
    auto found = src_.lookup(key);
    if (!found || found->node.IsNull()) {
      if (required) missing(key, found ? found->label : src_.origin());
      return;
    }
    const std::string where = found->label;
    labels_[key] = where;
    read(key, found->node, where, out);
  }

  /// A registry name (or a list of them): read as text, then checked against the registry.
  template <class T>
  void choice(const std::string& key, T& out, bool required, NamesFn names) {
    auto found = src_.lookup(key);
    if (!found || found->node.IsNull()) {
      if (required) missing(key, found ? found->label : src_.origin());
      return;
    }
    labels_[key] = found->label;
    read_choice(key, found->node, found->label, out, names());
  }

  void count_rule(const std::string& key, CountRule& out) {
    auto found = src_.lookup(key);
    count_rule_is_seed_ = true;
    if (!found || found->node.IsNull()) return;
    labels_[key] = found->label;
    if (found->node.IsScalar() && found->node.Scalar() == "seed") return;
    count_rule_is_seed_ = false;
    read_enum(key, found->node, found->label, out, "seed, " + enum_choices<CountRule>());
  }

  bool count_rule_is_seed() const { return count_rule_is_seed_; }

  /// Where a key's value came from, for validation messages.
  std::string where(const std::string& key) const {
    auto it = labels_.find(key);
    return it == labels_.end() ? src_.origin() : it->second;
  }

  [[noreturn]] void missing(const std::string& key, const std::string& where) const {
    std::string hint = required_hint(key);
    throw UserError(where + ": missing required key '" + key + "'" + (hint.empty() ? "" : " (" + hint + ")"));
  }

 private:
  [[noreturn]] void wrong_type(const std::string& key, const YAML::Node& n, const std::string& where,
                               const std::string& expected) const {
    throw UserError(where + ": key '" + key + "' expected " + expected + ", got " + describe(n));
  }

  std::string element_where(const YAML::Node& n, const std::string& where) const {
    // Elements of a file value get their own line:column; an override keeps its label.
    return where.rfind(src_.origin(), 0) == 0 ? src_.label_for(n, src_.origin()) : where;
  }

  void read(const std::string& key, const YAML::Node& n, const std::string& where, std::string& out) {
    if (!n.IsScalar()) wrong_type(key, n, where, "a string");
    out = n.Scalar();
    if (out.empty()) throw UserError(where + ": key '" + key + "' must not be empty");
  }
  void read(const std::string& key, const YAML::Node& n, const std::string& where, std::optional<std::string>& out) {
    if (!n.IsScalar()) wrong_type(key, n, where, "a string");
    if (n.Scalar().empty())
      out.reset();
    else
      out = n.Scalar();
  }
  void read(const std::string& key, const YAML::Node& n, const std::string& where, bool& out) {
    auto v = n.IsScalar() ? parse_bool(n.Scalar()) : std::nullopt;
    if (!v) wrong_type(key, n, where, "true or false");
    out = *v;
  }
  void read(const std::string& key, const YAML::Node& n, const std::string& where, int64_t& out) {
    auto v = n.IsScalar() ? parse_int(n.Scalar()) : std::nullopt;
    if (!v) wrong_type(key, n, where, "an integer");
    out = *v;
  }
  void read(const std::string& key, const YAML::Node& n, const std::string& where, double& out) {
    auto v = n.IsScalar() ? parse_double(n.Scalar()) : std::nullopt;
    if (!v) wrong_type(key, n, where, "a number");
    out = *v;
  }
  template <class E, class = std::enable_if_t<std::is_enum_v<E>>>
  void read(const std::string& key, const YAML::Node& n, const std::string& where, E& out) {
    read_enum(key, n, where, out, enum_choices<E>());
  }
  template <class E>
  void read_enum(const std::string& key, const YAML::Node& n, const std::string& where, E& out,
                 const std::string& choices) {
    if (n.IsScalar())
      for (const auto& [value, name] : EnumNames<E>::items())
        if (n.Scalar() == name) {
          out = value;
          return;
        }
    throw UserError(where + ": key '" + key + "' must be one of " + choices + " (got " +
                    (n.IsScalar() ? "'" + n.Scalar() + "'" : describe(n)) + ")");
  }
  void read_choice(const std::string& key, const YAML::Node& n, const std::string& where, std::string& out,
                   const std::vector<std::string>& names) {
    if (n.IsScalar() && std::find(names.begin(), names.end(), n.Scalar()) != names.end()) {
      out = n.Scalar();
      return;
    }
    throw UserError(where + ": key '" + key + "' must be one of " + join_choices(names) + " (got " +
                    (n.IsScalar() ? "'" + n.Scalar() + "'" : describe(n)) + ")");
  }
  void read_choice(const std::string& key, const YAML::Node& n, const std::string& where, std::vector<std::string>& out,
                   const std::vector<std::string>& names) {
    if (!n.IsSequence())
      wrong_type(key, n, where, "a list of values from " + join_choices(names) + " (e.g. [" + names.front() + "])");
    std::vector<std::string> values;
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node& item = n[i];
      const std::string item_key = key + "[" + std::to_string(i) + "]";
      const std::string item_where = element_where(item, where);
      labels_[item_key] = item_where;
      if (item.IsNull()) wrong_type(item_key, item, item_where, "one of " + join_choices(names));
      read_choice(item_key, item, item_where, values.emplace_back(), names);
    }
    out = std::move(values);
  }
  template <class T>
  void read(const std::string& key, const YAML::Node& n, const std::string& where, std::vector<T>& out) {
    if (!n.IsSequence()) wrong_type(key, n, where, list_expectation<T>());
    std::vector<T> values;
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node& item = n[i];
      const std::string item_key = key + "[" + std::to_string(i) + "]";
      const std::string item_where = element_where(item, where);
      labels_[item_key] = item_where;
      if (item.IsNull()) wrong_type(item_key, item, item_where, element_expectation<T>());
      T value{};
      read(item_key, item, item_where, value);
      values.push_back(value);
    }
    out = std::move(values);
  }
  template <class T>
  static std::string element_expectation() {
    if constexpr (std::is_same_v<T, double>) return "a number";
    else if constexpr (std::is_same_v<T, int64_t>) return "an integer";
    else if constexpr (std::is_enum_v<T>) return "one of " + enum_choices<T>();
    else return "a string";
  }
  template <class T>
  static std::string list_expectation() {
    if constexpr (std::is_same_v<T, double>) return "a list of numbers (e.g. [0, 0.5])";
    else if constexpr (std::is_same_v<T, int64_t>) return "a list of integers (e.g. [1, 2])";
    else if constexpr (std::is_enum_v<T>) return "a list of values from " + enum_choices<T>() + " (e.g. [" +
                                                  std::string(EnumNames<T>::items().front().second) + "])";
    else return "a list of strings";
  }

  const Sources& src_;
  std::map<std::string, std::string> labels_;
  bool count_rule_is_seed_ = true;
};

// ---------------------------------------------------------------------------------------------
// Validation of values and of keys that depend on each other.
// ---------------------------------------------------------------------------------------------
template <class T>
void check_unique(const Reader& r, const std::string& key, const std::vector<T>& values, bool allow_empty) {
  if (values.empty() && !allow_empty) throw UserError(r.where(key) + ": key '" + key + "' must list at least one value");
  for (size_t i = 0; i < values.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (values[i] == values[j]) {
        std::string item = key + "[" + std::to_string(i) + "]";
        throw UserError(r.where(item) + ": key '" + item + "' repeats an earlier value");
      }
}

void check_min(const Reader& r, const std::string& key, int64_t value, int64_t min, const std::string& why = "") {
  if (value < min)
    throw UserError(r.where(key) + ": key '" + key + "' must be >= " + std::to_string(min) + " (got " +
                    std::to_string(value) + (why.empty() ? "" : "; " + why) + ")");
}

void check_ratios(const Reader& r, const std::string& key, const std::vector<double>& ratios, bool allow_empty) {
  check_unique(r, key, ratios, allow_empty);
  for (size_t i = 0; i < ratios.size(); ++i)
    if (!(ratios[i] >= 0.0 && ratios[i] < 1.0)) {
      std::string item = key + "[" + std::to_string(i) + "]";
      throw UserError(r.where(item) + ": key '" + item + "' must be in [0, 1) (got " + format_double(ratios[i]) + ")");
    }
}

void validate(Config& c, const Reader& r) {
  if (std::find(kLogLevels.begin(), kLogLevels.end(), c.log_level) == kLogLevels.end())
    throw UserError(r.where("log_level") + ": key 'log_level' must be one of " + join(kLogLevels) + " (got '" +
                    c.log_level + "')");
  for (char ch : c.name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-' || ch == '+'))
      throw UserError(r.where("name") + ": key 'name' may only use letters, digits, '.', '_', '-', '+' (got '" +
                      c.name + "'): it names result groups and files");
  if (c.name == "." || c.name == "..") throw UserError(r.where("name") + ": key 'name' must not be '" + c.name + "'");
  if (c.precision == Precision::tf32 && c.device != Device::cuda)
    throw UserError(r.where("precision") + ": key 'precision' tf32 needs device: cuda (use fp32 on cpu)");
  check_min(r, "seed", c.seed, 0);

  if (c.model.max_text_tokens != 0)  // 0 = the seed's length for the family
    check_min(r, "model.max_text_tokens", c.model.max_text_tokens, 3,
              "room for [CLS], [SEP] and a word; 0 = the seed's length for the family");
  check_min(r, "model.max_regions", c.model.max_regions, 1);

  if (c.data.format == QuestionFormat::vqa_official && !c.data.annotations)
    r.missing("data.annotations", r.where("data.format"));
  if (c.data.format != QuestionFormat::vqa_official && c.data.annotations)
    throw UserError(r.where("data.annotations") +
                    ": key 'data.annotations' is only used with data.format: vqa_official (" +
                    enum_name(c.data.format) + " files carry their answers)");
  if (c.data.answers_dir) {  // the old name of data.answers
    if (c.data.answers)
      throw UserError(r.where("data.answers_dir") + ": key 'data.answers_dir' is the old name of 'data.answers' (set at " +
                      r.where("data.answers") + "): give one of them");
    c.data.answers = std::move(c.data.answers_dir);
    c.data.answers_dir.reset();
  }
  if (c.data.selection == Selection::list && !c.data.selection_file) r.missing("data.selection_file", r.where("data.selection"));
  if (c.data.selection != Selection::list && c.data.selection_file)
    throw UserError(r.where("data.selection_file") + ": key 'data.selection_file' is only used with data.selection: list");
  if (c.data.features.empty() && !c.data.images)
    throw UserError(r.where("data.features") + ": missing required key 'data.features' or 'data.images' (the HDF5 "
                    "feature store of a region-feature model, or the folder of raw images of a pixel-reading model "
                    "such as ViLT)");
  check_min(r, "data.num_samples", c.data.num_samples, 1);
  check_min(r, "data.selection_seed", c.data.selection_seed, 0);

  check_unique(r, "scoring.methods", c.scoring.methods, false);
  check_min(r, "scoring.random_seed", c.scoring.random_seed, 0);
  check_min(r, "scoring.ig_steps", c.scoring.ig_steps, 1);
  check_min(r, "scoring.random_repeats", c.scoring.random_repeats, 1);

  check_unique(r, "prune.protocols", c.prune.protocols, false);
  check_unique(r, "prune.granularities", c.prune.granularities, false);
  check_unique(r, "prune.signs", c.prune.signs, false);
  check_unique(r, "prune.modalities", c.prune.modalities, false);
  if (c.prune.global_fit == GlobalFit::half &&
      std::find(c.prune.protocols.begin(), c.prune.protocols.end(), Protocol::global) == c.prune.protocols.end())
    throw UserError(r.where("prune.global_fit") +
                    ": key 'prune.global_fit' is only used with the global protocol (add 'global' to prune.protocols)");
  check_ratios(r, "prune.ratios", c.prune.ratios, false);
  if (r.count_rule_is_seed())
    c.prune.count_rule = enum_value<CountRule>(models::find_family(c.model.family, r.where("model.family")).seed_count_rule);

  check_min(r, "run.batch_size", c.run.batch_size, 1);
  check_min(r, "run.threads_per_rank", c.run.threads_per_rank, 0);
  check_min(r, "run.checkpoint_every", c.run.checkpoint_every, 1);
  check_min(r, "run.progress_seconds", c.run.progress_seconds, 0);

  check_unique(r, "visualize.samples", c.visualize.samples, true);
  check_ratios(r, "visualize.ratios", c.visualize.ratios, true);
}

// ---------------------------------------------------------------------------------------------
// Writer: typed value -> YAML text, every key, sections as block mappings, lists in flow style.
// ---------------------------------------------------------------------------------------------
bool looks_like_non_string(const std::string& s) {
  static const std::set<std::string> specials{"~",   "null", "Null", "NULL", "yes", "Yes", "YES", "no",  "No",
                                              "NO",  "on",   "On",   "ON",   "off", "Off", "OFF", "y",   "Y",
                                              "n",   "N",    ".inf", ".nan", "seed"};
  return s.empty() || specials.count(s) || parse_bool(s) || parse_double(s) || parse_int(s);
}

class Writer {
 public:
  explicit Writer(YAML::Emitter& out) : out_(out) {}

  template <class T>
  void leaf(const std::string& key, const T& value, bool) {
    enter(key);
    out_ << YAML::Key << last_component(key) << YAML::Value;
    emit(value);
  }
  template <class T>
  void choice(const std::string& key, const T& value, bool, NamesFn) { leaf(key, value, opt); }
  void count_rule(const std::string& key, const CountRule& value) { leaf(key, value, opt); }
  void finish() {
    if (!section_.empty()) out_ << YAML::EndMap;
    out_ << YAML::EndMap;
  }

 private:
  void enter(const std::string& key) {
    auto dot = key.find('.');
    std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
    if (section == section_) return;
    HP_ASSERT(section_.empty() || !section.empty(), "schema lists a top-level key after a section");
    if (!section_.empty()) out_ << YAML::EndMap;
    out_ << YAML::Key << section << YAML::Value << YAML::BeginMap;
    section_ = section;
  }

  void emit(const std::string& s) {
    if (s.empty())  // a string key left unset (data.features beside data.images): read back as unset
      out_ << YAML::Null;
    else if (looks_like_non_string(s))
      out_ << YAML::DoubleQuoted << s;
    else
      out_ << s;
  }
  void emit(const std::optional<std::string>& s) {
    if (s)
      emit(*s);
    else
      out_ << YAML::Null;
  }
  void emit(bool b) { out_ << (b ? "true" : "false"); }
  void emit(int64_t v) { out_ << std::to_string(v); }
  void emit(double v) { out_ << format_double(v); }
  template <class E, class = std::enable_if_t<std::is_enum_v<E>>>
  void emit(E v) {
    out_ << enum_name(v);
  }
  template <class T>
  void emit(const std::vector<T>& values) {
    out_ << YAML::Flow << YAML::BeginSeq;
    for (const auto& v : values) emit(v);
    out_ << YAML::EndSeq;
  }

  YAML::Emitter& out_;
  std::string section_;
};

YAML::Node parse_yaml(const std::string& text, const std::string& where) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string at = e.mark.is_null() ? where
                                      : where + ":" + std::to_string(e.mark.line + 1) + ":" +
                                            std::to_string(e.mark.column + 1);
    throw UserError(at + ": invalid YAML: " + e.msg);
  }
}

Override parse_override(const std::string& text) {
  const std::string label = "override '" + text + "'";
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UserError(label + ": expected dotted.key=value (e.g. prune.ratios=[0,0.5])");
  const std::string key = text.substr(0, eq);
  if (!schema().known(key)) throw UserError(label + ": unknown key '" + key + "'" + unknown_key_hint(key));
  try {
    return Override{key, YAML::Load(text.substr(eq + 1)), label};
  } catch (const YAML::Exception& e) {
    throw UserError(label + ": invalid YAML value: " + e.msg);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------
std::string to_string(Device v) { return enum_name(v); }
std::string to_string(Precision v) { return enum_name(v); }
std::string to_string(data::QuestionFormat v) { return enum_name(v); }
std::string to_string(data::Selection v) { return enum_name(v); }
std::string to_string(data::OnMissing v) { return enum_name(v); }
std::string to_string(explain::Target v) { return enum_name(v); }
std::string to_string(Protocol v) { return enum_name(v); }
std::string to_string(GlobalFit v) { return enum_name(v); }
std::string to_string(prune::Granularity v) { return enum_name(v); }
std::string to_string(prune::Sign v) { return enum_name(v); }
std::string to_string(prune::CountRule v) { return enum_name(v); }

bool operator==(const ModelConfig& a, const ModelConfig& b) {
  return std::tie(a.family, a.path, a.vocab, a.strict_load, a.max_text_tokens, a.max_regions) ==
         std::tie(b.family, b.path, b.vocab, b.strict_load, b.max_text_tokens, b.max_regions);
}
bool operator==(const DataConfig& a, const DataConfig& b) {
  return std::tie(a.format, a.questions, a.annotations, a.features, a.answers, a.answers_dir, a.selection,
                  a.selection_file, a.num_samples, a.selection_seed, a.exclude_images, a.on_missing, a.image_root, a.images) ==
         std::tie(b.format, b.questions, b.annotations, b.features, b.answers, b.answers_dir, b.selection,
                  b.selection_file, b.num_samples, b.selection_seed, b.exclude_images, b.on_missing, b.image_root, b.images);
}
bool operator==(const ScoringConfig& a, const ScoringConfig& b) {
  return std::tie(a.methods, a.explain, a.michel_normalize, a.random_seed, a.ig_steps, a.random_repeats) ==
         std::tie(b.methods, b.explain, b.michel_normalize, b.random_seed, b.ig_steps, b.random_repeats);
}
bool operator==(const PruneConfig& a, const PruneConfig& b) {
  return std::tie(a.protocols, a.granularities, a.signs, a.ratios, a.count_rule, a.global_normalize, a.modalities,
                  a.global_fit) ==
         std::tie(b.protocols, b.granularities, b.signs, b.ratios, b.count_rule, b.global_normalize, b.modalities,
                  b.global_fit);
}
bool operator==(const RunConfig& a, const RunConfig& b) {
  return std::tie(a.batch_size, a.threads_per_rank, a.checkpoint_every, a.progress_seconds, a.shard) ==
         std::tie(b.batch_size, b.threads_per_rank, b.checkpoint_every, b.progress_seconds, b.shard);
}
bool operator==(const OutputConfig& a, const OutputConfig& b) {
  return std::tie(a.path, a.overwrite) == std::tie(b.path, b.overwrite);
}
bool operator==(const VisualizeConfig& a, const VisualizeConfig& b) {
  return std::tie(a.samples, a.ratios, a.out_dir) == std::tie(b.samples, b.ratios, b.out_dir);
}
bool operator==(const Config& a, const Config& b) {
  return std::tie(a.name, a.log_level, a.device, a.precision, a.seed, a.model, a.data, a.scoring, a.prune, a.run,
                  a.output, a.visualize) == std::tie(b.name, b.log_level, b.device, b.precision, b.seed, b.model,
                                                     b.data, b.scoring, b.prune, b.run, b.output, b.visualize);
}

Config load_config_text(const std::string& yaml, const std::string& origin, const std::vector<std::string>& overrides) {
  YAML::Node root = parse_yaml(yaml, origin);
  if (!root.IsMap() && !root.IsNull())
    throw UserError(origin + ": expected a mapping of keys at the top level, got " + describe(root));
  Sources src(origin, root);
  if (root.IsMap()) check_keys(src, root, "", origin);
  for (const auto& text : overrides) {
    Override o = parse_override(text);
    if (schema().is_section(o.key)) {
      if (!o.value.IsMap())
        throw UserError(o.label + ": key '" + o.key + "' expected a mapping (e.g. " + o.key + "={" +
                        schema().children(o.key).front() + ": ...}), got " + describe(o.value));
      check_keys(src, o.value, o.key, o.label);
    }
    src.add_override(std::move(o));
  }
  Config c;
  Reader reader(src);
  visit_schema(c, reader);
  validate(c, reader);
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw UserError("config file '" + path + "' not found");
  if (fs::is_directory(path, ec)) throw UserError("config file '" + path + "' is a directory, expected a YAML file");
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw UserError("config file '" + path + "' cannot be opened (permissions?)");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw UserError("config file '" + path + "' cannot be read");
  return load_config_text(text.str(), path, overrides);
}

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Writer writer(out);
  visit_schema(config, writer);
  writer.finish();
  HP_ASSERT(out.good(), "YAML emitter failed: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

std::vector<std::string> config_keys() { return schema().leaves; }

}  // namespace headprune::config
