// Region relevance heatmap (visualize/heatmap.hpp).
#include "headprune/visualize/heatmap.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "headprune/common/error.hpp"

namespace headprune::visualize {

namespace {

// Python's int(): truncation toward zero; then clipped to [0, limit].
int clip_coord(float v, int limit) {
  if (!std::isfinite(v)) return v > 0 ? limit : 0;
  const double t = std::trunc(static_cast<double>(v));
  return static_cast<int>(std::clamp(t, 0.0, static_cast<double>(limit)));
}

}  // namespace

Rect box_pixels(const Box& box, int width, int height) {
  Rect r{clip_coord(box.x1, width), clip_coord(box.y1, height), clip_coord(box.x2, width), clip_coord(box.y2, height)};
  if (r.x1 < r.x0) r.x1 = r.x0;
  if (r.y1 < r.y0) r.y1 = r.y0;
  return r;
}

std::vector<float> relevance_mask(int width, int height, const std::vector<Box>& boxes,
                                  const std::vector<double>& relevance) {
  HP_ASSERT(boxes.size() == relevance.size(), "relevance_mask: one relevance per box");
  HP_ASSERT(width > 0 && height > 0, "relevance_mask: empty image");
  std::vector<double> mask(static_cast<size_t>(width) * height, 0.0);
  for (size_t b = 0; b < boxes.size(); ++b) {
    const double v = std::isfinite(relevance[b]) ? relevance[b] : 0.0;
    const Rect r = box_pixels(boxes[b], width, height);
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x) {
        double& m = mask[static_cast<size_t>(y) * width + x];
        m = std::max(m, v);
      }
  }
  const auto [lo, hi] = std::minmax_element(mask.begin(), mask.end());
  const double min = *lo, range = *hi - *lo;
  std::vector<float> out(mask.size(), 0.0f);
  if (range > 0 && std::isfinite(range))
    for (size_t i = 0; i < mask.size(); ++i) out[i] = static_cast<float>((mask[i] - min) / range);
  return out;
}

std::vector<int> top_boxes(const std::vector<double>& relevance, int k) {
  std::vector<int> idx;
  for (size_t i = 0; i < relevance.size(); ++i)
    if (std::isfinite(relevance[i])) idx.push_back(static_cast<int>(i));
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return relevance[a] > relevance[b]; });
  if (static_cast<int>(idx.size()) > k) idx.resize(static_cast<size_t>(std::max(k, 0)));
  return idx;
}

Image relevance_heatmap(const Image& image, const std::vector<Box>& boxes, const std::vector<double>& relevance,
                        const HeatmapStyle& style) {
  const std::vector<float> mask = relevance_mask(image.width, image.height, boxes, relevance);
  Image out = image;
  for (size_t i = 0; i < mask.size(); ++i)
    for (size_t c = 0; c < 3; ++c) {
      uint8_t& p = out.pixels[i * 3 + c];
      p = static_cast<uint8_t>(std::lround(std::clamp(p * static_cast<double>(mask[i]), 0.0, 255.0)));
    }
  const int thickness = style.thickness > 0 ? style.thickness : std::max(1, std::min(image.width, image.height) / 160);
  const int scale = std::max(1, std::min(image.width, image.height) / 240);
  std::vector<int> top = top_boxes(relevance, style.top_k);
  top.erase(std::remove_if(top.begin(), top.end(), [&](int b) { return !(relevance[static_cast<size_t>(b)] > 0); }),
            top.end());  // nothing to point at: relevance 0 (e.g. every head pruned)
  // Least relevant first, so that where boxes overlap the better box's frame is on top.
  for (size_t n = top.size(); n-- > 0;) {
    const Rect r = box_pixels(boxes[static_cast<size_t>(top[n])], image.width, image.height);
    if (r.x1 <= r.x0 || r.y1 <= r.y0) continue;
    draw_rect_outline(out, r, thickness, style.outline);
    if (style.label_ranks) {  // a tab in the box's top-left corner: the rank in black
      const std::string label = std::to_string(n + 1);
      const int x = r.x0 + thickness + scale, y = r.y0 + thickness + scale;
      fill_rect(out, {r.x0, r.y0, std::min(r.x1, x + text_width(label, scale)), std::min(r.y1, y + 8 * scale)},
                style.outline);
      draw_text(out, x, y, label, scale, {0, 0, 0}, r);
    }
  }
  return out;
}

}  // namespace headprune::visualize
