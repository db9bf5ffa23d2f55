// Image I/O (stb) and drawing (visualize/image.hpp).
//
// stb_image and stb_image_write are compiled here, and only here, with *private* linkage
// (STB_IMAGE_STATIC, STB_IMAGE_WRITE_STATIC), so no other copy linked into the program (a
// library that bundles stb) can clash with it. Every image the project reads or writes goes
// through this file.
#include "headprune/visualize/image.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "headprune/common/error.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace headprune::visualize {

namespace {

// The classic 5x7 font, printable ASCII 0x20..0x7E: 5 columns per glyph, bit 0 = top row.
constexpr uint8_t kFont[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},  //   ! "
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},  // # $ %
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},  // & ' (
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x08, 0x2A, 0x1C, 0x2A, 0x08}, {0x08, 0x08, 0x3E, 0x08, 0x08},  // ) * +
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00},  // , - .
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},  // / 0 1
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, {0x18, 0x14, 0x12, 0x7F, 0x10},  // 2 3 4
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03},  // 5 6 7
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x36, 0x36, 0x00, 0x00},  // 8 9 :
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14},  // ; < =
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3E},  // > ? @
    {0x7E, 0x11, 0x11, 0x11, 0x7E}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},  // A B C
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},  // D E F
    {0x3E, 0x41, 0x49, 0x49, 0x7A}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},  // G H I
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},  // J K L
    {0x7F, 0x02, 0x0C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},  // M N O
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},  // P Q R
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F},  // S T U
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},  // V W X
    {0x07, 0x08, 0x70, 0x08, 0x07}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00},  // Y Z [
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04},  // \ ] ^
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78},  // _ ` a
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7F},  // b c d
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x0C, 0x52, 0x52, 0x52, 0x3E},  // e f g
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x44, 0x3D, 0x00},  // h i j
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78},  // k l m
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0x7C, 0x14, 0x14, 0x14, 0x08},  // n o p
    {0x08, 0x14, 0x14, 0x18, 0x7C}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20},  // q r s
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},  // t u v
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x0C, 0x50, 0x50, 0x50, 0x3C},  // w x y
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7F, 0x00, 0x00},  // z { |
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x08, 0x04, 0x08, 0x10, 0x08},                                  // } ~
};

const uint8_t* glyph(unsigned char c) {
  if (c < 0x20 || c > 0x7E) c = '?';
  return kFont[c - 0x20];
}

Rect intersect(Rect a, Rect b) {
  return {std::max(a.x0, b.x0), std::max(a.y0, b.y0), std::min(a.x1, b.x1), std::min(a.y1, b.y1)};
}

Rect whole(const Image& image) { return {0, 0, image.width, image.height}; }

void fill_clipped(Image& image, Rect r, Rgb color) {
  r = intersect(r, whole(image));
  for (int y = r.y0; y < r.y1; ++y)
    for (int x = r.x0; x < r.x1; ++x) {
      uint8_t* p = image.at(x, y);
      p[0] = color.r;
      p[1] = color.g;
      p[2] = color.b;
    }
}

}  // namespace

Image image_canvas(int width, int height, Rgb color) {
  HP_ASSERT(width > 0 && height > 0, "image_canvas: non-positive size");
  Image img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = color.r;
    img.pixels[i + 1] = color.g;
    img.pixels[i + 2] = color.b;
  }
  return img;
}

Image image_read(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw UserError(path + ": image file not found");
  int w = 0, h = 0, channels = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &channels, 3);
  if (!data) {
    const char* reason = stbi_failure_reason();
    throw UserError(path + ": cannot decode image (" + std::string(reason ? reason : "unknown error") +
                    "; JPEG and PNG are supported)");
  }
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.assign(data, data + static_cast<size_t>(w) * h * 3);
  stbi_image_free(data);
  return img;
}

void image_write_png(const Image& image, const std::string& path, const PngOptions& options) {
  HP_ASSERT(!image.empty() && image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
            "image_write_png: inconsistent image");
  HP_ASSERT(options.compression_level >= 1 && options.filter >= -1 && options.filter <= 4,
            "image_write_png: compression level or filter out of range");
  // stb takes both settings as globals: set them for every write, under a lock, so one write's
  // settings never leak into another's.
  static std::mutex settings;
  const std::lock_guard<std::mutex> lock(settings);
  stbi_write_png_compression_level = options.compression_level;
  stbi_write_force_png_filter = options.filter;
  if (!stbi_write_png(path.c_str(), image.width, image.height, 3, image.pixels.data(), image.width * 3))
    throw RuntimeFailure(path + ": cannot write PNG (check that the folder exists and is writable)");
}

void image_write_jpeg(const Image& image, const std::string& path, int quality) {
  HP_ASSERT(!image.empty() && image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
            "image_write_jpeg: inconsistent image");
  if (!stbi_write_jpg(path.c_str(), image.width, image.height, 3, image.pixels.data(), std::clamp(quality, 1, 100)))
    throw RuntimeFailure(path + ": cannot write JPEG (check that the folder exists and is writable)");
}

void fill_rect(Image& image, Rect r, Rgb color) { fill_clipped(image, r, color); }

void draw_rect_outline(Image& image, Rect r, int thickness, Rgb color) {
  if (r.x1 <= r.x0 || r.y1 <= r.y0 || thickness <= 0) return;
  const int t = std::min({thickness, (r.x1 - r.x0 + 1) / 2, (r.y1 - r.y0 + 1) / 2});
  fill_clipped(image, {r.x0, r.y0, r.x1, r.y0 + t}, color);  // top
  fill_clipped(image, {r.x0, r.y1 - t, r.x1, r.y1}, color);  // bottom
  fill_clipped(image, {r.x0, r.y0, r.x0 + t, r.y1}, color);  // left
  fill_clipped(image, {r.x1 - t, r.y0, r.x1, r.y1}, color);  // right
}

void paste(Image& dst, const Image& src, int x, int y) {
  const Rect r = intersect({x, y, x + src.width, y + src.height}, whole(dst));
  for (int yy = r.y0; yy < r.y1; ++yy)
    std::copy_n(src.at(r.x0 - x, yy - y), static_cast<size_t>(r.x1 - r.x0) * 3, dst.at(r.x0, yy));
}

Image image_resize(const Image& src, int width, int height) {
  HP_ASSERT(width > 0 && height > 0 && !src.empty(), "image_resize: empty image or size");
  Image out = image_canvas(width, height, {});
  for (int y = 0; y < height; ++y) {
    const int sy = std::min(src.height - 1, static_cast<int>((static_cast<int64_t>(y) * src.height) / height));
    for (int x = 0; x < width; ++x) {
      const int sx = std::min(src.width - 1, static_cast<int>((static_cast<int64_t>(x) * src.width) / width));
      std::copy_n(src.at(sx, sy), 3, out.at(x, y));
    }
  }
  return out;
}

int text_width(const std::string& text, int scale) {
  return static_cast<int>(text.size()) * kGlyphWidth * scale;
}

void draw_text(Image& image, int x, int y, const std::string& text, int scale, Rgb color) {
  draw_text(image, x, y, text, scale, color, whole(image));
}

void draw_text(Image& image, int x, int y, const std::string& text, int scale, Rgb color, Rect clip) {
  clip = intersect(clip, whole(image));
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t* g = glyph(static_cast<unsigned char>(text[i]));
    const int gx = x + static_cast<int>(i) * kGlyphWidth * scale;
    for (int col = 0; col < 5; ++col)
      for (int row = 0; row < 7; ++row)
        if (g[col] & (1u << row))
          fill_clipped(image, intersect({gx + col * scale, y + row * scale, gx + (col + 1) * scale, y + (row + 1) * scale}, clip),
                       color);
  }
}

std::string fit_text(const std::string& text, int scale, int max_width) {
  if (text_width(text, scale) <= max_width) return text;
  const int fit = max_width / (kGlyphWidth * scale);
  if (fit <= 2) return text.substr(0, static_cast<size_t>(std::max(fit, 0)));
  return text.substr(0, static_cast<size_t>(fit - 2)) + "..";
}

}  // namespace headprune::visualize
