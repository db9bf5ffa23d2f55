// ctest-labels: fixture
// The conformance replay on the bundled fixtures: every quantity of the seed's reference runs,
// both models, float64 and float32, weights from model.safetensors and pytorch_model.bin.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "headprune/common/error.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/io/h5_tensor.hpp"
#include "headprune/verify/conformance.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;

namespace {
// A scratch copy of fixture folder `model` whose reference.h5 `edit` changes: a wrong golden value
// that the checker must notice (or, for an ill-conditioned dataset, must excuse only so far).
std::string tampered_fixture(const std::string& model, const std::string& scratch,
                             const std::function<void(h5::File&)>& edit) {
  std::string dir = hptest::scratch_dir(scratch);
  for (const auto& f : std::filesystem::directory_iterator(hptest::data_path(model)))
    std::filesystem::copy(f.path(), dir + "/" + f.path().filename().string());
  h5::File ref(dir + "/reference.h5", h5::File::Mode::read_write);
  edit(ref);
  return dir;
}

// Rewrites float64 dataset `path`, element by element, keeping its shape.
void rewrite_f64(h5::File& ref, const std::string& path, const std::function<double(double)>& f) {
  at::Tensor t = h5::read_tensor(ref, path);
  std::vector<double> values = ref.read_f64(path);
  for (double& x : values) x = f(x);
  H5Ldelete(ref.id(), path.c_str(), H5P_DEFAULT);
  ref.write_f64(path, values, t.sizes().vec());
}
}  // namespace

struct Case {
  const char* model;
  const char* dtype;
  const char* weights;
};

class Conformance : public ::testing::TestWithParam<Case> {};

TEST_P(Conformance, EveryQuantityWithinTolerance) {
  const Case c = GetParam();
  verify::ConformanceOptions opt;
  opt.reference_dir = hptest::data_path(c.model);
  opt.dtype = c.dtype;
  opt.weights = c.weights;
  opt.out_path = hptest::scratch_dir("conf") + "/out.h5";
  verify::ConformanceReport report = verify::run_conformance(opt);
  EXPECT_TRUE(report.passed()) << report.table();
  // Everything the fixture holds is computed (no "not computed" rows), and the groups of
  // every issue are there: model, scores, relevance maps, protocol, accuracies.
  std::vector<std::string> groups;
  for (const auto& g : report.groups) {
    EXPECT_TRUE(g.computed) << g.group;
    EXPECT_GT(g.datasets, 0) << g.group;
    groups.push_back(g.group);
  }
  for (const char* g : {"logits", "forward", "attn", "attn_grad", "attn_cam", "relprop", "scores/ours", "scores/lrp",
                        "prune/keep_mask", "prune/pred_index", "prune/label_score", "results", "vis/keep_mask"})
    EXPECT_NE(std::find(groups.begin(), groups.end(), g), groups.end()) << "missing group " << g;
  // The written file mirrors the fixture's paths.
  h5::File out(opt.out_path, h5::File::Mode::read);
  EXPECT_TRUE(out.exists("/sample_000/modules/m00/attn_cam"));
  EXPECT_TRUE(out.exists("/sample_005/prune/lrp_layer_negative/pred_index"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Conformance,
                         ::testing::Values(Case{"lxmert", "float64", "safetensors"}, Case{"lxmert", "float64", "bin"},
                                           Case{"lxmert", "float32", "safetensors"}, Case{"lxmert", "float32", "bin"},
                                           Case{"visualbert", "float64", "safetensors"},
                                           Case{"visualbert", "float64", "bin"},
                                           Case{"visualbert", "float32", "safetensors"},
                                           Case{"visualbert", "float32", "bin"}),
                         [](const auto& info) {
                           return std::string(info.param.model) + "_" + info.param.dtype + "_" + info.param.weights;
                         });

// ViLT's fixture comes from Hugging Face's forward (tools/make_vilt_refs.py), not the seed: no
// LRP, protocol or accuracies, but every quantity it stores, in both precisions.
TEST(Conformance, ViltAgainstHuggingFacesForward) {
  for (const char* dtype : {"float64", "float32"}) {
    SCOPED_TRACE(dtype);
    verify::ConformanceOptions opt;
    opt.reference_dir = hptest::data_path("vilt");
    opt.dtype = dtype;
    const verify::ConformanceReport report = verify::run_conformance(opt);
    EXPECT_TRUE(report.passed()) << report.table();
    std::vector<std::string> groups;
    for (const auto& g : report.groups) {
      EXPECT_TRUE(g.computed) << g.group;
      EXPECT_GT(g.datasets, 0) << g.group;
      groups.push_back(g.group);
    }
    for (const char* g : {"inputs/input_ids", "inputs/patches", "logits", "forward", "pred_index", "attn", "attn_grad", "scores/ours",
                          "scores/attention", "scores/rollout", "relevance", "logits (pruned)"})
      EXPECT_NE(std::find(groups.begin(), groups.end(), g), groups.end()) << "missing group " << g;
  }
  // And it is not a no-op: a changed attention gradient fails.
  const std::string dir = tampered_fixture("vilt", "conf-vilt-tampered", [](h5::File& ref) {
    rewrite_f64(ref, "/sample_001/modules/m02/attn_grad", [](double x) { return x * (1 + 1e-9); });
  });
  verify::ConformanceOptions opt;
  opt.reference_dir = dir;
  const verify::ConformanceReport report = verify::run_conformance(opt);
  bool failed = false;
  for (const auto& g : report.groups)
    if (g.group == "attn_grad") failed = g.failures == 1 && g.first_failure == "/sample_001/modules/m02/attn_grad";
  EXPECT_TRUE(failed) << report.table();
}

TEST(Conformance, TokenizerFolder) {
  verify::ConformanceOptions opt;
  opt.reference_dir = hptest::data_path("tokenizer");
  verify::ConformanceReport report = verify::run_conformance(opt);
  EXPECT_TRUE(report.passed()) << report.table();
}

TEST(Conformance, DetectsAWrongResult) {
  // A fixture whose stored logits were changed must fail: the checker is not a no-op.
  const std::string dir = tampered_fixture("visualbert", "conf-tampered", [](h5::File& ref) {
    rewrite_f64(ref, "/sample_002/logits", [](double) { return 0.5; });
  });
  verify::ConformanceOptions opt;
  opt.reference_dir = dir;
  verify::ConformanceReport report = verify::run_conformance(opt);
  EXPECT_FALSE(report.passed());
  bool logits_failed = false;
  for (const auto& g : report.groups)
    if (g.group == "logits") logits_failed = g.failures == 1 && g.first_failure == "/sample_002/logits";
  EXPECT_TRUE(logits_failed) << report.table();
}

TEST(Conformance, RefusesToOverwriteAnExistingResultFile) {
  std::string out = hptest::scratch_dir("conf-exists") + "/out.h5";
  { std::ofstream(out) << "user data"; }
  verify::ConformanceOptions opt;
  opt.reference_dir = hptest::data_path("tokenizer");
  opt.out_path = out;
  EXPECT_THROW(verify::run_conformance(opt), UserError);
  std::ifstream in(out);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "user data");
}

// The stability probe. LXMERT's LRP relevance at the encoder input is ill-conditioned for one
// fixture sample: a rounding-level change of the weights flips the sign of its two largest
// entries (normwise error ~1.9 against the reference; cuBLAS's float32 summation order gave the
// same 1.9 on an H200). No float32 port can promise either side of that flip, so the probe must
// find such datasets - and only such datasets.
namespace {
verify::ConformanceOptions float32_options(const std::string& dir) {
  verify::ConformanceOptions opt;
  opt.reference_dir = dir;
  opt.dtype = "float32";
  return opt;
}
const verify::GroupReport& group(const verify::ConformanceReport& report, const std::string& name) {
  for (const auto& g : report.groups)
    if (g.group == name) return g;
  throw std::runtime_error("no group " + name);
}
}  // namespace

TEST(ConformanceStabilityProbe, FindsTheIllConditionedLrpDatasetAndNothingWellConditioned) {
  verify::ConformanceReport report = verify::run_conformance(float32_options(hptest::data_path("lxmert")));
  ASSERT_TRUE(report.passed()) << report.table();
  EXPECT_FALSE(report.probe.empty());
  const auto& relprop = group(report, "relprop");
  EXPECT_EQ(relprop.ill_conditioned, 1) << report.table();
  EXPECT_EQ(relprop.first_ill_conditioned, "/sample_004/relprop/cam_lang");
  EXPECT_GT(relprop.probe_max_norm, 1.0);  // a sign flip, not drift
  // Every float group of the scoring pass is probed; none but relprop has an excluded dataset,
  // and the datasets kept are well inside the exclusion threshold (2 x the tolerance).
  for (const char* well : {"logits", "forward", "attn", "attn_grad", "attn_cam", "scores/ours", "scores/lrp"}) {
    EXPECT_TRUE(group(report, well).probed) << well;
    EXPECT_EQ(group(report, well).ill_conditioned, 0) << well << "\n" << report.table();
    EXPECT_LT(group(report, well).probe_max_kept, group(report, well).tol_norm) << well;
  }
}

TEST(ConformanceStabilityProbe, ExcludesTheFlippedDatasetWhenAnotherRoundingFlipsIt) {
  // Another summation order, emulated: weights x (1 + 2^-22 U(-1,1)), seed 1, flips sample 4.
  verify::ConformanceOptions opt = float32_options(hptest::data_path("lxmert"));
  opt.perturb_relative_eps = 0x1p-22;
  opt.perturb_seed = 1;
  opt.stability_probes = 0;
  verify::ConformanceReport without = verify::run_conformance(opt);
  EXPECT_FALSE(without.passed());
  EXPECT_EQ(group(without, "relprop").failures, 1) << without.table();
  EXPECT_EQ(group(without, "relprop").first_failure, "/sample_004/relprop/cam_lang");
  EXPECT_GT(group(without, "relprop").max_norm, 1.0);

  opt.stability_probes = 8;
  verify::ConformanceReport with = verify::run_conformance(opt);
  EXPECT_TRUE(with.passed()) << with.table();
  EXPECT_GT(group(with, "relprop").excluded_max_norm, 1.0);
  EXPECT_LT(group(with, "relprop").max_norm, 0.2);  // the other eleven still within tolerance
}

namespace {
// A copy of the LXMERT fixture whose reference dataset `path` is multiplied by `factor`.
std::string tampered_lxmert(const std::string& name, const std::string& path, double factor) {
  return tampered_fixture("lxmert", name, [&](h5::File& ref) { rewrite_f64(ref, path, [&](double x) { return x * factor; }); });
}
}  // namespace

TEST(ConformanceStabilityProbe, AnExcludedDatasetStillFailsBeyondWhatTheInstabilityExplains) {
  // Reference of the ill-conditioned dataset x 0.1: this run's error becomes ~9, far more than
  // twice the probe's deviation (~1.9), so the exclusion does not cover it.
  const std::string path = "/sample_004/relprop/cam_lang";
  verify::ConformanceReport report =
      verify::run_conformance(float32_options(tampered_lxmert("conf-probe-bound", path, 0.1)));
  EXPECT_FALSE(report.passed());
  EXPECT_EQ(group(report, "relprop").ill_conditioned, 1) << report.table();
  EXPECT_EQ(group(report, "relprop").failures, 1) << report.table();
  EXPECT_EQ(group(report, "relprop").first_failure, path);
}

TEST(ConformanceStabilityProbe, AWrongReferenceValueIsNotMistakenForInstability) {
  // The probe measures perturbed against unperturbed replays of our own code, never against the
  // reference: a reference entry off by 50 % in a well-conditioned dataset still fails.
  const std::string path = "/sample_001/relprop/cam_lang";
  const std::string dir = tampered_lxmert("conf-probe-tampered", path, 1.5);
  verify::ConformanceReport report = verify::run_conformance(float32_options(dir));
  EXPECT_FALSE(report.passed());
  EXPECT_EQ(group(report, "relprop").failures, 1) << report.table();
  EXPECT_EQ(group(report, "relprop").first_failure, path);
  EXPECT_EQ(group(report, "relprop").ill_conditioned, 1);  // still only sample 4
}

// Reduced precision, checked on the CPU with real bfloat16 arithmetic (LibTorch's CPU kernels):
// the stated bf16 tolerances hold for the required groups, discrete results are counted and
// reported, and a wrong value in a required group still fails.
TEST(ConformanceReducedPrecision, Bf16OnTheCpuMeetsTheStatedTolerances) {
  for (const char* name : {"lxmert", "visualbert"}) {
    verify::ConformanceOptions opt = float32_options(hptest::data_path(name));
    opt.reduced_precision = "bf16";
    verify::ConformanceReport report = verify::run_conformance(opt);
    EXPECT_TRUE(report.passed()) << report.table();
    for (const char* required : {"logits", "forward", "attn"}) {
      const auto& g = group(report, required);
      EXPECT_FALSE(g.informational) << name << " " << required;
      EXPECT_DOUBLE_EQ(g.tol_norm, 1e-1) << name << " " << required;
      EXPECT_GT(g.max_norm, 1e-3) << name << " " << required << ": not computed in bf16?";
    }
    const auto& masks = group(report, "prune/keep_mask");
    EXPECT_TRUE(masks.informational && masks.discrete) << report.table();
    EXPECT_LE(masks.mismatches, masks.datasets);
    // bf16 'ours' scores are ~10 % off on these fixtures: some LXMERT cuts fall elsewhere.
    if (std::string(name) == "lxmert") EXPECT_GT(masks.mismatches, 0) << report.table();
  }
}

TEST(ConformanceReducedPrecision, AWrongDiscreteResultIsCountedInBf16AndFailsInFloat32) {
  const std::string path = "/sample_003/prune/ours_head_positive/pred_index";
  const std::string dir = tampered_fixture("lxmert", "conf-bf16-discrete", [&](h5::File& ref) {
    std::vector<int64_t> wrong = ref.read_i64(path);
    for (auto& x : wrong) x = (x + 1) % 12;  // every step's prediction changed
    H5Ldelete(ref.id(), path.c_str(), H5P_DEFAULT);
    ref.write_i64(path, wrong, {static_cast<int64_t>(wrong.size())});
  });
  verify::ConformanceReport f32 = verify::run_conformance(float32_options(dir));
  EXPECT_FALSE(f32.passed());
  EXPECT_EQ(group(f32, "prune/pred_index").first_failure, path) << f32.table();

  verify::ConformanceOptions opt = float32_options(dir);
  opt.reduced_precision = "bf16";
  verify::ConformanceReport bf16 = verify::run_conformance(opt);
  EXPECT_TRUE(bf16.passed()) << bf16.table();
  EXPECT_EQ(group(bf16, "prune/pred_index").failures, 0);
  // Counted: the tampered dataset differs now whatever bf16 itself changes elsewhere.
  verify::ConformanceOptions clean = float32_options(hptest::data_path("lxmert"));
  clean.reduced_precision = "bf16";
  const int64_t baseline = group(verify::run_conformance(clean), "prune/pred_index").mismatches;
  EXPECT_GE(group(bf16, "prune/pred_index").mismatches, 1);
  EXPECT_GE(group(bf16, "prune/pred_index").mismatches, baseline) << bf16.table();
}

TEST(ConformanceReducedPrecision, AWrongLogitStillFailsInBf16) {
  const std::string dir = tampered_fixture("visualbert", "conf-bf16-tampered", [](h5::File& ref) {
    rewrite_f64(ref, "/sample_002/logits", [](double) { return 0.5; });
  });
  verify::ConformanceOptions opt = float32_options(dir);
  opt.reduced_precision = "bf16";
  verify::ConformanceReport report = verify::run_conformance(opt);
  EXPECT_FALSE(report.passed());
  EXPECT_EQ(group(report, "logits").failures, 1) << report.table();
  EXPECT_EQ(group(report, "logits").first_failure, "/sample_002/logits");
}
