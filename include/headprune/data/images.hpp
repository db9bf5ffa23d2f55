// Raw images as a pixel-reading model (ViLT) takes them: Hugging Face's ViltImageProcessor
// reproduced without Python or torch, then cut into patches that travel as "regions".
//
//   auto settings = data::read_image_processor_config(model_dir);   // preprocessor_config.json
//   data::ImageFolder images("val2014", settings, 32);
//   data::ImageRegions r = images.read_regions("COCO_val2014_000000393225", spec);
//
// The pipeline (transformers' image_processing_vilt.py, slow processor):
//   1. decode to 8-bit RGB (grey replicated, alpha dropped: PIL's convert("RGB"));
//   2. output size: vilt_output_size();
//   3. resize with PIL's bicubic filter on the uint8 image, bit for bit (pil_resize_bicubic);
//   4. rescale: float32(u8 * rescale_factor), the product in float64;
//   5. normalize: (x - mean) / std, all in float32;
//   6. channels first: pixel_values [3, H, W].
// Padding across a batch (HF's do_pad and pixel_mask) happens later, on patches, in
// models::collate: an image's patches are exactly the unpadded part of HF's padded grid.
//
// Decoding goes through stb (visualize::image_read): PNGs decode exactly as PIL decodes them;
// JPEGs can differ from libjpeg's decode by a grey level here and there (another IDCT and
// chroma upsampling), so bit-exact comparisons with Python use PNGs.
//
// Torch-free.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "headprune/data/image_source.hpp"
#include "headprune/visualize/image.hpp"

namespace headprune::data {

/// ViltImageProcessor's settings (the keys of preprocessor_config.json). The defaults are
/// transformers' and those of dandelin/vilt-b32-finetuned-vqa's file.
struct ImageProcessorSettings {
  bool do_resize = true;
  int64_t shortest_edge = 384;  ///< "size": 384 or {"shortest_edge": 384}
  int64_t size_divisor = 32;
  int resample = 3;             ///< PIL's filter number; only 3 (bicubic) is implemented
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean{0.5f, 0.5f, 0.5f};  ///< float32, as HF casts them to the image's dtype
  std::array<float, 3> image_std{0.5f, 0.5f, 0.5f};
  bool do_pad = true;
  std::string source;           ///< the file read, or a sentence saying the defaults are used

  /// The longest edge allowed after resizing: int(1333 / 800 * shortest_edge), 639 for 384.
  int64_t longest_edge() const;
};

/// The most patches an image can give under `settings`: both sides at their largest after
/// resizing (the longer edge capped, each side floored to size_divisor), cut into patch x patch
/// cells (12 x 19 = 228 for ViLT-B/32's 384 / 32). A batch of a pixel model holds at most this.
int64_t max_patches(const ImageProcessorSettings& settings, int64_t patch);

/// Reads `path`: a preprocessor_config.json, or a model folder holding one. A folder without
/// the file gives the defaults (logged). UserError "<file>: key '<key>' expected <what>, got
/// <value>" for a value of the wrong type or range, and for settings this reimplementation does
/// not have: resample other than 3 (bicubic), do_pad false, do_resize false, a size without
/// "shortest_edge". Keys it does not use (processor_class, feature_extractor_type, ...) are
/// ignored, as transformers ignores them.
ImageProcessorSettings read_image_processor_config(const std::string& path);

/// (height, width) after resizing an h x w image, as ViLT's get_resize_output_image_size: the
/// shorter edge to shortest_edge (the longer scaled in float64), then both scaled down if the
/// longer edge passes longest_edge(), then each rounded half up (int(x + 0.5)) and floored to a
/// multiple of size_divisor. Either side may come out 0 for a very elongated image (callers
/// refuse it). HP_ASSERTs positive sizes.
std::array<int64_t, 2> vilt_output_size(int64_t height, int64_t width, const ImageProcessorSettings& settings);

/// PIL's Image.resize(size, Image.BICUBIC) of an 8-bit RGB image, bit for bit (Pillow's
/// libImaging/Resample.c: separable passes, horizontal then vertical, each rounding to uint8).
/// HP_ASSERTs positive sizes and a consistent image.
visualize::Image pil_resize_bicubic(const visualize::Image& image, int width, int height);

/// Steps 4-6 above on a resized image: [3, H, W] float32.
std::vector<float> vilt_pixel_values(const visualize::Image& resized, const ImageProcessorSettings& settings);

/// One image through the whole processor.
struct ProcessedImage {
  int64_t image_h = 0, image_w = 0;  ///< the original size
  visualize::Image resized;          ///< after step 3
  std::vector<float> pixel_values;   ///< [3, resized.height, resized.width]
};

/// Steps 2-6. UserError naming `where` (the file) when the resized size is 0 on a side.
ProcessedImage vilt_preprocess(const visualize::Image& image, const ImageProcessorSettings& settings,
                               const std::string& where);

/// Cuts pixel values [3, H, W] into patch x patch squares, row-major over the grid (patch
/// k = i * (W / patch) + j). H and W must be multiples of `patch` (HP_ASSERT). Fills features
/// [P, 3 * patch^2] (each patch flattened in channel, y, x order: the order of the
/// patch-embedding convolution's weight), boxes [P, 4] = (j p / W, i p / H, (j+1) p / W,
/// (i+1) p / H) in float32 (the model derives the grid from them), pixel_boxes = the same
/// rectangles in the original image's pixels, image_h/w = the original size, num_boxes = P,
/// feature_dim = 3 p^2. img_id is left empty.
ImageRegions image_patches(const ProcessedImage& image, int64_t patch);

/// The image file of `img_id` under `folder` (COCO val2014 layout), trying in order
/// <id>.jpg, <id>.png, <id>.jpeg, then the same for the id's other COCO spelling
/// ("393225" <-> "COCO_val2014_000000393225"). UserError "image file not found for image <id>
/// (tried <paths>; <what> = <folder>)" when none exists; `what` names the config key.
std::string find_image_file(const std::string& folder, const std::string& img_id, const std::string& what);

/// The file names (no folder) find_image_file tries for `img_id`, in its order.
std::vector<std::string> image_file_candidates(const std::string& img_id);

/// A folder of raw images (config data.images), read with the ViLT processor and cut into
/// patches. Opening lists the folder once (files ending .jpg, .png, .jpeg); images are decoded
/// on read_regions().
class ImageFolder final : public ImageSource {
 public:
  /// UserError "<folder>: image folder not found" / "... is not a folder" / "... holds no
  /// .jpg, .png or .jpeg files". HP_ASSERTs patch >= 1.
  ImageFolder(const std::string& folder, ImageProcessorSettings settings, int64_t patch);
  ~ImageFolder() override;
  ImageFolder(ImageFolder&&) noexcept;
  ImageFolder& operator=(ImageFolder&&) noexcept;

  const std::string& path() const override;
  bool contains(const std::string& img_id) const override;

  /// The image's patches (image_patches). UserError: "<folder>: no image file for image <id>"
  /// when absent; "<file>: cannot decode image (...)" when unreadable; "<file>: image of
  /// H x W pixels resized to h x w ..." when a side comes out 0; "<file>: N patches of p x p
  /// pixels, more than <model> takes (M) ..." when they exceed spec.max_boxes (patches are never
  /// dropped); and check(spec)'s error.
  ImageRegions read_regions(const std::string& img_id, const VisualSpec& spec) const override;

  /// UserError when spec.feature_dim is not 3 * patch^2.
  void check(const VisualSpec& spec) const override;

  /// The ids of the files found (the file names without extension), sorted, each once.
  const std::vector<std::string>& image_ids() const override;

  /// "<folder>: no image file for image <id>".
  std::string missing_message(const std::string& img_id) const override;
  /// "add <the first file name tried> to that folder".
  std::string missing_remedy() const override;

  /// The file read for `img_id` (the first of image_file_candidates() that was listed); empty
  /// when absent.
  std::string file_of(const std::string& img_id) const;

  const ImageProcessorSettings& settings() const;
  int64_t patch() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace headprune::data
