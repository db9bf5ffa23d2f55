// ctest-labels: fast fixture
// The end-to-end text path: question strings in LXMERT's JSON and region features in an obj36
// TSV go through the real importer, feature store, tokenizer and batch builder into the fixture
// models, and give the seed's logits.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/run/batch_builder.hpp"
#include "headprune/data/tsv_import.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/io/h5_tensor.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;

class EndToEnd : public ::testing::TestWithParam<std::string> {};

TEST_P(EndToEnd, RawJsonAndTsvGiveTheSeedsLogits) {
  const std::string name = GetParam();
  const bool lxmert = name == "lxmert";
  h5::File ref(hptest::data_path(name + "/reference.h5"), h5::File::Mode::read);
  const std::string dir = hptest::scratch_dir("e2e-" + name);
  auto answers = ref.read_strings("/meta/answers");
  {
    std::ofstream(dir + "/trainval_label2ans.json") << nlohmann::json(answers).dump();
    nlohmann::json a2l;
    for (size_t i = 0; i < answers.size(); ++i) a2l[answers[i]] = i;
    std::ofstream(dir + "/trainval_ans2label.json") << a2l.dump();
  }
  // One image per sample. LXMERT's boxes are stored normalised: an image of 1 x 1 "pixels"
  // makes the store's normalisation (x1/w, ...) exact, so the model sees the stored values.
  nlohmann::json questions = nlohmann::json::array();
  {
    std::ofstream tsv(dir + "/features.tsv");
    for (int64_t i = 0; i < ref.attr_i64("/", "n_samples"); ++i) {
      char s[32];
      std::snprintf(s, sizeof s, "/sample_%03lld", static_cast<long long>(i));
      at::Tensor feats = h5::read_tensor(ref, std::string(s) + (lxmert ? "/inputs/visual_feats" : "/model_inputs/visual_embeddings"))
                             .to(at::kFloat)[0].contiguous();
      data::ImageRecord rec;
      rec.img_id = "img_" + std::to_string(i);
      rec.image_h = rec.image_w = 1;
      rec.num_boxes = feats.size(0);
      rec.feature_dim = feats.size(1);
      rec.features.assign(feats.data_ptr<float>(), feats.data_ptr<float>() + feats.numel());
      if (lxmert) {
        at::Tensor pos = h5::read_tensor(ref, std::string(s) + "/inputs/visual_pos").to(at::kFloat)[0].contiguous();
        rec.boxes.assign(pos.data_ptr<float>(), pos.data_ptr<float>() + pos.numel());
      } else {
        rec.boxes.assign(static_cast<size_t>(4 * rec.num_boxes), 0.5f);
      }
      rec.objects_id.assign(static_cast<size_t>(rec.num_boxes), 0);
      rec.attrs_id.assign(static_cast<size_t>(rec.num_boxes), 0);
      rec.objects_conf.assign(static_cast<size_t>(rec.num_boxes), 1.f);
      rec.attrs_conf.assign(static_cast<size_t>(rec.num_boxes), 1.f);
      tsv << data::format_obj_tsv_line(rec) << "\n";
      questions.push_back({{"question_id", i}, {"img_id", rec.img_id}, {"sent", ref.attr_string(s, "question")},
                           {"label", {{answers[0], 1.0}}}});
    }
    std::ofstream(dir + "/questions.json") << questions.dump();
  }
  data::import_obj_tsv(dir + "/features.tsv", dir + "/features.h5");
  data::FeatureStore store(dir + "/features.h5");
  auto vocab = data::AnswerVocab::load_dir(dir);
  auto qs = data::load_lxmert_questions(dir + "/questions.json", vocab);
  auto model = hptest::fixture_model(name);
  auto tok = data::WordPieceTokenizer::from_vocab_file(hptest::data_path(name + "/vocab.txt"));
  run::BatchBuilder builder(*model, tok, store, {20, 7});
  std::vector<const data::Sample*> all;
  for (const auto& s : qs.samples) all.push_back(&s);
  run::BuiltBatch built = builder.build(all, model->num_answers());  // all six, padded together
  at::NoGradGuard ng;
  at::Tensor logits = model->forward(built.batch, {}).logits;
  for (size_t i = 0; i < all.size(); ++i) {
    char s[32];
    std::snprintf(s, sizeof s, "/sample_%03zu", i);
    at::Tensor expected = h5::read_tensor(ref, std::string(s) + (lxmert ? "/logits_nolrp" : "/logits"))[0];
    EXPECT_LT(hptest::max_abs_diff(logits[static_cast<int64_t>(i)], expected), 1e-12) << s;
    at::Tensor ids = h5::read_tensor(ref, std::string(s) + (lxmert ? "/inputs/input_ids" : "/model_inputs/input_ids"))[0];
    EXPECT_TRUE(at::equal(built.batch.input_ids[static_cast<int64_t>(i)].slice(0, 0, ids.size(0)), ids)) << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EndToEnd, ::testing::Values("lxmert", "visualbert"));
