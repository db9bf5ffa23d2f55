// io::ResultsWriter: the job streams per-sample rows into the results file in blocks, in any
// order; the file is renamed into place only when every block-written dataset is complete.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "headprune/io/h5.hpp"
#include "headprune/io/h5_tensor.hpp"
#include "headprune/io/results_file.hpp"

namespace fs = std::filesystem;
using headprune::io::ResultsWriter;

namespace {
std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("headprune-writer-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}
}  // namespace

TEST(ResultsWriter, BlocksInAnyOrderReadBackAsTheWholeArrays) {
  const std::string path = temp_path("blocks.h5");
  fs::remove(path);
  const at::Tensor rows = at::arange(5 * 3, at::kDouble).view({5, 3});      // [N, 3]
  const at::Tensor curve = at::arange(5 * 4, at::kLong).view({5, 4});       // [N, S]
  {
    ResultsWriter w(path, false);
    headprune::io::Experiment e;
    e.name = "x";
    e.datasets["meta/ratios"] = at::arange(4, at::kDouble);
    w.add(e);
    w.write_block("x", "scores/m/g", {5, 3}, rows.slice(0, 3, 5), {3, 0});  // later rows first
    w.write_block("x", "scores/m/g", {5, 3}, rows.slice(0, 0, 3), {0, 0});
    for (int64_t k = 3; k >= 0; --k)  // one column at a time, as global cells arrive
      for (int64_t b : {3, 0})
        w.write_block("x", "curves/c/pred_index", {5, 4},
                      curve.slice(0, b, std::min<int64_t>(b + 3, 5)).slice(1, k, k + 1), {b, k});
    EXPECT_FALSE(fs::exists(path)) << "visible before commit";
    w.commit();
  }
  headprune::h5::File f(path, headprune::h5::File::Mode::read);
  EXPECT_TRUE(at::equal(headprune::h5::read_tensor(f, "/experiments/x/scores/m/g"), rows));
  EXPECT_TRUE(at::equal(headprune::h5::read_tensor(f, "/experiments/x/curves/c/pred_index"), curve));
  EXPECT_TRUE(at::equal(headprune::h5::read_tensor(f, "/experiments/x/meta/ratios"), at::arange(4, at::kDouble)));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(ResultsWriter, AnIncompleteDatasetIsNeverRenamedIntoPlace) {
  const std::string path = temp_path("incomplete.h5");
  fs::remove(path);
  EXPECT_DEATH(
      {
        ResultsWriter w(path, false);
        w.write_block("x", "samples/target", {4}, at::zeros({3}, at::kLong), {0});  // row 3 missing
        w.commit();
      },
      "samples/target: 3 of 4 elements written");
  EXPECT_FALSE(fs::exists(path));
}

TEST(ResultsWriter, AnUnfinishedWriterLeavesNothingBehind) {
  const std::string path = temp_path("unfinished.h5");
  fs::remove(path);
  {
    ResultsWriter w(path, false);
    w.write_block("x", "samples/target", {4}, at::zeros({4}, at::kLong), {0});
  }  // an error between the first block and commit(): the temporary file goes
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(ResultsWriter, RefusesAnExistingFileWithoutOverwrite) {
  const std::string path = temp_path("exists.h5");
  { ResultsWriter(path, true).commit(); }
  ASSERT_TRUE(fs::exists(path));
  try {
    ResultsWriter w(path, false);
    FAIL() << "an existing results file was opened for writing";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("exists.h5: results file exists (pass --overwrite"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}
