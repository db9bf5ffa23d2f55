// ctest-labels: fast
// Sample selection (seed_shuffle / first_n / all), its user errors, the training-image exclusion
// list, and make_sample_list's order of operations.
#include <gtest/gtest.h>

#include <fstream>

#include "headprune/common/error.hpp"
#include "headprune/data/selection.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "testing.hpp"

using namespace headprune::data;
using headprune::UserError;

namespace {
using headprune::testing::user_error;

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

VqaQuestions questions(int n) {
  VqaQuestions q;
  q.source = "valid.json";
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.question_id = std::to_string(1000 + i);
    s.img_id = "COCO_val2014_" + std::string(12 - std::to_string(i).size(), '0') + std::to_string(i);
    s.question = "q" + std::to_string(i);
    q.samples.push_back(s);
  }
  return q;
}
}  // namespace

TEST(Selection, SeedShuffleIsTheSeedsSelection) {
  // cases.json: seed 1234, n 10 -> [2, 8, 3, 5, 6, 4, 9, 0, 1, 7]
  SelectionSpec spec{Selection::seed_shuffle, 5, 1234};
  EXPECT_EQ(select_indices(spec, 10, "valid.json"), (std::vector<int64_t>{2, 8, 3, 5, 6}));
  spec.num_samples = -1;
  EXPECT_EQ(select_indices(spec, 10, "valid.json"), (std::vector<int64_t>{2, 8, 3, 5, 6, 4, 9, 0, 1, 7}));
}

TEST(Selection, FirstNAndAll) {
  EXPECT_EQ(select_indices({Selection::first_n, 3, 0}, 10, "f"), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(select_indices({Selection::all, 3, 0}, 4, "f"), (std::vector<int64_t>{0, 1, 2, 3}));  // num_samples ignored
}

TEST(Selection, ParsesNames) {
  EXPECT_EQ(selection_from_string("seed_shuffle", "cfg.yaml: data.selection"), Selection::seed_shuffle);
  EXPECT_EQ(selection_from_string("first_n", "x"), Selection::first_n);
  EXPECT_EQ(selection_from_string("all", "x"), Selection::all);
  EXPECT_EQ(selection_from_string("list", "x"), Selection::list);
  EXPECT_EQ(user_error([] { selection_from_string("random", "cfg.yaml: data.selection"); }),
            "cfg.yaml: data.selection: unknown selection 'random' (expected seed_shuffle, first_n, all or list)");
  EXPECT_EQ(on_missing_from_string("skip", "x"), OnMissing::skip);
  EXPECT_EQ(user_error([] { on_missing_from_string("ignore", "cfg.yaml: data.on_missing"); }),
            "cfg.yaml: data.on_missing: unknown on_missing 'ignore' (expected error or skip)");
}

TEST(Selection, NumSamplesAboveAvailableIsAnError) {
  EXPECT_EQ(user_error([] { select_indices({Selection::seed_shuffle, 10000, 1234}, 500, "minival.json"); }),
            "minival.json: num_samples = 10000 but only 500 questions are available (lower num_samples, or use "
            "selection: all)");
}

TEST(Selection, EmptySelectionIsAnError) {
  EXPECT_EQ(user_error([] { select_indices({Selection::all, -1, 0}, 0, "empty.json"); }),
            "empty.json: empty selection: no questions are available (empty file, or all were excluded)");
  EXPECT_EQ(user_error([] { select_indices({Selection::first_n, 0, 0}, 5, "valid.json"); }),
            "valid.json: empty selection: num_samples is 0 (expected at least 1, or -1 for all)");
}

TEST(ImageExclusion, ImageKeyJoinsBothSpellings) {
  EXPECT_EQ(ImageExclusion::image_key("COCO_val2014_000000393225"), "393225");
  EXPECT_EQ(ImageExclusion::image_key("COCO_train2014_000000000009"), "9");
  EXPECT_EQ(ImageExclusion::image_key("393225"), "393225");
  EXPECT_EQ(ImageExclusion::image_key("000000"), "0");
  EXPECT_EQ(ImageExclusion::image_key("n161313"), "n161313");  // not a COCO id: unchanged
  EXPECT_EQ(ImageExclusion::image_key("COCO_val2014_x1"), "COCO_val2014_x1");
}

TEST(ImageExclusion, ReadsTextJsonListAndLxmertRecords) {
  auto dir = headprune::testing::scratch_dir("exclusion");
  write_file(dir + "/ids.txt", "# nominival images\nCOCO_val2014_000000000001\n\n  2  \r\n");
  write_file(dir + "/ids.json", "[\"COCO_val2014_000000000001\", 2]");
  write_file(dir + "/nominival.json",
             "[{\"question_id\": 5, \"img_id\": \"COCO_val2014_000000000001\", \"sent\": \"?\"},"
             " {\"question_id\": 6, \"img_id\": \"COCO_val2014_000000000002\", \"sent\": \"?\"}]");
  for (const char* name : {"ids.txt", "ids.json", "nominival.json"}) {
    auto ex = ImageExclusion::load(dir + "/" + name);
    EXPECT_EQ(ex.size(), 2u) << name;
    EXPECT_TRUE(ex.contains("COCO_val2014_000000000002")) << name;
    EXPECT_TRUE(ex.contains("1")) << name;
    EXPECT_FALSE(ex.contains("COCO_val2014_000000000003")) << name;
  }
  write_file(dir + "/bad.json", "[{\"question_id\": 5}]");
  EXPECT_EQ(user_error([&] { ImageExclusion::load(dir + "/bad.json"); }),
            dir + "/bad.json: entry 0 is neither an image id nor a record with \"img_id\"");
  write_file(dir + "/broken.json", "[\"a\", ");
  EXPECT_NE(user_error([&] { ImageExclusion::load(dir + "/broken.json"); }).find(dir + "/broken.json: malformed JSON at line 1"),
            std::string::npos);
  EXPECT_EQ(user_error([&] { ImageExclusion::load(dir + "/nope.txt"); }),
            dir + "/nope.txt: file not found (expected a list of image ids to exclude)");
}

TEST(SampleList, ExcludesThenSelectsAndCounts) {
  auto dir = headprune::testing::scratch_dir("samplelist");
  write_file(dir + "/train_images.txt", "COCO_val2014_000000000003\n7\n");
  auto q = questions(12);
  SampleOptions opts;
  opts.selection = {Selection::seed_shuffle, 10, 1234};
  opts.exclude_images = dir + "/train_images.txt";
  auto list = make_sample_list(q, opts, nullptr);
  EXPECT_EQ(list.available, 12);
  EXPECT_EQ(list.excluded, 2);
  EXPECT_EQ(list.selected, 10);
  ASSERT_EQ(list.samples.size(), 10u);
  // Remaining file indices 0 1 2 4 5 6 8 9 10 11, permuted by the seed's shuffle of range(10).
  const std::vector<int64_t> remaining = {0, 1, 2, 4, 5, 6, 8, 9, 10, 11};
  const std::vector<int64_t> perm = {2, 8, 3, 5, 6, 4, 9, 0, 1, 7};
  for (size_t i = 0; i < perm.size(); ++i) {
    EXPECT_EQ(list.file_index[i], remaining[static_cast<size_t>(perm[i])]);
    EXPECT_EQ(list.samples[i].question_id, q.samples[static_cast<size_t>(list.file_index[i])].question_id);
  }
  // Without exclusion: exactly the seed's indices into the file.
  opts.exclude_images.clear();
  opts.selection.num_samples = 5;
  auto plain = make_sample_list(q, opts, nullptr);
  EXPECT_EQ(plain.file_index, seed_shuffle(12, 5, 1234));
  EXPECT_EQ(plain.excluded, 0);
}

TEST(SampleList, EverythingExcludedIsAnEmptySelection) {
  auto q = questions(2);
  auto dir = headprune::testing::scratch_dir("samplelist-empty");
  write_file(dir + "/all.txt", "0\n1\n");
  SampleOptions opts;
  opts.exclude_images = dir + "/all.txt";
  EXPECT_EQ(user_error([&] { make_sample_list(q, opts, nullptr); }),
            "valid.json: empty selection: no questions are available (empty file, or all were excluded)");
}

TEST(SampleList, DropExcludedImagesReturnsTheCount) {
  auto q = questions(5);
  auto ex = ImageExclusion::from_ids({"1", "COCO_val2014_000000000004", "99"}, "train ids");
  EXPECT_EQ(drop_excluded_images(q.samples, ex), 2);
  ASSERT_EQ(q.samples.size(), 3u);
  EXPECT_EQ(q.samples[2].question_id, "1003");
}
