// ctest-labels: fast
// obj36 TSV -> feature store -> reader: a generated TSV round-trips bit for bit (plain and
// gzip), padding/masks/normalised boxes per model, lookups, and every bad-input case with its
// message (truncated line, bad base64, NaN/Inf at import and in a store, feature size, missing
// image, existing output, interrupted import).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "headprune/common/error.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/data/tsv_import.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "testing.hpp"

using namespace headprune::data;
using headprune::UserError;

namespace {
using headprune::testing::user_error;

// Deterministic values that exercise the float bit patterns: signed zeros, denormals, extremes.
ImageRecord make_record(const std::string& id, int64_t num_boxes, int64_t dim, uint32_t seed) {
  ImageRecord r;
  r.img_id = id;
  r.image_h = 480 + seed;
  r.image_w = 640 - seed;
  r.num_boxes = num_boxes;
  r.feature_dim = dim;
  uint32_t x = seed * 2654435761u + 1;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  r.features.resize(static_cast<size_t>(num_boxes * dim));
  for (auto& f : r.features) f = static_cast<float>(next() % 100000) / 1000.0f - 20.0f;
  r.features[0] = -0.0f;
  if (r.features.size() > 3) {
    r.features[1] = std::numeric_limits<float>::denorm_min();
    r.features[2] = std::numeric_limits<float>::max();
    r.features[3] = -std::numeric_limits<float>::min();
  }
  for (int64_t b = 0; b < num_boxes; ++b) {
    float x1 = static_cast<float>(next() % 300) + 0.25f, y1 = static_cast<float>(next() % 200) + 0.5f;
    r.boxes.insert(r.boxes.end(), {x1, y1, x1 + static_cast<float>(next() % 300) + 1.0f / 3.0f,
                                   y1 + static_cast<float>(next() % 250) + 0.1f});
    r.objects_id.push_back(static_cast<int64_t>(next() % 1600) - (b == 0 ? 5000000000LL : 0));
    r.objects_conf.push_back(static_cast<float>(next() % 1000) / 999.0f);
    r.attrs_id.push_back(static_cast<int64_t>(next() % 400));
    r.attrs_conf.push_back(static_cast<float>(next() % 1000) / 997.0f);
  }
  return r;
}

void write_tsv(const std::string& path, const std::vector<ImageRecord>& records) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& r : records) out << format_obj_tsv_line(r) << '\n';
}

std::vector<std::string> tsv_lines(const std::vector<ImageRecord>& records) {
  std::vector<std::string> lines;
  for (const auto& r : records) lines.push_back(format_obj_tsv_line(r));
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& l : lines) out << l << '\n';
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

void expect_same_record(const ImageRecord& a, const ImageRecord& b) {
  EXPECT_EQ(a.img_id, b.img_id);
  EXPECT_EQ(a.image_h, b.image_h);
  EXPECT_EQ(a.image_w, b.image_w);
  EXPECT_EQ(a.num_boxes, b.num_boxes);
  EXPECT_EQ(a.feature_dim, b.feature_dim);
  EXPECT_TRUE(same_bits(a.features, b.features)) << a.img_id;
  EXPECT_TRUE(same_bits(a.boxes, b.boxes)) << a.img_id;
  EXPECT_EQ(a.objects_id, b.objects_id);
  EXPECT_TRUE(same_bits(a.objects_conf, b.objects_conf));
  EXPECT_EQ(a.attrs_id, b.attrs_id);
  EXPECT_TRUE(same_bits(a.attrs_conf, b.attrs_conf));
}

std::vector<ImageRecord> three_images(int64_t dim = 2048) {
  return {make_record("COCO_val2014_000000393225", 36, dim, 1), make_record("COCO_val2014_000000000042", 10, dim, 2),
          make_record("COCO_val2014_000000262148", 100, dim, 3)};
}

std::string import_three(const std::string& tag, int compression = 0, int64_t dim = 2048) {
  auto dir = headprune::testing::scratch_dir(tag);
  write_tsv(dir + "/feats.tsv", three_images(dim));
  TsvImportOptions opts;
  opts.compression = compression;
  import_obj_tsv(dir + "/feats.tsv", dir + "/feats.h5", opts);
  return dir;
}

// Overwrites one float of /features in place (a store damaged after import).
void poke_feature(const std::string& path, hsize_t row, hsize_t col, float value) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, "/features", H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  hsize_t start[2] = {row, col}, count[2] = {1, 1};
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
  hid_t mem = H5Screate_simple(2, count, nullptr);
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, &value), 0);
  H5Sclose(mem);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
}
}  // namespace

TEST(FeatureStore, TsvRoundTripsBitForBit) {
  for (int compression : {0, 4}) {
    SCOPED_TRACE("compression " + std::to_string(compression));
    auto dir = headprune::testing::scratch_dir("roundtrip");
    auto records = three_images();
    write_tsv(dir + "/feats.tsv", records);
    TsvImportOptions opts;
    opts.compression = compression;
    int64_t callbacks = 0;
    opts.on_image = [&](int64_t, int64_t) { ++callbacks; };
    auto result = import_obj_tsv(dir + "/feats.tsv", dir + "/feats.h5", opts);
    EXPECT_EQ(result.images, 3);
    EXPECT_EQ(result.boxes, 146);
    EXPECT_EQ(result.feature_dim, 2048);
    EXPECT_EQ(result.bytes, static_cast<int64_t>(std::filesystem::file_size(dir + "/feats.tsv")));
    EXPECT_EQ(callbacks, 3);
    EXPECT_FALSE(std::filesystem::exists(dir + "/feats.h5.partial"));

    FeatureStore store(dir + "/feats.h5");
    EXPECT_EQ(store.num_images(), 3);
    EXPECT_EQ(store.feature_dim(), 2048);
    EXPECT_EQ(store.max_boxes(), 100);
    EXPECT_EQ(store.image_ids(), (std::vector<std::string>{records[0].img_id, records[1].img_id, records[2].img_id}));
    // Random access in another order than the file's.
    for (int i : {2, 0, 1}) expect_same_record(store.read(records[static_cast<size_t>(i)].img_id), records[static_cast<size_t>(i)]);
  }
}

TEST(FeatureStore, TsvLineFormatIsTheInverseOfParsing) {
  auto r = make_record("img", 3, 5, 9);
  ImageRecord back;
  parse_obj_tsv_line(format_obj_tsv_line(r), back, "x.tsv:1");
  expect_same_record(back, r);
  // Columns in LXMERT's order; integers as text.
  auto line = format_obj_tsv_line(r);
  EXPECT_EQ(line.rfind("img\t489\t631\t", 0), 0u);
}

TEST(FeatureStore, CutsToTheModelsRegionsAndNormalises) {
  auto dir = import_three("padding");
  FeatureStore store(dir + "/feats.h5");
  auto records = three_images();

  // 10 boxes, LXMERT takes up to 36: all 10, unpadded (a batch is padded once, in collate).
  auto p = store.read_regions("COCO_val2014_000000000042", VisualSpec{"lxmert", 36, 2048});
  const ImageRecord& r = records[1];
  EXPECT_EQ(p.num_boxes, 10);
  EXPECT_FALSE(p.truncated);
  EXPECT_EQ(p.image_h, r.image_h);
  EXPECT_EQ(p.image_w, r.image_w);
  ASSERT_EQ(p.features.size(), 10u * 2048);
  ASSERT_EQ(p.boxes.size(), 10u * 4);
  ASSERT_EQ(p.pixel_boxes.size(), 10u * 4);
  EXPECT_EQ(std::memcmp(p.features.data(), r.features.data(), r.features.size() * 4), 0);
  for (size_t b = 0; b < 10; ++b) {
    // LXMERT: boxes[:, (0, 2)] /= img_w; boxes[:, (1, 3)] /= img_h (float32).
    EXPECT_EQ(p.boxes[b * 4 + 0], r.boxes[b * 4 + 0] / static_cast<float>(r.image_w));
    EXPECT_EQ(p.boxes[b * 4 + 1], r.boxes[b * 4 + 1] / static_cast<float>(r.image_h));
    EXPECT_EQ(p.boxes[b * 4 + 2], r.boxes[b * 4 + 2] / static_cast<float>(r.image_w));
    EXPECT_EQ(p.boxes[b * 4 + 3], r.boxes[b * 4 + 3] / static_cast<float>(r.image_h));
    EXPECT_EQ(p.pixel_boxes[b * 4 + 2], r.boxes[b * 4 + 2]);
  }

  // 100 boxes: all of them for VisualBERT, the first 36 for LXMERT.
  auto v = store.read_regions("COCO_val2014_000000262148", VisualSpec{"visualbert", 100, 2048});
  EXPECT_EQ(v.num_boxes, 100);
  EXPECT_FALSE(v.truncated);
  ASSERT_EQ(v.features.size(), records[2].features.size());
  EXPECT_EQ(std::memcmp(v.features.data(), records[2].features.data(), records[2].features.size() * 4), 0);
  auto l = store.read_regions("COCO_val2014_000000262148", VisualSpec{"lxmert", 36, 2048});
  EXPECT_EQ(l.num_boxes, 36);
  EXPECT_TRUE(l.truncated);
  ASSERT_EQ(l.features.size(), 36u * 2048);
  EXPECT_EQ(std::memcmp(l.features.data(), records[2].features.data(), 36 * 2048 * 4), 0);
  ASSERT_EQ(l.pixel_boxes.size(), 36u * 4);
  EXPECT_EQ(std::memcmp(l.pixel_boxes.data(), records[2].boxes.data(), 36 * 4 * 4), 0);
}

TEST(FeatureStore, FindsTheOtherSpellingOfACocoId) {
  auto dir = import_three("lookup", 0, 8);
  FeatureStore store(dir + "/feats.h5");
  EXPECT_TRUE(store.contains("COCO_val2014_000000393225"));
  EXPECT_TRUE(store.contains("393225"));
  EXPECT_EQ(store.read("42").img_id, "COCO_val2014_000000000042");
  EXPECT_FALSE(store.contains("43"));
  EXPECT_EQ(user_error([&] { store.read("COCO_val2014_000000000043"); }),
            dir + "/feats.h5: no features for image COCO_val2014_000000000043");
}

TEST(FeatureStore, FeatureSizeOtherThanTheModelsIsAnError) {
  auto dir = import_three("dim", 0, 16);
  FeatureStore store(dir + "/feats.h5");
  EXPECT_EQ(store.feature_dim(), 16);
  const std::string expected = dir + "/feats.h5: features are 16-d but lxmert expects 2048-d region features (import "
                                     "the features of the detector this model was trained with)";
  EXPECT_EQ(user_error([&] { store.check(VisualSpec{"lxmert", 36, 2048}); }), expected);
  EXPECT_EQ(user_error([&] { store.read_regions("42", VisualSpec{"lxmert", 36, 2048}); }), expected);
  EXPECT_NO_THROW(store.read_regions("42", VisualSpec{"tiny", 4, 16}));
}

TEST(FeatureStore, FeatureSizeChangingInsideTheTsvIsAnError) {
  auto dir = headprune::testing::scratch_dir("dim-change");
  write_tsv(dir + "/f.tsv", {make_record("a", 2, 8, 1), make_record("b", 2, 6, 2)});
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/f.tsv", dir + "/f.h5"); }),
            dir + "/f.tsv:2: column 'features' (image b): 6-d features but earlier images' are 8-d (truncated line?)");
}

TEST(FeatureStore, NonFiniteFeaturesAtImportNameFileLineAndImage) {
  auto dir = headprune::testing::scratch_dir("nan-import");
  auto records = three_images(8);
  records[1].features[1 * 8 + 3] = std::nanf("");
  records[2].boxes[5] = std::numeric_limits<float>::infinity();
  write_tsv(dir + "/f.tsv", records);
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/f.tsv", dir + "/f.h5"); }),
            dir + "/f.tsv:2: image COCO_val2014_000000000042: NaN feature at box 1, dimension 3 (expected finite values; "
                  "re-extract this image, or import with --skip-nonfinite)");
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.h5.partial"));

  // skip_nonfinite: both bad images are skipped and counted.
  TsvImportOptions opts;
  opts.skip_nonfinite = true;
  auto result = import_obj_tsv(dir + "/f.tsv", dir + "/f.h5", opts);
  EXPECT_EQ(result.images, 1);
  EXPECT_EQ(result.skipped_nonfinite, 2);
  EXPECT_EQ(result.skipped_ids, (std::vector<std::string>{"COCO_val2014_000000000042", "COCO_val2014_000000262148"}));
  FeatureStore store(dir + "/f.h5");
  EXPECT_EQ(store.image_ids(), std::vector<std::string>{"COCO_val2014_000000393225"});
}

TEST(FeatureStore, NonFiniteFeaturesInAStoreAreAnErrorOnRead) {
  auto dir = import_three("nan-read", 0, 8);
  // Image 2 starts at row 36 + 10; box 4, dimension 7.
  poke_feature(dir + "/feats.h5", 46 + 4, 7, -std::numeric_limits<float>::infinity());
  FeatureStore store(dir + "/feats.h5");
  EXPECT_NO_THROW(store.read("COCO_val2014_000000000042"));
  EXPECT_EQ(user_error([&] { store.read("COCO_val2014_000000262148"); }),
            dir + "/feats.h5: image COCO_val2014_000000262148: -Inf feature at box 4, dimension 7 (expected finite "
                  "values; re-import this image's features)");
  EXPECT_EQ(user_error([&] { store.read_regions("COCO_val2014_000000262148", VisualSpec{"m", 36, 8}); }),
            dir + "/feats.h5: image COCO_val2014_000000262148: -Inf feature at box 4, dimension 7 (expected finite "
                  "values; re-import this image's features)");
}

TEST(FeatureStore, TruncatedTsvLineNamesFileLineAndColumn) {
  auto dir = headprune::testing::scratch_dir("truncated");
  auto lines = tsv_lines(three_images(8));
  // Line 2 lost its last two columns.
  auto cut = lines;
  size_t tab = 0;
  for (int k = 0; k < 8; ++k) tab = cut[1].find('\t', tab + 1);
  cut[1].resize(tab);
  write_lines(dir + "/cut.tsv", cut);
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/cut.tsv", dir + "/f.h5"); }),
            dir + "/cut.tsv:2: truncated line (image COCO_val2014_000000000042): 8 of 10 tab-separated columns, missing "
                  "'boxes', 'features'");
  // The last line cut inside the features column (a partial download).
  auto partial = lines;
  partial[2].resize(partial[2].size() - 7);
  write_lines(dir + "/partial.tsv", partial);
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/partial.tsv", dir + "/f.h5"); }),
            dir + "/partial.tsv:3: column 'features' (image COCO_val2014_000000262148): length " +
                std::to_string(lines[2].size() - 7 - lines[2].rfind('\t') - 1) + " is not a multiple of 4 (truncated?)");
  // Cut on a 4-character boundary: the size no longer fits num_boxes rows.
  auto short4 = lines;
  short4[2].resize(short4[2].size() - 8);
  write_lines(dir + "/short4.tsv", short4);
  auto msg = user_error([&] { import_obj_tsv(dir + "/short4.tsv", dir + "/f.h5"); });
  EXPECT_EQ(msg.rfind(dir + "/short4.tsv:3: column 'features' (image COCO_val2014_000000262148): decodes to ", 0), 0u) << msg;
  EXPECT_NE(msg.find("not a whole number of float32 rows for num_boxes = 100 (truncated?)"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.h5.partial"));
}

TEST(FeatureStore, MalformedColumnsNameTheColumn) {
  auto dir = headprune::testing::scratch_dir("columns");
  auto lines = tsv_lines({make_record("img1", 2, 4, 1)});
  std::string bad_b64 = lines[0];
  bad_b64.replace(bad_b64.find('\t', bad_b64.find('\t', bad_b64.find('\t') + 1) + 1) + 1, 1, "*");  // objects_id
  write_lines(dir + "/b64.tsv", {bad_b64});
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/b64.tsv", dir + "/f.h5"); }),
            dir + "/b64.tsv:1: column 'objects_id' (image img1): invalid character '*' at offset 0 (expected base64 of int64 "
                  "[num_boxes])");
  std::string bad_h = lines[0];
  bad_h.replace(bad_h.find('\t') + 1, 3, "4x0");
  write_lines(dir + "/h.tsv", {bad_h});
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/h.tsv", dir + "/f.h5"); }),
            dir + "/h.tsv:1: column 'img_h' (image img1): '4x0' is not an integer");
  write_lines(dir + "/extra.tsv", {lines[0] + "\textra"});
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/extra.tsv", dir + "/f.h5"); })
                .rfind(dir + "/extra.tsv:1: more than 10 tab-separated columns", 0),
            0u);
  write_lines(dir + "/dup.tsv", {lines[0], lines[0]});
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/dup.tsv", dir + "/f.h5"); }),
            dir + "/dup.tsv:2: image img1: image id appears twice");
  write_lines(dir + "/empty.tsv", {});
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/empty.tsv", dir + "/f.h5"); }), dir + "/empty.tsv: no images (empty file?)");
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/none.tsv", dir + "/f.h5"); }),
            dir + "/none.tsv: file not found (expected an LXMERT obj36 TSV)");
}

TEST(FeatureStore, RefusesToOverwriteUnlessAsked) {
  auto dir = import_three("overwrite", 0, 4);
  EXPECT_EQ(user_error([&] { import_obj_tsv(dir + "/feats.tsv", dir + "/feats.h5"); }),
            dir + "/feats.h5: exists already (pass --overwrite to replace it)");
  TsvImportOptions opts;
  opts.overwrite = true;
  EXPECT_EQ(import_obj_tsv(dir + "/feats.tsv", dir + "/feats.h5", opts).images, 3);
}

TEST(FeatureStore, AnInterruptedImportIsRefused) {
  auto dir = headprune::testing::scratch_dir("interrupted");
  {
    FeatureStoreWriter writer(dir + "/f.h5", {});
    writer.append(make_record("a", 2, 4, 1), "test");
    // destroyed without finish()
  }
  EXPECT_EQ(user_error([&] { FeatureStore store(dir + "/f.h5"); }),
            dir + "/f.h5: not a headprune feature store, or an interrupted import (no 'format' attribute); create it with "
                  "`headprune import-features`");
  EXPECT_EQ(user_error([&] { FeatureStore store(dir + "/missing.h5"); }), dir + "/missing.h5: file not found");
}

TEST(FeatureStore, QuestionWhoseImageIsMissingIsAnErrorOrSkipped) {
  auto dir = import_three("missing", 0, 8);
  FeatureStore store(dir + "/feats.h5");
  VqaQuestions q;
  q.source = "minival.json";
  for (auto [qid, img] : {std::pair{"1", "COCO_val2014_000000393225"}, {"2", "COCO_val2014_000000000099"},
                          {"3", "COCO_val2014_000000000042"}}) {
    Sample s;
    s.question_id = qid;
    s.img_id = img;
    q.samples.push_back(s);
  }
  SampleOptions opts;
  opts.selection = {Selection::first_n, 3, 0};
  EXPECT_EQ(user_error([&] { make_sample_list(q, opts, &store); }),
            dir + "/feats.h5: no features for image COCO_val2014_000000000099 of question_id 2 in minival.json (import "
                  "that image's features, or set data.on_missing: skip)");
  opts.on_missing = OnMissing::skip;
  auto list = make_sample_list(q, opts, &store);
  EXPECT_EQ(list.selected, 3);
  EXPECT_EQ(list.skipped_missing, 1);
  EXPECT_EQ(list.skipped_question_ids, std::vector<std::string>{"2"});
  ASSERT_EQ(list.samples.size(), 2u);
  EXPECT_EQ(list.file_index, (std::vector<int64_t>{0, 2}));
}
