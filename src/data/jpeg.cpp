// JPEG decoding through libjpeg-turbo (data/jpeg.hpp).
#include "headprune/data/jpeg.hpp"

#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <memory>

#include "headprune/common/error.hpp"

namespace headprune::data {
namespace {

// libjpeg reports a fatal error by calling error_exit, which must not return: jump back to
// read_jpeg, which turns the library's message into a UserError after cleaning up.
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = "";
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_warning(j_common_ptr, int) {}  // corrupt-data warnings: Pillow decodes such files too

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

bool is_jpeg_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  unsigned char magic[3] = {0, 0, 0};
  return f && std::fread(magic, 1, 3, f.get()) == 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF;
}

visualize::Image read_jpeg(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw UserError(path + ": cannot open the image file");
  jpeg_decompress_struct cinfo{};
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_warning;
  visualize::Image image;
  // Nothing with a destructor is created between setjmp and a longjmp back to it.
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw UserError(path + ": not a readable JPEG (libjpeg: " + err.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, file.get());
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    throw UserError(path + ": a CMYK JPEG (expected an RGB/YCbCr or grayscale JPEG, as COCO's)");
  }
  cinfo.out_color_space = JCS_RGB;  // YCbCr -> RGB; grayscale replicated
  jpeg_start_decompress(&cinfo);
  image.width = static_cast<int>(cinfo.output_width);
  image.height = static_cast<int>(cinfo.output_height);
  image.pixels.assign(static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3, 0);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image.pixels.data() + static_cast<size_t>(cinfo.output_scanline) * static_cast<size_t>(image.width) * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return image;
}

visualize::Image read_image_rgb(const std::string& path) {
  return is_jpeg_file(path) ? read_jpeg(path) : visualize::image_read(path);
}

}  // namespace headprune::data
