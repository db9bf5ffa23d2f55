// Import of LXMERT's obj36 TSV region features (e.g. valid_obj36.tsv, ~20 GB) into a feature
// store (data/feature_store.hpp). Backs `headprune import-features`.
//
// The TSV has no header; each line is one image with ten tab-separated columns:
//   img_id, img_h, img_w, objects_id, objects_conf, attrs_id, attrs_conf, num_boxes, boxes, features
// img_h, img_w and num_boxes are integers; the other array columns are base64 of little-endian
// raw arrays: objects_id and attrs_id int64 [num_boxes]; objects_conf and attrs_conf float32
// [num_boxes]; boxes float32 [num_boxes, 4] in pixels (x1, y1, x2, y2); features float32
// [num_boxes, D], D from the first image (2048 for the Faster R-CNN features both models use).
//
// The import streams: one line in memory at a time plus one ~8 MB block of rows for the writer,
// so memory stays flat however large the file. It writes FEATS.h5.partial and renames it to
// FEATS.h5 at the end; an interrupted import leaves no FEATS.h5. Progress (images, bytes, rate,
// ETA) is logged at info level every `progress_interval_s`.
//
// Failure: UserError naming the file, the line, the column and the image, e.g.
//   "val.tsv:17: truncated line (image COCO_val2014_000000000042): 8 of 10 tab-separated
//    columns, missing 'boxes', 'features'".
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "headprune/data/feature_store.hpp"

namespace headprune::data {

/// The obj36 column names, in file order.
extern const std::array<const char*, 10> kObjTsvColumns;

struct TsvImportOptions {
  int compression = 0;               ///< gzip level 0..9 for the store's datasets
  bool overwrite = false;            ///< replace an existing output file
  bool skip_nonfinite = false;       ///< skip (and count) images with NaN/Inf features or boxes
  double progress_interval_s = 10;   ///< seconds between progress lines; 0 = none (as run.progress_seconds)
  /// Called after every image is parsed, with the images and input bytes done so far (benches
  /// and tests sample memory with it).
  std::function<void(int64_t images, int64_t bytes)> on_image;
};

struct TsvImportResult {
  int64_t images = 0;             ///< images written
  int64_t boxes = 0;              ///< boxes written
  int64_t feature_dim = 0;
  int64_t skipped_nonfinite = 0;  ///< images skipped by skip_nonfinite
  std::vector<std::string> skipped_ids;  ///< their ids
  int64_t bytes = 0;              ///< input bytes read
  double seconds = 0;
};

/// Imports `tsv_path` into a new store at `out_path`. UserError when the input is missing or
/// malformed (naming file, line, column and image), when `out_path` exists and !overwrite, or
/// when the TSV holds no image.
TsvImportResult import_obj_tsv(const std::string& tsv_path, const std::string& out_path,
                               const TsvImportOptions& options = {});

/// Parses one TSV line (without its newline) into `record`, reusing its buffers. `where` is the
/// "file:line" prefix of error messages. `expected_dim` > 0 makes a different feature size an
/// error; 0 infers it from the line. A negative or inverted box (x2 < x1, y2 < y1) is an error
/// naming the box; any byte string gives a record or a UserError (tests/unit/test_fuzz_inputs.cpp).
void parse_obj_tsv_line(std::string_view line, ImageRecord& record, const std::string& where,
                        int64_t expected_dim = 0);

/// One TSV line for `record`, without the newline: the inverse of parse_obj_tsv_line (tests
/// use it to generate input; exact float bits survive the round trip).
std::string format_obj_tsv_line(const ImageRecord& record);

}  // namespace headprune::data
