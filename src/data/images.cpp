// ViLT's image processor and the image folder (data/images.hpp).
#include "headprune/data/images.hpp"
#include "headprune/data/jpeg.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <utility>

#include "headprune/common/error.hpp"
#include "headprune/data/selection.hpp"
#include "json_file.hpp"

namespace headprune::data {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// preprocessor_config.json
// ---------------------------------------------------------------------------------------------
namespace {

[[noreturn]] void bad_key(const std::string& file, const std::string& key, const std::string& expected,
                          const json& got) {
  throw UserError(file + ": key '" + key + "' expected " + expected + ", got " + got.dump());
}

bool read_bool(const std::string& file, const std::string& key, const json& v) {
  if (!v.is_boolean()) bad_key(file, key, "true or false", v);
  return v.get<bool>();
}

int64_t read_positive_int(const std::string& file, const std::string& key, const json& v) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1) bad_key(file, key, "an integer >= 1", v);
  return v.get<int64_t>();
}

double read_positive_number(const std::string& file, const std::string& key, const json& v) {
  if (!v.is_number() || !(v.get<double>() > 0.0) || !std::isfinite(v.get<double>()))
    bad_key(file, key, "a positive number", v);
  return v.get<double>();
}

/// A number or a list of 3 numbers (one per channel), as float32.
std::array<float, 3> read_channels(const std::string& file, const std::string& key, const json& v, bool positive) {
  const std::string expected = std::string(positive ? "a positive number" : "a number") +
                               " or a list of 3 (one per RGB channel)";
  auto one = [&](const json& x) {
    if (!x.is_number() || !std::isfinite(x.get<double>()) || (positive && !(x.get<double>() > 0.0)))
      bad_key(file, key, expected, v);
    return static_cast<float>(x.get<double>());
  };
  if (v.is_number()) {
    float f = one(v);
    return {f, f, f};
  }
  if (!v.is_array() || v.size() != 3) bad_key(file, key, expected, v);
  return {one(v[0]), one(v[1]), one(v[2])};
}

}  // namespace

int64_t max_patches(const ImageProcessorSettings& s, int64_t patch) {
  auto cells = [&](int64_t side) { return side / s.size_divisor * s.size_divisor / patch; };
  return std::max<int64_t>(1, cells(s.longest_edge()) * cells(s.shortest_edge));
}

int64_t ImageProcessorSettings::longest_edge() const {
  // HF: int(1333 / 800 * shorter), the product in float64 and truncated.
  return static_cast<int64_t>(1333.0 / 800.0 * static_cast<double>(shortest_edge));
}

ImageProcessorSettings read_image_processor_config(const std::string& path) {
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    file = (fs::path(path) / "preprocessor_config.json").string();
    if (!fs::exists(file, ec)) {
      ImageProcessorSettings d;
      d.source = path + " has no preprocessor_config.json: ViltImageProcessor's defaults (those of "
                        "dandelin/vilt-b32-finetuned-vqa: shortest edge 384, divisor 32, bicubic, mean = std = 0.5)";
      spdlog::info("images: {}", d.source);
      return d;
    }
  }
  const json j = detail::read_json_file(file, "the image processor's settings, preprocessor_config.json");
  if (!j.is_object()) throw UserError(file + ": expected a JSON object of image processor settings, got " + j.dump());
  ImageProcessorSettings s;
  s.source = file;
  for (const auto& [key, v] : j.items()) {
    if (key == "do_resize") {
      s.do_resize = read_bool(file, key, v);
      if (!s.do_resize)
        throw UserError(file + ": key 'do_resize' false is not supported (the patch grid needs sides that are "
                               "multiples of the patch size; set it true)");
    } else if (key == "size") {
      // transformers' get_size_dict: an int is the shortest edge; a dict must name it (ViLT's resize
      // raises otherwise; a "longest_edge" beside it is ignored, as ViLT's resize ignores it).
      if (v.is_number_integer()) {
        s.shortest_edge = read_positive_int(file, key, v);
      } else if (v.is_object() && v.contains("shortest_edge")) {
        s.shortest_edge = read_positive_int(file, "size.shortest_edge", v["shortest_edge"]);
      } else {
        bad_key(file, key, "an integer or {\"shortest_edge\": N} (ViLT resizes the shorter edge)", v);
      }
    } else if (key == "size_divisor") {
      s.size_divisor = read_positive_int(file, key, v);
    } else if (key == "resample") {
      if (!v.is_number_integer() || v.get<int64_t>() != 3)
        bad_key(file, key, "3 (PIL's BICUBIC, the only filter implemented here)", v);
    } else if (key == "do_rescale") {
      s.do_rescale = read_bool(file, key, v);
    } else if (key == "rescale_factor") {
      s.rescale_factor = read_positive_number(file, key, v);
    } else if (key == "do_normalize") {
      s.do_normalize = read_bool(file, key, v);
    } else if (key == "image_mean") {
      s.image_mean = read_channels(file, key, v, false);
    } else if (key == "image_std") {
      s.image_std = read_channels(file, key, v, true);
    } else if (key == "do_pad" || key == "pad_and_return_pixel_mask") {
      s.do_pad = read_bool(file, key, v);
      if (!s.do_pad)
        throw UserError(file + ": key '" + key + "' false is not supported (images of different sizes in one batch "
                        "are padded; set it true)");
    }
  }
  if (s.longest_edge() <= s.shortest_edge)
    bad_key(file, "size", "a shortest edge whose cap int(1333 / 800 * size) is larger than itself",
            j.contains("size") ? j["size"] : json(s.shortest_edge));
  return s;
}

// ---------------------------------------------------------------------------------------------
// Output size
// ---------------------------------------------------------------------------------------------
std::array<int64_t, 2> vilt_output_size(int64_t height, int64_t width, const ImageProcessorSettings& settings) {
  HP_ASSERT(height > 0 && width > 0, "vilt_output_size: non-positive image size");
  // transformers' models/vilt/image_processing_vilt.py get_resize_output_image_size, in float64
  // with the same operations in the same order (the rounding depends on it).
  const double min_size = static_cast<double>(settings.shortest_edge);
  const double max_size = static_cast<double>(settings.longest_edge());
  const double h = static_cast<double>(height), w = static_cast<double>(width);
  const double scale = min_size / std::min(h, w);
  double new_h, new_w;
  if (height < width) {
    new_h = min_size;
    new_w = scale * w;
  } else {
    new_h = scale * h;
    new_w = min_size;
  }
  if (std::max(new_h, new_w) > max_size) {
    const double cap = max_size / std::max(new_h, new_w);
    new_h = cap * new_h;
    new_w = cap * new_w;
  }
  // int(x + 0.5): truncation of a positive value, i.e. round half up.
  const int64_t oh = static_cast<int64_t>(new_h + 0.5), ow = static_cast<int64_t>(new_w + 0.5);
  const int64_t d = settings.size_divisor;
  return {oh / d * d, ow / d * d};
}

// ---------------------------------------------------------------------------------------------
// PIL's bicubic resize.
//
// A reimplementation of Pillow's src/libImaging/Resample.c (ImagingResample with
// IMAGING_TRANSFORM_BICUBIC on an 8-bit image; the arithmetic has been the same from Pillow 4.x
// to 11.x). Each output pixel of a pass is a weighted sum of a run of input pixels:
//   - the filter is Keys' cubic with a = -0.5, support 2 input pixels, widened by the downscale
//     factor when shrinking (so it averages over every input pixel it covers);
//   - output pixel i is centred at (i + 0.5) * scale in input coordinates; its run starts at
//     int(centre - support + 0.5) and ends before int(centre + support + 0.5), both clamped to
//     the image; the weights are the filter at (x - centre + 0.5) / filterscale, divided by
//     their sum (all in float64);
//   - the weights become fixed point with 22 fraction bits (32 - 8 - 2: room for 8-bit values
//     and the overshoot of the negative lobes), rounded half away from zero;
//   - a sum starts at half a unit (1 << 21), adds value * weight in integers, and is shifted
//     right by 22 and clamped to 0..255;
//   - the horizontal pass runs first (when the width changes), its uint8 rows feed the vertical
//     pass (when the height changes); a pass whose size does not change is skipped.
// The float64 expressions below keep Pillow's operations and their order: the weights, and so
// the rounding of the sums, depend on them.
// ---------------------------------------------------------------------------------------------
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/// Which input pixels, with which fixed-point weights, make each output pixel of one pass.
struct Taps {
  int ksize = 0;                 ///< weights stored per output pixel
  std::vector<int> first;        ///< [out] first input pixel
  std::vector<int> count;        ///< [out] input pixels used
  std::vector<int32_t> weights;  ///< [out, ksize]
};

Taps bicubic_taps(int in_size, int out_size) {
  const double support_unscaled = 2.0;
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = support_unscaled * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out_size));
  t.count.resize(static_cast<size_t>(out_size));
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> k(static_cast<size_t>(t.ksize));
  const double inv_filterscale = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = 0.0 + (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubic((x + xmin - center + 0.5) * inv_filterscale);
      k[static_cast<size_t>(x)] = w;
      ww += w;
    }
    int32_t* out = &t.weights[static_cast<size_t>(xx) * t.ksize];
    for (int x = 0; x < xmax; ++x) {
      double v = k[static_cast<size_t>(x)];
      if (ww != 0.0) v /= ww;
      out[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                     : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    t.first[static_cast<size_t>(xx)] = xmin;
    t.count[static_cast<size_t>(xx)] = xmax;
  }
  return t;
}

uint8_t clip8(int64_t sum) {
  const int64_t v = sum >> kPrecisionBits;  // floor, as Pillow's arithmetic shift of an int
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

visualize::Image pil_resize_bicubic(const visualize::Image& image, int width, int height) {
  HP_ASSERT(width > 0 && height > 0, "pil_resize_bicubic: non-positive output size");
  HP_ASSERT(!image.empty() && image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
            "pil_resize_bicubic: inconsistent image");
  const int64_t half = int64_t{1} << (kPrecisionBits - 1);
  visualize::Image cur = image;
  if (width != cur.width) {
    const Taps t = bicubic_taps(cur.width, width);
    visualize::Image out;
    out.width = width;
    out.height = cur.height;
    out.pixels.resize(static_cast<size_t>(width) * cur.height * 3);
    for (int y = 0; y < cur.height; ++y) {
      const uint8_t* row = cur.at(0, y);
      for (int xx = 0; xx < width; ++xx) {
        const int32_t* k = &t.weights[static_cast<size_t>(xx) * t.ksize];
        const uint8_t* in = row + static_cast<size_t>(t.first[static_cast<size_t>(xx)]) * 3;
        int64_t s0 = half, s1 = half, s2 = half;
        for (int x = 0; x < t.count[static_cast<size_t>(xx)]; ++x) {
          s0 += in[x * 3 + 0] * int64_t{k[x]};
          s1 += in[x * 3 + 1] * int64_t{k[x]};
          s2 += in[x * 3 + 2] * int64_t{k[x]};
        }
        uint8_t* o = out.at(xx, y);
        o[0] = clip8(s0);
        o[1] = clip8(s1);
        o[2] = clip8(s2);
      }
    }
    cur = std::move(out);
  }
  if (height != cur.height) {
    const Taps t = bicubic_taps(cur.height, height);
    visualize::Image out;
    out.width = cur.width;
    out.height = height;
    out.pixels.resize(static_cast<size_t>(cur.width) * height * 3);
    const size_t stride = static_cast<size_t>(cur.width) * 3;
    for (int yy = 0; yy < height; ++yy) {
      const int32_t* k = &t.weights[static_cast<size_t>(yy) * t.ksize];
      const uint8_t* in = cur.at(0, t.first[static_cast<size_t>(yy)]);
      const int n = t.count[static_cast<size_t>(yy)];
      uint8_t* o = out.at(0, yy);
      for (size_t c = 0; c < stride; ++c) {
        int64_t s = half;
        for (int y = 0; y < n; ++y) s += in[static_cast<size_t>(y) * stride + c] * int64_t{k[y]};
        o[c] = clip8(s);
      }
    }
    cur = std::move(out);
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// Rescale, normalize, patches
// ---------------------------------------------------------------------------------------------
std::vector<float> vilt_pixel_values(const visualize::Image& resized, const ImageProcessorSettings& settings) {
  const size_t plane = static_cast<size_t>(resized.width) * resized.height;
  HP_ASSERT(resized.pixels.size() == plane * 3, "vilt_pixel_values: inconsistent image");
  std::vector<float> out(plane * 3);
  for (size_t p = 0; p < plane; ++p)
    for (size_t c = 0; c < 3; ++c) {
      const uint8_t u = resized.pixels[p * 3 + c];
      // transformers' rescale: image.astype(float64) * scale, then astype(float32).
      float v = settings.do_rescale ? static_cast<float>(static_cast<double>(u) * settings.rescale_factor)
                                    : static_cast<float>(u);
      // normalize: mean and std cast to the image's float32, (image - mean) / std in float32.
      if (settings.do_normalize) v = (v - settings.image_mean[c]) / settings.image_std[c];
      out[c * plane + p] = v;
    }
  return out;
}

ProcessedImage vilt_preprocess(const visualize::Image& image, const ImageProcessorSettings& settings,
                               const std::string& where) {
  HP_ASSERT(!image.empty(), "vilt_preprocess: empty image");
  const auto [h, w] = vilt_output_size(image.height, image.width, settings);
  if (h < 1 || w < 1)
    throw UserError(where + ": image of " + std::to_string(image.height) + " x " + std::to_string(image.width) +
                    " pixels (height x width) resizes to " + std::to_string(h) + " x " + std::to_string(w) +
                    ": too elongated for ViLT's processor (shortest edge " + std::to_string(settings.shortest_edge) +
                    ", longest " + std::to_string(settings.longest_edge()) + ", divisor " +
                    std::to_string(settings.size_divisor) + ")");
  ProcessedImage out;
  out.image_h = image.height;
  out.image_w = image.width;
  out.resized = pil_resize_bicubic(image, static_cast<int>(w), static_cast<int>(h));
  out.pixel_values = vilt_pixel_values(out.resized, settings);
  return out;
}

ImageRegions image_patches(const ProcessedImage& image, int64_t patch) {
  const int64_t H = image.resized.height, W = image.resized.width;
  HP_ASSERT(patch >= 1 && H % patch == 0 && W % patch == 0 && H > 0 && W > 0,
            "image_patches: the resized sides must be positive multiples of the patch size");
  HP_ASSERT(image.pixel_values.size() == static_cast<size_t>(3 * H * W), "image_patches: pixel values' size");
  const int64_t gh = H / patch, gw = W / patch, P = gh * gw, D = 3 * patch * patch;
  ImageRegions r;
  r.image_h = image.image_h;
  r.image_w = image.image_w;
  r.feature_dim = D;
  r.num_boxes = P;
  r.features.resize(static_cast<size_t>(P * D));
  r.boxes.resize(static_cast<size_t>(P * 4));
  r.pixel_boxes.resize(static_cast<size_t>(P * 4));
  const double sx = static_cast<double>(image.image_w) / static_cast<double>(W);
  const double sy = static_cast<double>(image.image_h) / static_cast<double>(H);
  for (int64_t i = 0; i < gh; ++i)
    for (int64_t j = 0; j < gw; ++j) {
      const int64_t k = i * gw + j;
      float* f = &r.features[static_cast<size_t>(k * D)];
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < patch; ++y) {
          const float* src = &image.pixel_values[static_cast<size_t>((c * H + i * patch + y) * W + j * patch)];
          std::copy(src, src + patch, f + (c * patch + y) * patch);
        }
      const int64_t x0 = j * patch, y0 = i * patch, x1 = x0 + patch, y1 = y0 + patch;
      float* b = &r.boxes[static_cast<size_t>(k * 4)];
      b[0] = static_cast<float>(static_cast<double>(x0) / static_cast<double>(W));
      b[1] = static_cast<float>(static_cast<double>(y0) / static_cast<double>(H));
      b[2] = static_cast<float>(static_cast<double>(x1) / static_cast<double>(W));
      b[3] = static_cast<float>(static_cast<double>(y1) / static_cast<double>(H));
      // Pixel edges map linearly (PIL centres output pixel x at (x + 0.5) * in / out).
      float* pb = &r.pixel_boxes[static_cast<size_t>(k * 4)];
      pb[0] = static_cast<float>(x0 * sx);
      pb[1] = static_cast<float>(y0 * sy);
      pb[2] = static_cast<float>(x1 * sx);
      pb[3] = static_cast<float>(y1 * sy);
    }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Image files
// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kExtensions[] = {".jpg", ".png", ".jpeg"};

/// The other COCO spelling of `img_id`, or empty: "393225" -> "COCO_val2014_000000393225" (the
/// layout of a val2014 folder), "COCO_<split>_000000393225" -> "393225".
std::string other_spelling(const std::string& img_id) {
  const std::string key = ImageExclusion::image_key(img_id);
  if (key == img_id) {
    if (img_id.empty() || img_id.find_first_not_of("0123456789") != std::string::npos) return "";
    if (key.size() > 12) return "";
    return "COCO_val2014_" + std::string(12 - key.size(), '0') + key;
  }
  return key;
}

}  // namespace

std::vector<std::string> image_file_candidates(const std::string& img_id) {
  std::vector<std::string> out;
  for (const std::string& id : {img_id, other_spelling(img_id)}) {
    if (id.empty()) continue;
    for (const char* ext : kExtensions) out.push_back(id + ext);
  }
  return out;
}

std::string find_image_file(const std::string& folder, const std::string& img_id, const std::string& what) {
  std::string tried;
  for (const auto& name : image_file_candidates(img_id)) {
    const std::string p = (fs::path(folder) / name).string();
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
    tried += (tried.empty() ? "" : ", ") + p;
  }
  throw UserError("image file not found for image " + img_id + " (tried " + tried + "; " + what + " = " + folder +
                  ")");
}

// ---------------------------------------------------------------------------------------------
// ImageFolder
// ---------------------------------------------------------------------------------------------
struct ImageFolder::Impl {
  std::string path;
  ImageProcessorSettings settings;
  int64_t patch = 0;
  std::set<std::string> files;     ///< file names listed (with one of kExtensions)
  std::vector<std::string> ids;    ///< their stems, sorted, unique
};

ImageFolder::ImageFolder(const std::string& folder, ImageProcessorSettings settings, int64_t patch)
    : impl_(std::make_unique<Impl>()) {
  HP_ASSERT(patch >= 1, "ImageFolder: patch size must be >= 1");
  impl_->path = folder;
  impl_->settings = std::move(settings);
  impl_->patch = patch;
  std::error_code ec;
  if (!fs::exists(folder, ec)) throw UserError(folder + ": image folder not found (data.images)");
  if (!fs::is_directory(folder, ec))
    throw UserError(folder + ": is not a folder (data.images is a folder of images, e.g. COCO's val2014)");
  std::set<std::string> stems;
  fs::directory_iterator it(folder, ec), end;
  if (ec) throw UserError(folder + ": cannot list the image folder (" + ec.message() + ")");
  for (; it != end; it.increment(ec)) {
    if (ec) throw UserError(folder + ": cannot list the image folder (" + ec.message() + ")");
    const fs::path p = it->path();
    const std::string ext = p.extension().string();
    if (std::find(std::begin(kExtensions), std::end(kExtensions), ext) == std::end(kExtensions)) continue;
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    impl_->files.insert(p.filename().string());
    stems.insert(p.stem().string());
  }
  if (impl_->files.empty())
    throw UserError(folder + ": holds no .jpg, .png or .jpeg files (data.images is a folder of images named by "
                             "image id, e.g. COCO_val2014_000000393225.jpg)");
  impl_->ids.assign(stems.begin(), stems.end());
  spdlog::debug("images: {} holds {} image files", folder, impl_->files.size());
}

ImageFolder::~ImageFolder() = default;
ImageFolder::ImageFolder(ImageFolder&&) noexcept = default;
ImageFolder& ImageFolder::operator=(ImageFolder&&) noexcept = default;

const std::string& ImageFolder::path() const { return impl_->path; }
const std::vector<std::string>& ImageFolder::image_ids() const { return impl_->ids; }
const ImageProcessorSettings& ImageFolder::settings() const { return impl_->settings; }
int64_t ImageFolder::patch() const { return impl_->patch; }

std::string ImageFolder::file_of(const std::string& img_id) const {
  for (const auto& name : image_file_candidates(img_id))
    if (impl_->files.count(name)) return (fs::path(impl_->path) / name).string();
  return "";
}

bool ImageFolder::contains(const std::string& img_id) const { return !file_of(img_id).empty(); }

std::string ImageFolder::missing_message(const std::string& img_id) const {
  return impl_->path + ": no image file for image " + img_id;
}

std::string ImageFolder::missing_remedy() const {
  return "add the image's file to that folder, named <id>.jpg, .png or .jpeg as COCO names them";
}

void ImageFolder::check(const VisualSpec& spec) const {
  const int64_t d = 3 * impl_->patch * impl_->patch;
  if (spec.feature_dim != d)
    throw UserError(impl_->path + ": images cut into " + std::to_string(impl_->patch) + " x " +
                    std::to_string(impl_->patch) + " patches give " + std::to_string(d) + " values per patch but " +
                    spec.model + " expects " + std::to_string(spec.feature_dim) + "-d visual features");
}

ImageRegions ImageFolder::read_regions(const std::string& img_id, const VisualSpec& spec) const {
  check(spec);
  const std::string file = file_of(img_id);
  if (file.empty()) throw UserError(missing_message(img_id));
  const visualize::Image decoded = read_image_rgb(file);  // JPEG as Pillow decodes it (data/jpeg.hpp)
  if (decoded.empty()) throw UserError(file + ": image has no pixels (0 x 0)");
  const ProcessedImage processed = vilt_preprocess(decoded, impl_->settings, file);
  const int64_t H = processed.resized.height, W = processed.resized.width, p = impl_->patch;
  if (H % p != 0 || W % p != 0)
    throw UserError(file + ": resized to " + std::to_string(H) + " x " + std::to_string(W) +
                    " pixels, not a multiple of the " + std::to_string(p) + "-pixel patch (" + impl_->settings.source +
                    ": size_divisor " + std::to_string(impl_->settings.size_divisor) + ")");
  const int64_t patches = (H / p) * (W / p);
  if (patches > spec.max_boxes)
    throw UserError(file + ": " + std::to_string(patches) + " patches of " + std::to_string(p) + " x " +
                    std::to_string(p) + " pixels (image resized to " + std::to_string(H) + " x " + std::to_string(W) +
                    "), more than " + spec.model + " takes (" + std::to_string(spec.max_boxes) +
                    "); patches are never dropped: raise model.max_regions or lower the shortest edge in " +
                    impl_->settings.source);
  ImageRegions r = image_patches(processed, p);
  r.img_id = img_id;
  return r;
}

}  // namespace headprune::data
