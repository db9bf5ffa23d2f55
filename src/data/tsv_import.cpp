#include "headprune/data/tsv_import.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <unordered_map>

#include "headprune/common/error.hpp"
#include "headprune/common/stop_signal.hpp"
#include "headprune/data/base64.hpp"
#include "headprune/io/output_path.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the TSV arrays are little-endian; add a byte swap");

namespace headprune::data {

const std::array<const char*, 10> kObjTsvColumns = {"img_id",   "img_h",      "img_w",     "objects_id", "objects_conf",
                                                      "attrs_id", "attrs_conf", "num_boxes", "boxes",      "features"};

namespace {

enum Col { kImgId, kImgH, kImgW, kObjectsId, kObjectsConf, kAttrsId, kAttrsConf, kNumBoxes, kBoxes, kFeatures };

std::string column_where(const std::string& where, int col, const std::string& img_id) {
  return where + ": column '" + kObjTsvColumns[static_cast<size_t>(col)] + "' (image " + img_id + ")";
}

// An integer column; "480.0" is accepted as 480 (some extractors write floats).
int64_t parse_int(std::string_view text, const std::string& where, int col, const std::string& img_id) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && p == text.data() + text.size()) return v;
  double d = 0;
  auto [pd, ecd] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ecd == std::errc() && pd == text.data() + text.size() && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9.0e15)
    return static_cast<int64_t>(d);
  throw UserError(column_where(where, col, img_id) + ": '" + std::string(text.substr(0, 40)) + "' is not an integer");
}

template <typename T>
void decode_array(std::string_view text, std::vector<T>& out, size_t count, const std::string& where, int col,
                  const std::string& img_id, const char* shape) {
  out.resize(count);
  std::string error;
  if (!base64_decode_into(text, out.data(), count * sizeof(T), &error))
    throw UserError(column_where(where, col, img_id) + ": " + error + " (expected base64 of " +
                    (sizeof(T) == 8 ? "int64 " : "float32 ") + shape + ")");
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

void parse_obj_tsv_line(std::string_view line, ImageRecord& r, const std::string& where, int64_t expected_dim) {
  std::array<std::string_view, 10> cols;
  size_t n = 0, start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    std::string_view field = line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start);
    if (n == cols.size())
      throw UserError(where + ": more than 10 tab-separated columns (expected " + std::to_string(cols.size()) +
                      ": img_id, img_h, img_w, objects_id, objects_conf, attrs_id, attrs_conf, num_boxes, boxes, features)");
    cols[n++] = field;
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  r.img_id.assign(cols[kImgId].data(), cols[kImgId].size());
  if (n < cols.size()) {
    std::string missing;
    for (size_t c = n; c < cols.size(); ++c) missing += std::string(c == n ? "'" : ", '") + kObjTsvColumns[c] + "'";
    // The "image id" of a line that is not TSV at all (a JSON file given by mistake) is the whole
    // line: quote its start only.
    const std::string shown = r.img_id.size() > 60 ? r.img_id.substr(0, 60) + "..." : r.img_id;
    throw UserError(where + ": truncated line (image " + shown + "): " + std::to_string(n) +
                    " of 10 tab-separated columns, missing " + missing +
                    (n == 1 ? " (no tab at all: is this an LXMERT obj36 TSV file?)" : ""));
  }
  if (r.img_id.empty()) throw UserError(where + ": column 'img_id' is empty");
  r.image_h = parse_int(cols[kImgH], where, kImgH, r.img_id);
  r.image_w = parse_int(cols[kImgW], where, kImgW, r.img_id);
  r.num_boxes = parse_int(cols[kNumBoxes], where, kNumBoxes, r.img_id);
  if (r.num_boxes < 1 || r.num_boxes > 100000)
    throw UserError(column_where(where, kNumBoxes, r.img_id) + ": " + std::to_string(r.num_boxes) +
                    " (expected 1..100000 boxes)");
  const auto nb = static_cast<size_t>(r.num_boxes);
  decode_array(cols[kObjectsId], r.objects_id, nb, where, kObjectsId, r.img_id, "[num_boxes]");
  decode_array(cols[kObjectsConf], r.objects_conf, nb, where, kObjectsConf, r.img_id, "[num_boxes]");
  decode_array(cols[kAttrsId], r.attrs_id, nb, where, kAttrsId, r.img_id, "[num_boxes]");
  decode_array(cols[kAttrsConf], r.attrs_conf, nb, where, kAttrsConf, r.img_id, "[num_boxes]");
  decode_array(cols[kBoxes], r.boxes, nb * 4, where, kBoxes, r.img_id, "[num_boxes, 4]");
  // Detector boxes are pixel corners clipped to the image: a negative or inverted box is a
  // corrupt line. Non-finite boxes are left to the import's NaN/Inf handling (--skip-nonfinite).
  for (size_t b = 0; b < nb; ++b) {
    const float* q = &r.boxes[4 * b];
    if (!(std::isfinite(q[0]) && std::isfinite(q[1]) && std::isfinite(q[2]) && std::isfinite(q[3]))) continue;
    if (q[0] < 0 || q[1] < 0 || q[2] < q[0] || q[3] < q[1]) {
      char box[160];
      std::snprintf(box, sizeof box, "(%g, %g, %g, %g)", q[0], q[1], q[2], q[3]);
      throw UserError(column_where(where, kBoxes, r.img_id) + ": box " + std::to_string(b) + " is (x1, y1, x2, y2) = " +
                      box + " (expected 0 <= x1 <= x2 and 0 <= y1 <= y2, in pixels)");
    }
  }
  // Feature size: from the byte count, which must be a whole number of float32 rows.
  const std::string_view feats = cols[kFeatures];
  if (feats.size() % 4 != 0)
    throw UserError(column_where(where, kFeatures, r.img_id) + ": length " + std::to_string(feats.size()) +
                    " is not a multiple of 4 (truncated?)");
  size_t bytes = base64_decoded_size(feats);
  if (bytes == 0 || bytes % (4 * nb) != 0)
    throw UserError(column_where(where, kFeatures, r.img_id) + ": decodes to " + std::to_string(bytes) +
                    " bytes, not a whole number of float32 rows for num_boxes = " + std::to_string(nb) + " (truncated?)");
  r.feature_dim = static_cast<int64_t>(bytes / (4 * nb));
  if (expected_dim > 0 && r.feature_dim != expected_dim)
    throw UserError(column_where(where, kFeatures, r.img_id) + ": " + std::to_string(r.feature_dim) +
                    "-d features but earlier images' are " + std::to_string(expected_dim) + "-d (truncated line?)");
  decode_array(feats, r.features, nb * static_cast<size_t>(r.feature_dim), where, kFeatures, r.img_id,
               "[num_boxes, D]");
}

std::string format_obj_tsv_line(const ImageRecord& r) {
  std::string line;
  line.reserve(r.features.size() * 4 * 4 / 3 + 1024);
  auto b64 = [](const auto& v) { return base64_encode(v.data(), v.size() * sizeof(v[0])); };
  line += r.img_id;
  line += '\t' + std::to_string(r.image_h);
  line += '\t' + std::to_string(r.image_w);
  line += '\t' + b64(r.objects_id);
  line += '\t' + b64(r.objects_conf);
  line += '\t' + b64(r.attrs_id);
  line += '\t' + b64(r.attrs_conf);
  line += '\t' + std::to_string(r.num_boxes);
  line += '\t' + b64(r.boxes);
  line += '\t';
  line += b64(r.features);
  return line;
}

TsvImportResult import_obj_tsv(const std::string& tsv_path, const std::string& out_path, const TsvImportOptions& options) {
  namespace fs = std::filesystem;
  using Clock = std::chrono::steady_clock;
  if (!fs::is_regular_file(tsv_path)) throw UserError(tsv_path + ": file not found (expected an LXMERT obj36 TSV)");
  io::check_output_file(out_path, options.overwrite, "--overwrite");
  io::OutputLock lock(out_path);  // a second import to the same file stops here, naming this one
  const std::string partial = out_path + ".partial";
  const auto total_bytes = static_cast<int64_t>(fs::file_size(tsv_path));

  std::ifstream in;
  std::vector<char> stream_buffer(1 << 20);
  in.rdbuf()->pubsetbuf(stream_buffer.data(), static_cast<std::streamsize>(stream_buffer.size()));
  in.open(tsv_path, std::ios::binary);
  if (!in) throw UserError(tsv_path + ": cannot open for reading");

  TsvImportResult result;
  const auto t0 = Clock::now();
  auto last_report = t0;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  spdlog::info("import-features: {} ({:.1f} MB) -> {}", tsv_path, total_bytes / 1e6, out_path);

  try {
    FeatureStoreWriter writer(partial, {options.compression, tsv_path});
    std::string line;
    ImageRecord record;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      if (stop_requested())
        throw StoppedBySignal("import-features: stopped by a signal at " + tsv_path + ":" + std::to_string(line_no) +
                              "; nothing was written (rerun the same command to import)");
      ++line_no;
      result.bytes += static_cast<int64_t>(line.size()) + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const std::string where = tsv_path + ":" + std::to_string(line_no);
      parse_obj_tsv_line(line, record, where, writer.feature_dim());
      if (!record.all_finite() && options.skip_nonfinite) {
        ++result.skipped_nonfinite;
        result.skipped_ids.push_back(record.img_id);
        spdlog::warn("import-features: {}: image {}: NaN/Inf features or boxes, skipped", where, record.img_id);
      } else {
        writer.append(record, where);  // throws on NaN/Inf with box and dimension
      }
      if (options.on_image) options.on_image(writer.num_images() + result.skipped_nonfinite, result.bytes);
      auto now = Clock::now();
      if (options.progress_interval_s > 0 &&
          std::chrono::duration<double>(now - last_report).count() >= options.progress_interval_s) {
        last_report = now;
        double t = elapsed();
        double byte_rate = result.bytes / std::max(t, 1e-9);
        spdlog::info("import-features: {} images, {:.1f} of {:.1f} MB ({:.0f}%), {:.0f} images/s, {:.1f} MB/s, ETA {}",
                     writer.num_images(), result.bytes / 1e6, total_bytes / 1e6,
                     100.0 * result.bytes / std::max<int64_t>(total_bytes, 1), writer.num_images() / std::max(t, 1e-9),
                     byte_rate / 1e6, format_duration((total_bytes - result.bytes) / std::max(byte_rate, 1e-9)));
      }
    }
    if (in.bad()) throw RuntimeFailure(tsv_path + ": read error after line " + std::to_string(line_no));
    if (writer.num_images() == 0)
      throw UserError(tsv_path + ": no images" +
                      (result.skipped_nonfinite ? " left after skipping " + std::to_string(result.skipped_nonfinite) +
                                                      " with NaN/Inf values"
                                                : std::string(" (empty file?)")));
    writer.finish();
    result.images = writer.num_images();
    result.boxes = writer.num_boxes();
    result.feature_dim = writer.feature_dim();
  } catch (...) {
    std::error_code ec;
    fs::remove(partial, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(partial, out_path, ec);
  if (ec) throw RuntimeFailure(out_path + ": cannot rename " + partial + " to it: " + ec.message());
  result.seconds = elapsed();
  spdlog::info("import-features: wrote {} images, {} boxes, {}-d features to {} in {}{}", result.images, result.boxes,
               result.feature_dim, out_path, format_duration(result.seconds),
               result.skipped_nonfinite ? " (skipped " + std::to_string(result.skipped_nonfinite) + " with NaN/Inf)" : "");
  return result;
}

}  // namespace headprune::data
