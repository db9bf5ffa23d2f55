// Region relevance drawn into the image, as the seed's generate_visualization.py does:
//
//   mask = 0 everywhere; for each box b: mask[box b] = max(mask[box b], relevance[b])
//   mask = (mask - min(mask)) / (max(mask) - min(mask))        (over all pixels)
//   out  = image * mask                                          (every channel)
//
// So a pixel takes the largest relevance of the boxes that cover it, the most relevant box keeps
// the image as it is and pixels under no box turn black (for non-negative relevance, which the
// seed's rules give). Then the `top_k` most relevant boxes with relevance > 0 are outlined, their
// rank written in their top-left corner; outlines and ranks stay inside their boxes.
//
// Boxes are in pixels (x1, y1, x2, y2); a box covers columns int(x1) .. int(x2)-1 and rows
// int(y1) .. int(y2)-1 (the seed's slicing), clipped to the image: a box partly or wholly
// outside the image is cut, never an error. A constant mask (e.g. all relevance 0, or NaN)
// gives a black image instead of the seed's NaN.
//
// Torch-free.
#pragma once

#include <vector>

#include "headprune/visualize/image.hpp"

namespace headprune::visualize {

/// A box in pixels.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

/// The box's pixels after truncation and clipping to a width x height image (may be empty).
Rect box_pixels(const Box& box, int width, int height);

/// The normalised per-pixel mask above, [height * width] row-major, values in [0, 1].
/// HP_ASSERTs boxes.size() == relevance.size(). Non-finite relevance counts as 0.
std::vector<float> relevance_mask(int width, int height, const std::vector<Box>& boxes,
                                  const std::vector<double>& relevance);

/// Indices of the `k` largest relevance values, largest first (ties: lower index first);
/// boxes with non-finite relevance are left out.
std::vector<int> top_boxes(const std::vector<double>& relevance, int k);

struct HeatmapStyle {
  int top_k = 5;               ///< boxes outlined (0: none)
  Rgb outline{255, 215, 0};    ///< gold
  int thickness = 0;           ///< outline width in pixels; 0 = max(1, min(w, h) / 160)
  bool label_ranks = true;     ///< write 1..top_k inside each outlined box
};

/// `image` multiplied by relevance_mask(), with the top boxes outlined. Same size as `image`.
Image relevance_heatmap(const Image& image, const std::vector<Box>& boxes, const std::vector<double>& relevance,
                        const HeatmapStyle& style = {});

}  // namespace headprune::visualize
