// ctest-labels: slow
// A generated 5000-image obj36 TSV imports with flat memory: resident memory is sampled while
// the import runs and must not grow with the number of images (a leak or an accumulating buffer
// would add ~size of the data). Prints the peak RSS (getrusage) for the notes. No timing asserts.
//
// Size: HEADPRUNE_IMPORT_TEST_IMAGES (default 5000) images x 36 boxes x HEADPRUNE_IMPORT_TEST_DIM
// (default 256: ~250 MB of TSV; 2048, the real feature size, makes ~2 GB in the temp folder).
//
// What may grow is the per-image index only, about 0.2 KB per image (the duplicate-id set and
// HDF5's heap of id strings): ~1 MB per 5000 images, independent of the feature volume.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "headprune/data/feature_store.hpp"
#include "headprune/data/tsv_import.hpp"
#include "testing.hpp"

using namespace headprune::data;

namespace {
int64_t current_rss_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}
int64_t peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // kilobytes on Linux
}
}  // namespace

TEST(ImportMemory, FiveThousandImagesImportWithFlatMemory) {
  const char* env_images = std::getenv("HEADPRUNE_IMPORT_TEST_IMAGES");
  const int64_t images = env_images ? std::atoll(env_images) : 5000, boxes = 36;
  ASSERT_GE(images, 100);
  const char* env = std::getenv("HEADPRUNE_IMPORT_TEST_DIM");
  const int64_t dim = env ? std::atoll(env) : 256;
  ASSERT_GT(dim, 0);
  auto dir = headprune::testing::scratch_dir("import-memory");
  const std::string tsv = dir + "/big.tsv", out = dir + "/big.h5";

  {  // Generate line by line (the generator itself keeps one record).
    std::ofstream file(tsv, std::ios::binary);
    ImageRecord r;
    r.image_h = 480;
    r.image_w = 640;
    r.num_boxes = boxes;
    r.feature_dim = dim;
    r.features.resize(static_cast<size_t>(boxes * dim));
    r.boxes.resize(static_cast<size_t>(boxes * 4));
    r.objects_id.assign(static_cast<size_t>(boxes), 7);
    r.objects_conf.assign(static_cast<size_t>(boxes), 0.5f);
    r.attrs_id.assign(static_cast<size_t>(boxes), 3);
    r.attrs_conf.assign(static_cast<size_t>(boxes), 0.25f);
    uint32_t x = 12345;
    for (int64_t i = 0; i < images; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "COCO_val2014_%012lld", static_cast<long long>(i));
      r.img_id = id;
      for (auto& f : r.features) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f = static_cast<float>(x % 10000) / 100.0f;
      }
      // Proper corners (x1 <= x2, y1 <= y2), as the import requires.
      for (size_t b = 0; b < r.boxes.size(); b += 4) {
        const auto x1 = static_cast<float>((b * 37 + i) % 240), y1 = static_cast<float>((b * 11 + i) % 240);
        r.boxes[b] = x1;
        r.boxes[b + 1] = y1;
        r.boxes[b + 2] = x1 + static_cast<float>((b + i) % 200);
        r.boxes[b + 3] = y1 + static_cast<float>((b * 3 + i) % 200);
      }
      file << format_obj_tsv_line(r) << '\n';
    }
  }
  const auto tsv_bytes = std::filesystem::file_size(tsv);

  // RSS after 10% of the images (buffers, HDF5 caches and the id index warmed up) and the most
  // seen after that.
  int64_t rss_at_10pct = 0, rss_max_after = 0;
  TsvImportOptions opts;
  opts.progress_interval_s = 0.1;  // shows progress lines (rate, ETA) in the test log
  opts.on_image = [&](int64_t done, int64_t) {
    if (done % (images / 10) == 0) std::printf("RSS after %lld images: %.1f MB\n", static_cast<long long>(done), current_rss_kb() / 1024.0);
    if (done % 50 != 0) return;
    int64_t rss = current_rss_kb();
    if (done == images / 10) rss_at_10pct = rss;
    if (done > images / 10) rss_max_after = std::max(rss_max_after, rss);
  };
  auto result = import_obj_tsv(tsv, out, opts);
  ASSERT_EQ(result.images, images);
  ASSERT_EQ(result.boxes, images * boxes);

  const int64_t growth_kb = rss_max_after - rss_at_10pct;
  std::printf("import of %lld images x %lld boxes x %lld-d (%.1f MB of TSV): %.1f s, RSS at 10%% %.1f MB, max RSS "
              "after %.1f MB (growth %.1f MB), peak RSS (getrusage) %.1f MB\n",
              static_cast<long long>(images), static_cast<long long>(boxes), static_cast<long long>(dim),
              tsv_bytes / 1e6, result.seconds, rss_at_10pct / 1024.0, rss_max_after / 1024.0, growth_kb / 1024.0,
              peak_rss_kb() / 1024.0);
  // Flat: the remaining 90% of the data (>= 200 MB at the defaults) must not show up in resident
  // memory. 16 MB covers the per-image index (~1 MB) and allocator noise.
  EXPECT_LT(growth_kb, 16 * 1024) << "resident memory grew with the number of images imported";

  // Spot-check the result, then free the disk.
  FeatureStore store(out);
  EXPECT_EQ(store.num_images(), images);
  EXPECT_EQ(store.read("COCO_val2014_000000004999").num_boxes, boxes);
  std::filesystem::remove_all(dir);
}
