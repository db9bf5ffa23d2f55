// The region-feature store: one HDF5 file of detector features for many images, written once by
// `headprune import-features` (data/tsv_import.hpp) and read by every rank with random access by
// image id. Layout and rationale: docs/feature-store.md.
//
//   /features    [B, D] f32   region features of all images, image after image (chunked)
//   /boxes       [B, 4] f32   boxes in pixels, x1 y1 x2 y2
//   /objects_id  [B] i64, /objects_conf [B] f32, /attrs_id [B] i64, /attrs_conf [B] f32
//                             the detector's labels, kept for visualisations
//   /image_ids   [N] str      e.g. "COCO_val2014_000000393225"
//   /image_h, /image_w, /num_boxes [N] i64
//   /box_offset  [N + 1] i64  image i owns rows box_offset[i] .. box_offset[i+1]-1
//   attributes on "/": format = "headprune-feature-store", format_version, feature_dim,
//   num_images, num_boxes_total, max_boxes, source (the TSV it came from). The attributes are
//   written last: a file without them is an interrupted import and is refused.
//
// One store serves both models: LXMERT takes 36 boxes with normalised positions, VisualBERT up
// to 100 boxes (positions unused); read_regions() keeps the first boxes up to the model's maximum.
// Nothing here pads: a batch is padded once, across its examples, by models::collate.
//
// Not thread-safe (HDF5 serial build): one FeatureStore per rank/thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "headprune/data/image_source.hpp"

namespace headprune::data {

/// One image as stored (and as one line of an obj36 TSV holds it).
struct ImageRecord {
  std::string img_id;
  int64_t image_h = 0;  ///< pixels
  int64_t image_w = 0;
  int64_t num_boxes = 0;
  int64_t feature_dim = 0;
  std::vector<float> features;      ///< [num_boxes, feature_dim], row-major
  std::vector<float> boxes;         ///< [num_boxes, 4] pixels: x1, y1, x2, y2
  std::vector<int64_t> objects_id;  ///< [num_boxes] detector object class
  std::vector<float> objects_conf;  ///< [num_boxes]
  std::vector<int64_t> attrs_id;    ///< [num_boxes] detector attribute class
  std::vector<float> attrs_conf;    ///< [num_boxes]

  /// [num_boxes, 4]: (x1 / w, y1 / h, x2 / w, y2 / h) in float32, as LXMERT's VQA loader
  /// computes them (numpy float32 in-place division).
  std::vector<float> normalized_boxes() const;

  /// Whether every feature and box value is finite (the importers skip or refuse the others).
  bool all_finite() const;
};

/// Writes a store image by image with bounded memory (rows are buffered and flushed in blocks).
/// The file is complete only after finish(); a writer destroyed before that leaves a file the
/// reader refuses.
class FeatureStoreWriter {
 public:
  struct Options {
    int compression = 0;          ///< gzip level 0 (none) .. 9; byte-shuffle filter with it
    std::string source;           ///< recorded in the "source" attribute
  };

  /// Creates (truncates) `path`. RuntimeFailure if it cannot be created.
  FeatureStoreWriter(const std::string& path, const Options& options);
  ~FeatureStoreWriter();
  FeatureStoreWriter(const FeatureStoreWriter&) = delete;
  FeatureStoreWriter& operator=(const FeatureStoreWriter&) = delete;

  /// Appends one image. UserError naming `where` and the image when the record is inconsistent
  /// (array sizes, num_boxes < 1, image size <= 0, a feature size different from earlier images,
  /// a NaN or infinite feature or box, an id already written).
  void append(const ImageRecord& record, const std::string& where);

  /// Flushes, writes the attributes, closes the file.
  void finish();

  int64_t num_images() const;
  int64_t num_boxes() const;
  int64_t feature_dim() const;  ///< 0 before the first image

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The per-image index of a store as read from its file (the datasets and attributes named in
/// the header comment), before any use.
struct FeatureStoreIndex {
  int64_t feature_dim = 0, max_boxes = 0, num_images = 0;  ///< root attributes
  std::vector<std::string> ids;
  std::vector<int64_t> image_h, image_w, num_boxes, box_offset;
  std::vector<int64_t> features_shape, boxes_shape;  ///< of /features and /boxes
  std::vector<int64_t> label_rows;                    ///< rows of /objects_id, /objects_conf, /attrs_id, /attrs_conf
};

/// Checks an index before anything is sized or read from it: lengths agree, every image has
/// at least one box and a positive size, offsets start at 0 and grow by num_boxes, the data
/// datasets have the rows the offsets promise, ids are unique. UserError "<path>: corrupt
/// feature store index: ..." naming the dataset and the image (tests fuzz it in-process).
void validate_feature_store_index(const FeatureStoreIndex& index, const std::string& path);

/// Read access to a store. Opening reads only the per-image index (ids, sizes, offsets: a few
/// MB for VQA val); each read() fetches one image's rows with hyperslab reads.
class FeatureStore final : public ImageSource {
 public:
  /// UserError when the file is missing, is not a feature store, is an interrupted import, or
  /// its index is inconsistent.
  explicit FeatureStore(const std::string& path);
  ~FeatureStore();
  FeatureStore(FeatureStore&&) noexcept;
  FeatureStore& operator=(FeatureStore&&) noexcept;

  const std::string& path() const override;
  int64_t num_images() const;
  int64_t feature_dim() const;
  int64_t max_boxes() const;  ///< the most boxes any image has
  const std::vector<std::string>& image_ids() const override;  ///< file order

  /// True when the store has `img_id`; an exact match, or failing that the same COCO image
  /// under the other spelling ("393225" vs "COCO_val2014_000000393225").
  bool contains(const std::string& img_id) const override;

  /// One image, all columns. UserError "<store>: no features for image <id>" when absent, and
  /// "<store>: image <id>: NaN/infinite feature at box b, dimension d" for non-finite values.
  ImageRecord read(const std::string& img_id) const;

  /// read() cut to spec.max_boxes boxes, after check(spec).
  ImageRegions read_regions(const std::string& img_id, const VisualSpec& spec) const override;

  /// UserError when the store's feature size is not spec.feature_dim (features from another
  /// detector), naming the store, both sizes and the model.
  void check(const VisualSpec& spec) const override;

  /// "<store>: no features for image <id>".
  std::string missing_message(const std::string& img_id) const override;
  /// "import that image's features".
  std::string missing_remedy() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace headprune::data
