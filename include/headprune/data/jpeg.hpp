// JPEG decoding through libjpeg-turbo, the library Pillow decodes with: what Hugging Face's
// image processors see of a COCO image (Image.open(...).convert("RGB")), bit for bit. stb's own
// JPEG decoder (visualize::image_read) differs by a few levels on a tenth of the values (its
// IDCT and chroma upsampling), which is fine for pictures but not for a model's input.
//
// Settings are libjpeg's defaults, as Pillow leaves them for a plain open: the slow-integer IDCT
// (JDCT_ISLOW) and "fancy" (smooth) chroma upsampling; YCbCr and grayscale JPEGs come out as
// RGB (gray replicated, as convert("RGB") does). CMYK/YCCK JPEGs are refused with a clear error
// (Pillow would convert them with its own formula; COCO has none).
//
// Torch-free.
#pragma once

#include <string>

#include "headprune/visualize/image.hpp"

namespace headprune::data {

/// True when the file starts with a JPEG's SOI marker (FF D8 FF), whatever its extension.
bool is_jpeg_file(const std::string& path);

/// Decodes `path` to 8-bit RGB. UserError naming the file for a missing, truncated or corrupt
/// JPEG (libjpeg's own message) or an unsupported colour space.
visualize::Image read_jpeg(const std::string& path);

/// An image file as a model reads it: JPEG through read_jpeg(), anything else (PNG, ...) through
/// stb (visualize::image_read: exact for lossless formats).
visualize::Image read_image_rgb(const std::string& path);

}  // namespace headprune::data
