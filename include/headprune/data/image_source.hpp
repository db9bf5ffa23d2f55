// Where a batch builder gets an image's visual input from, whatever the model reads: detector
// region features from a store (data::FeatureStore, LXMERT and VisualBERT) or raw pixels cut into
// patches (data::ImageFolder, ViLT). Both hand back ImageRegions: one row per region or patch.
//
// Not thread-safe: one source per rank/thread (the feature store's HDF5 build is serial).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headprune::data {

/// What a model takes from an image source.
struct VisualSpec {
  std::string model;          ///< for messages: the model family's name
  int64_t max_boxes = 36;     ///< boxes (or patches) per image after padding/truncation
  int64_t feature_dim = 2048; ///< the model's visual feature size (3 * patch^2 for pixel patches)
};

/// The regions a model takes from one image, unpadded. From a feature store: the stored boxes up
/// to the model's maximum (the first ones, as LXMERT's loader and MMF's features[:100] keep
/// them). From an image folder: every patch of the resized image (data/images.hpp).
struct ImageRegions {
  std::string img_id;
  int64_t image_h = 0;
  int64_t image_w = 0;
  int64_t feature_dim = 0;
  int64_t num_boxes = 0;           ///< boxes kept, <= the spec's max_boxes
  bool truncated = false;          ///< the image had more boxes than the spec takes
  std::vector<float> features;     ///< [num_boxes, feature_dim]
  std::vector<float> boxes;        ///< [num_boxes, 4] normalised (ImageRecord::normalized_boxes)
  std::vector<float> pixel_boxes;  ///< [num_boxes, 4] pixels of the original image (visualisations)
};

class ImageSource {
 public:
  virtual ~ImageSource() = default;

  /// The file or folder the images come from (messages, provenance).
  virtual const std::string& path() const = 0;

  /// True when the source has `img_id`: an exact match, or failing that the same COCO image
  /// under the other spelling ("393225" vs "COCO_val2014_000000393225").
  virtual bool contains(const std::string& img_id) const = 0;

  /// The image's regions as `spec` takes them. UserError when the image is absent (the line
  /// missing_message() starts with), unreadable, or does not fit the spec (check()).
  virtual ImageRegions read_regions(const std::string& img_id, const VisualSpec& spec) const = 0;

  /// UserError when what the source gives cannot feed a model with `spec` (another feature
  /// size), naming the source, both sizes and the model.
  virtual void check(const VisualSpec& spec) const = 0;

  /// Every image id the source has, in a fixed order (the provenance hash depends on it): the
  /// store's file order, a folder's ids sorted.
  virtual const std::vector<std::string>& image_ids() const = 0;

  /// "<path>: no features for image <id>": the start of the lines that report an absent image.
  virtual std::string missing_message(const std::string& img_id) const = 0;

  /// What the user can do about an absent image, in the make_sample_list error's parentheses
  /// before "or set data.on_missing: skip": "import that image's features".
  virtual std::string missing_remedy() const = 0;

 protected:
  ImageSource() = default;
  ImageSource(const ImageSource&) = default;
  ImageSource& operator=(const ImageSource&) = default;
};

}  // namespace headprune::data
