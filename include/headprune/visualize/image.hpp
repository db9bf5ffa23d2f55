// RGB images for the visualisations: read a JPEG/PNG, write a PNG, draw boxes and text.
//
//   visualize::Image img = visualize::image_read("val2014/COCO_val2014_000000393225.jpg");
//   visualize::draw_rect_outline(img, 10, 20, 110, 90, 2, {255, 220, 0});
//   visualize::draw_text(img, 4, 4, "40% pruned: yes", 2, {0, 0, 0});
//   visualize::image_write_png(img, "out/strip.png");
//
// Decoding and encoding go through Debian's libstb-dev (stb_image, stb_image_write), compiled
// with private linkage into src/visualize/image.cpp only: the project's one place compiling stb
// (the demo world writes its scenes through image_write_png too). Text uses a built-in 5x7 bitmap font
// (printable ASCII; any other byte draws as '?'), scaled by an integer factor. All drawing clips
// to the image (and to an optional rectangle): nothing draws outside, nothing crashes.
//
// Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headprune::visualize {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  ///< width * height * 3

  bool empty() const { return width <= 0 || height <= 0; }
  uint8_t* at(int x, int y) { return pixels.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* at(int x, int y) const { return pixels.data() + (static_cast<size_t>(y) * width + x) * 3; }
  Rgb rgb(int x, int y) const { const uint8_t* p = at(x, y); return {p[0], p[1], p[2]}; }
};

/// A width x height image filled with `color`. HP_ASSERTs positive sizes.
Image image_canvas(int width, int height, Rgb color);

/// Decodes a JPEG or PNG (any bit depth / channel count is converted to 8-bit RGB).
/// UserError "<path>: image file not found" or "<path>: cannot decode image (<reason>)".
Image image_read(const std::string& path);

/// How image_write_png compresses (stb's settings). The defaults are stb's; the demo world writes
/// thousands of scenes with {1, 1}. The pixels decode the same either way; the bytes differ.
struct PngOptions {
  int compression_level = 8;  ///< stb's deflate effort, >= 1 (below 5 acts as 5); higher = smaller, slower
  int filter = -1;            ///< PNG row filter 0..4 for every row; -1 = the best of all five per row
};

/// Writes a PNG. RuntimeFailure naming the path when it cannot be written.
void image_write_png(const Image& image, const std::string& path, const PngOptions& options = {});

/// Writes a baseline JPEG, `quality` 1..100. RuntimeFailure naming the path when it cannot be written.
void image_write_jpeg(const Image& image, const std::string& path, int quality = 90);

/// Axis-aligned pixel rectangle [x0, x1) x [y0, y1).
struct Rect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

/// Fills [x0,x1) x [y0,y1) (clipped to the image).
void fill_rect(Image& image, Rect r, Rgb color);

/// A `thickness`-pixel frame drawn *inside* [x0,x1) x [y0,y1) (clipped to the image).
void draw_rect_outline(Image& image, Rect r, int thickness, Rgb color);

/// Copies `src` with its top-left corner at (x, y) (clipped).
void paste(Image& dst, const Image& src, int x, int y);

/// Nearest-neighbour resize to width x height (>= 1 each).
Image image_resize(const Image& src, int width, int height);

/// The 5x7 bitmap font: each glyph is 6*scale pixels wide (one column of spacing) and
/// 8*scale pixels tall (one row below the baseline).
constexpr int kGlyphWidth = 6;
constexpr int kGlyphHeight = 8;

/// Width in pixels of `text` at `scale` (one glyph per byte).
int text_width(const std::string& text, int scale);

/// Draws `text` with its top-left corner at (x, y); pixels outside `clip` (default: the whole
/// image) are left alone.
void draw_text(Image& image, int x, int y, const std::string& text, int scale, Rgb color);
void draw_text(Image& image, int x, int y, const std::string& text, int scale, Rgb color, Rect clip);

/// `text` cut to at most `max_width` pixels at `scale`, ending in ".." when it was cut.
std::string fit_text(const std::string& text, int scale, int max_width);

}  // namespace headprune::visualize
