// ctest-labels: fixture cli
// Physically pruned models (issue 20, docs/export.md): prune_model() takes the removed heads out
// of the weights; the exported folder loads back and its logits equal the masked model's on the
// fixtures' inputs (float64 <= 1e-10; float32 <= 1e-5 x the largest |logit|), for heads and whole
// modules, both families, including LXMERT's cross attention whose two directions keep different
// heads. `headprune export` end to end: a tiny run's results file -> folder -> reload ->
// equivalence with the run's own keep mask; its bad-input errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "fixtures.hpp"
#include "headprune/common/sha256.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/export.hpp"
#include "testing.hpp"

using namespace headprune;
namespace fs = std::filesystem;
namespace hptest = headprune::testing;

namespace {

// All fixture samples as one padded batch (padding must not change a real example's logits).
models::Batch fixture_batch(const std::string& family, at::ScalarType dtype) {
  std::vector<models::Batch> parts;
  for (const auto& s : hptest::fixture_samples(family, dtype)) parts.push_back(s.batch);
  return models::collate(parts);
}

// A head mask with every interesting case: random heads, one module removed entirely, one kept
// entirely; for LXMERT the two directions of cross layer 0 (modules 2 and 8) keep different heads.
at::Tensor head_mask(const models::VqaModel& model) {
  const int64_t M = model.num_modules(), H = model.heads();
  at::Generator gen = at::detail::createCPUGenerator(5);
  at::Tensor keep = at::rand({M, H}, gen).gt(0.5).to(at::kLong);
  keep[0].fill_(1);
  keep[1].fill_(0);
  for (int64_t m = 2; m < M; ++m) {  // every other module: some but not all heads
    keep[m][m % H] = 1;
    keep[m][(m + 1) % H] = 0;
  }
  return keep;
}

at::Tensor masked_logits(const models::VqaModel& model, const models::Batch& b, const at::Tensor& keep2d) {
  at::NoGradGuard ng;
  models::ForwardOptions fo;
  fo.keep = keep2d.to(model.dtype()).unsqueeze(0).expand({b.size(), keep2d.size(0), keep2d.size(1)}).contiguous();
  return model.forward(b, fo).logits;
}

at::Tensor plain_logits(const models::VqaModel& model, const models::Batch& b) {
  at::NoGradGuard ng;
  return model.forward(b, {}).logits;
}

// Exports `keep` of `model` into a folder, loads it back in `dtype`, checks the heads it reports.
std::unique_ptr<models::VqaModel> export_and_reload(const models::VqaModel& model, const at::Tensor& keep,
                                                    at::ScalarType dtype, const std::string& tag,
                                                    models::PrunedModel* out = nullptr) {
  const models::PrunedModel pm = models::prune_model(model, keep);
  const std::string dir = hptest::scratch_dir(tag);
  models::write_pruned_model(pm, dir);
  auto pruned = models::load_model(dir, {dtype, true, ""});
  const at::Tensor k2 = keep.dim() == 1 ? keep.unsqueeze(1).expand({model.num_modules(), model.heads()}) : keep;
  int64_t kept = 0;
  for (int64_t m = 0; m < model.num_modules(); ++m) {
    EXPECT_EQ(pruned->attention_modules()[m].heads, k2[m].sum().item<int64_t>()) << model.attention_modules()[m].name;
    kept += pruned->attention_modules()[m].heads;
  }
  EXPECT_EQ(kept, pm.heads_kept);
  if (out) *out = pm;
  return pruned;
}

class Export : public ::testing::TestWithParam<std::string> {};

TEST_P(Export, HeadsRemovedGiveTheMaskedLogitsFloat64) {
  auto model = hptest::fixture_model(GetParam(), at::kDouble);
  const models::Batch b = fixture_batch(GetParam(), at::kDouble);
  const at::Tensor keep = head_mask(*model);
  models::PrunedModel pm;
  auto pruned = export_and_reload(*model, keep, at::kDouble, "export-heads-" + GetParam(), &pm);
  const at::Tensor want = masked_logits(*model, b, keep);
  // The mask matters (the comparison could fail) ...
  EXPECT_GT(hptest::max_abs_diff(want, plain_logits(*model, b)), 1e-6);
  // ... and the physically pruned model computes the masked model's logits.
  EXPECT_LE(hptest::max_abs_diff(plain_logits(*pruned, b), want), 1e-10);
  EXPECT_EQ(pm.removed_modules, std::vector<std::string>{model->attention_modules()[1].name});
  // Fewer parameters: every removed head takes 4 x head_dim x hidden weights (+ 3 x head_dim biases).
  int64_t before = 0, after = 0;
  for (const auto& [n, t] : model->parameters()) before += t.numel();
  for (const auto& [n, t] : pruned->parameters()) after += t.numel();
  EXPECT_LT(after, before);
  if (GetParam() == "lxmert") {
    // Cross layer 0's two directions (modules 2: language queries, 8: vision queries) keep different
    // heads: the vision direction gets its own copy of the weights.
    ASSERT_FALSE(keep[2].equal(keep[8]));
    EXPECT_EQ(pm.split_modules, std::vector<std::string>{"lxmert.encoder.x_layers.0.visual_attention_copy.att"});
    EXPECT_TRUE(pruned->parameters().count("lxmert.encoder.x_layers.0.visual_attention_copy.att.query.weight"));
  }
}

TEST_P(Export, WholeModulesRemovedGiveTheMaskedLogitsFloat64) {
  auto model = hptest::fixture_model(GetParam(), at::kDouble);
  const models::Batch b = fixture_batch(GetParam(), at::kDouble);
  const int64_t M = model->num_modules(), H = model->heads();
  at::Tensor keep = at::ones({M}, at::kLong);
  for (int64_t m = 0; m < M; m += 2) keep[m] = 0;  // every other module, cross attentions included
  models::PrunedModel pm;
  auto pruned = export_and_reload(*model, keep, at::kDouble, "export-layers-" + GetParam(), &pm);
  const at::Tensor want = masked_logits(*model, b, keep.unsqueeze(1).expand({M, H}));
  EXPECT_GT(hptest::max_abs_diff(want, plain_logits(*model, b)), 1e-6);
  EXPECT_LE(hptest::max_abs_diff(plain_logits(*pruned, b), want), 1e-10);
  // One entry per set of weights left without heads: LXMERT's modules 2 and 8 (the two directions
  // of cross layer 0) are both removed, so their shared weights are removed once, unsplit.
  std::set<std::string> weights_removed;
  for (int64_t m = 0; m < M; m += 2) weights_removed.insert(model->attention_modules()[m].mask_name);
  EXPECT_EQ(std::set<std::string>(pm.removed_modules.begin(), pm.removed_modules.end()), weights_removed);
  EXPECT_TRUE(pm.split_modules.empty());
  // A removed module has no query rows left; its output projection keeps its bias.
  const std::string& name = model->attention_modules()[0].name;
  EXPECT_EQ(pruned->parameters().at(name + ".query.weight").size(0), 0);
}

TEST_P(Export, Float32WithinTheStatedTolerance) {
  auto model = hptest::fixture_model(GetParam(), at::kFloat);
  const models::Batch b = fixture_batch(GetParam(), at::kFloat);
  for (const at::Tensor& keep : {head_mask(*model), at::ones({model->num_modules()}, at::kLong).index_fill_(0, at::tensor({0, 2}, at::kLong), 0)}) {
    auto pruned = export_and_reload(*model, keep, at::kFloat, "export-f32-" + GetParam());
    const at::Tensor k2 = keep.dim() == 1 ? keep.unsqueeze(1).expand({model->num_modules(), model->heads()}) : keep;
    const at::Tensor want = masked_logits(*model, b, k2);
    const double scale = std::max(1.0, want.abs().max().item<double>());
    EXPECT_LE(hptest::max_abs_diff(plain_logits(*pruned, b), want), 1e-5 * scale);
  }
}

TEST_P(Export, APrunedModelRunsPlainForwardsOnly) {
  auto model = hptest::fixture_model(GetParam(), at::kDouble);
  auto pruned = export_and_reload(*model, head_mask(*model), at::kDouble, "export-refuse-" + GetParam());
  const models::Batch b = fixture_batch(GetParam(), at::kDouble);
  models::ForwardOptions scoring;
  scoring.record_attention = true;
  EXPECT_NE(hptest::user_error([&] { pruned->forward(b, scoring); }).find("runs plain forwards only"), std::string::npos);
  // Exporting it again is refused: masks index the unpruned model's heads.
  EXPECT_NE(hptest::user_error([&] { models::prune_model(*pruned, head_mask(*model)); }).find("already pruned"),
            std::string::npos);
  EXPECT_NE(hptest::user_error([&] { models::prune_model(*model, at::ones({3, 2}, at::kLong)); }).find("expected ["),
            std::string::npos);
}

TEST_P(Export, BadHeadCountsInConfigAreOneLineErrors) {
  auto model = hptest::fixture_model(GetParam(), at::kDouble);
  const models::PrunedModel pm = models::prune_model(*model, head_mask(*model));
  const std::string dir = hptest::scratch_dir("export-badcfg-" + GetParam());
  models::write_pruned_model(pm, dir);
  nlohmann::json c = nlohmann::json::parse(pm.config_json);
  const std::string first = model->attention_modules()[0].name;
  c["headprune_attention_heads"][first] = 99;
  std::ofstream(dir + "/config.json") << c.dump();
  EXPECT_NE(hptest::user_error([&] { models::load_model(dir, {at::kDouble, true, ""}); }).find("'" + first + "' is 99"),
            std::string::npos);
  c = nlohmann::json::parse(pm.config_json);
  c["headprune_attention_heads"]["no.such.module"] = 1;
  std::ofstream(dir + "/config.json") << c.dump();
  EXPECT_NE(hptest::user_error([&] { models::load_model(dir, {at::kDouble, true, ""}); })
                .find("'no.such.module' is not an attention module"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Export, ::testing::Values("lxmert", "visualbert", "vilt"));

// ---- `headprune export` on a tiny run's results file ---------------------------------------------

const std::vector<std::string> kAnswers = {"yes", "no", "2", "1", "white", "3", "red", "blue", "0", "black", "green", "dog"};

data::ImageRecord record(const std::string& id, uint32_t seed) {
  data::ImageRecord r;
  r.img_id = id;
  r.image_h = 240;
  r.image_w = 320;
  r.num_boxes = 5;
  r.feature_dim = 24;
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> u(0.f, 150.f);
  for (int64_t i = 0; i < r.num_boxes * r.feature_dim; ++i) r.features.push_back(normal(gen));
  for (int64_t i = 0; i < r.num_boxes; ++i) {
    const float x = u(gen), y = u(gen);
    r.boxes.insert(r.boxes.end(), {x, y, x + 60, y + 50});
    r.objects_id.push_back(i);
    r.objects_conf.push_back(1.f);
    r.attrs_id.push_back(0);
    r.attrs_conf.push_back(1.f);
  }
  return r;
}

struct TinyRun {
  std::string dir, results;
};

// A results file of `family`'s fixture model: 6 questions on 3 images, 'ours', global protocol.
TinyRun tiny_run(const std::string& family) {
  TinyRun t;
  t.dir = hptest::scratch_dir("export-cli-" + family);
  fs::create_directories(t.dir + "/answers");
  nlohmann::json a2l = nlohmann::json::object();
  for (size_t i = 0; i < kAnswers.size(); ++i) a2l[kAnswers[i]] = i;
  std::ofstream(t.dir + "/answers/trainval_ans2label.json") << a2l.dump();
  std::ofstream(t.dir + "/answers/trainval_label2ans.json") << nlohmann::json(kAnswers).dump();
  const std::vector<std::string> sents = {"what color is the dog?", "is it red?", "how many people are there?",
                                          "is it sunny?", "what is on the table?", "is the cat black?"};
  nlohmann::json q = nlohmann::json::array();
  for (int i = 0; i < 6; ++i)
    q.push_back({{"question_id", 100 + i}, {"img_id", "img_" + std::to_string(i % 3)}, {"sent", sents[i]},
                 {"label", {{kAnswers[i], 1.0}}}, {"answer_type", "other"}, {"question_type", "what"}});
  std::ofstream(t.dir + "/questions.json") << q.dump(1);
  {
    data::FeatureStoreWriter writer(t.dir + "/features.h5", {});
    for (uint32_t i = 0; i < 3; ++i) writer.append(record("img_" + std::to_string(i), i + 1), "test");
    writer.finish();
  }
  std::ofstream(t.dir + "/run.yaml") << "name: tiny\nprecision: fp64\nmodel: {family: " << family
                                     << ", path: " << hptest::data_path(family) << "}\n"
                                     << "data: {questions: " << t.dir << "/questions.json, features: " << t.dir
                                     << "/features.h5, answers: " << t.dir << "/answers, num_samples: 6}\n"
                                     << "scoring: {methods: [ours]}\n"
                                     << "prune: {protocols: [global], granularities: [head, layer], ratios: [0, 0.3, 0.5]}\n"
                                     << "run: {batch_size: 3, threads_per_rank: 1, progress_seconds: 0}\n"
                                     << "output: {path: " << t.dir << "/results.h5}\n";
  t.results = t.dir + "/results.h5";
  std::string out;
  EXPECT_EQ(hptest::run_command(hptest::binary_path() + " run " + t.dir + "/run.yaml", &out), 0) << out;
  return t;
}

std::string export_cmd(const TinyRun& t, const std::string& args) {
  return hptest::binary_path() + " export --results " + t.results + " --experiment tiny " + args;
}

class ExportCli : public ::testing::TestWithParam<std::string> {};

TEST_P(ExportCli, TheRunsMaskExportsReloadsAndGivesTheMaskedLogits) {
  const TinyRun t = tiny_run(GetParam());
  auto model = hptest::fixture_model(GetParam(), at::kDouble);
  const models::Batch b = fixture_batch(GetParam(), at::kDouble);
  const h5::File f(t.results, h5::File::Mode::read);
  const int64_t M = model->num_modules(), H = model->heads();
  for (const std::string g : {"head", "layer"}) {
    const std::string out_dir = t.dir + "/pruned-" + g;
    std::string out;
    ASSERT_EQ(hptest::run_command(export_cmd(t, "--method ours --granularity " + g + " --ratio 0.5 --out " + out_dir), &out), 0)
        << out;
    for (const char* file : {"config.json", "model.safetensors", "vocab.txt", "headprune_export.json"})
      EXPECT_TRUE(fs::exists(out_dir + "/" + file)) << file;
    const nlohmann::json prov = nlohmann::json::parse(std::ifstream(out_dir + "/headprune_export.json"));
    EXPECT_EQ(prov["results_sha256"], sha256_file(t.results));
    EXPECT_EQ(prov["experiment"], "tiny");
    EXPECT_EQ(prov["method"], "ours");
    EXPECT_EQ(prov["granularity"], g);
    EXPECT_EQ(prov["sign"], "negative");
    EXPECT_EQ(prov["ratio"], 0.5);
    // The run's own mask at 0.5 (ratios [0, 0.3, 0.5]: index 2).
    std::vector<int64_t> shape;
    const auto u8 = f.read_u8("experiments/tiny/curves/global/ours/" + g + "/negative/keep_mask", &shape);
    std::vector<int64_t> one(shape.begin() + 1, shape.end());
    const int64_t per = h5::numel(one);
    at::Tensor keep = at::tensor(std::vector<int64_t>(u8.begin() + 2 * per, u8.begin() + 3 * per), at::kLong).view(one);
    if (g == "layer") keep = keep.unsqueeze(1).expand({M, H});
    EXPECT_LT(keep.sum().item<int64_t>(), M * H);
    EXPECT_EQ(prov["heads_kept"], keep.sum().item<int64_t>());
    auto pruned = models::load_model(out_dir, {at::kDouble, true, ""});
    EXPECT_LE(hptest::max_abs_diff(plain_logits(*pruned, b), masked_logits(*model, b, keep)), 1e-10) << g;
    // The latency bench times the folder against the source its provenance names.
    ASSERT_EQ(hptest::run_command(hptest::binary_path() + " bench --pruned " + out_dir +
                                      " --batch-sizes 1 2 --reps 1 --threads 1 --csv " + out_dir + ".csv",
                                  &out),
              0)
        << out;
    std::ifstream csv(out_dir + ".csv");
    std::string header, line;
    std::getline(csv, header);
    EXPECT_EQ(header, "model,ratio,heads_kept,heads_total,removed_modules,batch,dense_ms,pruned_ms");
    int rows = 0;
    while (std::getline(csv, line)) ++rows;
    EXPECT_EQ(rows, 2) << out;
  }
}

TEST_P(ExportCli, BadInputIsOneErrorLineAndNothingWritten) {
  const TinyRun t = tiny_run(GetParam());
  const std::string out_dir = t.dir + "/bad";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--method ours --granularity head --ratio 0.5", "experiments: no experiment 'nope' (expected one of: tiny)"},
      {"--method lrp --granularity head --ratio 0.5", "no method 'lrp' (expected one of: ours)"},
      {"--method ours --granularity head --ratio 0.4", "no ratio 0.4 (expected one of: 0.0, 0.3, 0.5)"},
      {"--method ours --granularity head --ratio 0.5 --model " + hptest::data_path(GetParam() == "lxmert" ? "visualbert" : "lxmert"),
       "differs from the run's weights_sha256"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string cmd = hptest::binary_path() + " export --results " + t.results + " --experiment " +
                      (i == 0 ? "nope " : "tiny ") + cases[i].args + " --out " + out_dir;
    std::string out;
    EXPECT_EQ(hptest::run_command(cmd, &out), 2) << out;
    EXPECT_EQ(out.rfind("headprune: error: ", 0), 0u) << out;
    EXPECT_NE(out.find(cases[i].message), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_FALSE(fs::exists(out_dir)) << cases[i].args;
    EXPECT_FALSE(fs::exists(out_dir + ".tmp-export")) << cases[i].args;
  }
  // An existing output folder is refused and left as it was.
  fs::create_directories(out_dir);
  std::ofstream(out_dir + "/keep") << "mine";
  std::string out;
  EXPECT_EQ(hptest::run_command(export_cmd(t, "--method ours --granularity head --ratio 0.5 --out " + out_dir), &out), 2);
  EXPECT_NE(out.find(out_dir + ": exists already"), std::string::npos) << out;
  EXPECT_EQ(fs::directory_iterator(out_dir)->path().filename(), "keep");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ExportCli, ::testing::Values("lxmert", "visualbert"));

}  // namespace
