// Conformance replay of a reference fixture folder (laid out like tests/data/<model>/):
// loads the folder's config, weights and vocab, feeds every sample's stored inputs, computes
// every quantity the fixture holds, writes it under the same HDF5 path and shape, and compares
// with the fixture's tolerances (README "Tolerances"; discrete results must match exactly).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "headprune/io/h5.hpp"
#include "headprune/models/model.hpp"

namespace headprune::verify {

struct ConformanceOptions {
  std::string reference_dir;   ///< folder with reference.h5 (+ config.json, weights, vocab.txt)
  std::string out_path;        ///< results file to write ("" = none)
  bool overwrite = false;      ///< replace an existing out_path
  std::string dtype = "auto";  ///< auto (= the fixture's), float64 or float32
  std::string weights;         ///< "" (safetensors if present), "safetensors", "bin" or a file name
  std::string device = "cpu";  ///< cpu, cuda or cuda:N
  /// Reduced precision on a GPU: "" (none), "tf32" (float32 with TF32 matrix products) or
  /// "bf16" (bfloat16 weights and activations). Then unpruned logits, hidden states, attention
  /// (and for tf32 gradients, 'ours' scores, relevance maps) are checked normwise against the
  /// stated tolerances of docs/gpu.md; LRP and protocol results are reported, not required.
  std::string reduced_precision;

  /// Stability probe (float32 without reduced precision): before the comparison, replay the
  /// scoring part in float64 on the CPU once as it is and `stability_probes` times with every
  /// weight scaled by (1 + probe_relative_eps * U(-1, 1)) (seeds 1..N). A float dataset whose
  /// perturbed replays deviate from the unperturbed one by more than twice its float32 tolerance
  /// is ill-conditioned at that precision (LXMERT's LRP at the encoder input: a relevance ratio
  /// with a near-zero denominator flips sign), so a float32 summation order may land on either
  /// side: it is excluded from the verdict as long as its error stays within twice the probe's
  /// deviation (a NaN or a larger error still fails). 0 = off.
  int stability_probes = 8;
  double probe_relative_eps = 0x1p-22;  ///< 4 x float32's unit roundoff
  /// The same perturbation applied to the replay under test (sensitivity studies; tests emulate
  /// another summation order with it). 0 = the fixture's weights as they are.
  double perturb_relative_eps = 0;
  uint64_t perturb_seed = 1;
};

/// One row of the report: a quantity group and its worst errors.
struct GroupReport {
  std::string group;
  int64_t datasets = 0;
  double max_abs = 0, max_norm = 0;  ///< worst elementwise |port - ref|, worst ||port - ref|| / ||ref||
  double tol_abs = 0, tol_norm = 0;  ///< 0/0 = exact
  int64_t failures = 0;
  bool computed = true;
  bool informational = false;  ///< reduced precision: reported, not required
  bool discrete = false;       ///< masks, indices, label scores, accuracies (exact, or counted)
  int64_t mismatches = 0;      ///< discrete datasets that differ (reported in reduced precision)
  std::string first_failure;  ///< path of the first failing dataset
  /// Datasets the stability probe found ill-conditioned at this precision: not required, and not
  /// folded into max_abs / max_norm (their own worst error is excluded_max_norm).
  int64_t ill_conditioned = 0;
  double excluded_max_norm = 0;
  double probe_max_norm = 0;           ///< the probe's largest deviation among them
  std::string first_ill_conditioned;  ///< path of the first one
  bool probed = false;                ///< the stability probe covered this group
  double probe_max_kept = 0;          ///< the probe's largest deviation among the datasets kept
};

struct ConformanceReport {
  std::string kind;  ///< lxmert, visualbert or tokenizer
  std::string dtype;
  std::string probe;  ///< how the stability probe ran ("" = not run)
  std::vector<GroupReport> groups;
  bool passed() const;
  std::string table() const;  ///< the printed table
};

/// Where a kind of fixture keeps what the replay reads and checks (paths relative to a sample's
/// group). One row per kind: reference.h5's `kind`, the model family its Python code ran.
struct FixtureLayout {
  std::string kind;
  std::map<std::string, std::string> inputs;  ///< models::Batch field -> dataset
  std::string label_vector;                   ///< the answer scores
  bool label_is_mmf_target = false;           ///< float32 [1, answers] (MMF's targets): widened, flattened
  std::vector<std::string> logits;            ///< unpruned logits datasets (all equal the one forward)
  std::vector<std::string> forward;           ///< forward/<name>: the hidden states checked
  bool unpruned_relevance = false;            ///< `relevance` of the unpruned model is stored
  std::vector<std::string> vis_maps;          ///< RelevanceMaps names under vis/step_k
  bool nan_entries_attr = false;              ///< vis/step_k carries nan_entries_zeroed
  std::string label_score;                    ///< prune/<combo>/<this>: the answer's score per step
  bool running_accuracy = false;              ///< results: rounded accuracy_x100 + running (LXMERT's print)
                                              ///< rather than step_acc (VisualBERT's)
  /// The seed's script made the fixture (its protocol, LRP and visualisation steps are replayed);
  /// false: a reference implementation's forward (ViLT: Hugging Face's) with the scores computed
  /// from their definitions, replayed by replay_reference_model (tests/data/vilt/README.md).
  bool seed_protocol = true;
};
/// The layout of `kind`; UserError naming `where` for an unknown kind.
const FixtureLayout& fixture_layout(const std::string& kind, const std::string& where);

/// One fixture sample's stored inputs as a batch of one, plus its answer scores.
struct FixtureSample {
  models::Batch batch;
  at::Tensor label_vector;  ///< [answers] float64 (LXMERT labels; MMF's float32 targets widened)
};
FixtureSample read_fixture_sample(const h5::File& reference, int64_t index, const FixtureLayout& layout,
                                  at::ScalarType dtype);

/// Runs the replay. Throws UserError for a missing/invalid folder or an existing out_path.
ConformanceReport run_conformance(const ConformanceOptions& options);

}  // namespace headprune::verify
