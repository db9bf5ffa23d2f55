#!/usr/bin/python3
"""Writes tests/data/images/: the golden data of data/images.hpp (test_data_images.cpp).

Run with Debian's python3 (python3-pil, python3-numpy, python3-h5py):
    /usr/bin/python3 tests/support/make_image_golden.py tests/data/images

Written once and committed; running it again gives the same arrays (seeded) and PNG files.

  folder/                      images in COCO val2014 layout, read by data::ImageFolder
    COCO_val2014_000000000005.png   RGBA, 50 x 33 (w x h): alpha is dropped (PIL's convert("RGB"))
    7.png                           palette (mode P), 20 x 44: the bare-id spelling
    COCO_val2014_000000000011.png   RGB, 300 x 20: too elongated, resizes to 0 rows
    preprocessor_config.json        shortest edge 64, divisor 16, ImageNet mean/std
  golden.h5
    /resize/<case>/input  [h, w, 3] u8, /resize/<case>/output [H, W, 3] u8
        Pillow's Image.resize((W, H), Image.BICUBIC) of the input as an RGB image
    /folder/<img_id>/resized [H, W, 3] u8, pixel_values [3, H, W] f32
        transformers' ViltImageProcessor (slow, PIL path) on the image converted to RGB, with
        folder/preprocessor_config.json; written out below step by step (this machine has no
        transformers), following image_processing_vilt.py and image_transforms.py.
    attrs: pillow_version, numpy_version
"""
import json
import os
import sys

import h5py
import numpy as np
import PIL
from PIL import Image

# The processor's one transcription, shared with tools/make_vilt_refs.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from vilt_processor import preprocess  # noqa: E402

SETTINGS = {
    "image_processor_type": "ViltImageProcessor",
    "processor_class": "ViltProcessor",
    "size": {"shortest_edge": 64},
    "size_divisor": 16,
    "resample": 3,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "do_pad": True,
}


def vilt_process(rgb):
    """The slow ViltImageProcessor on one uint8 RGB array (do_resize/rescale/normalize true)."""
    return preprocess(Image.fromarray(rgb), SETTINGS)


def resize_cases(rng):
    def noise(h, w):
        return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)

    def checker(h, w):
        y, x = np.mgrid[0:h, 0:w]
        c = ((x + y) % 2 * 255).astype(np.uint8)
        return np.stack([c, 255 - c, c], axis=-1)

    def smooth(h, w):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(h + w - 2, 1)], -1)
        return np.clip(base + rng.integers(-20, 21, size=(h, w, 3)), 0, 255).astype(np.uint8)

    # (name, input, (out_h, out_w)): down and up in both axes, one axis only, extremes that make the
    # negative lobes overshoot (clipping), a 1-pixel input and output, a large downscale factor.
    return [
        ("noise_down", noise(23, 37), (7, 11)),
        ("noise_up", noise(9, 13), (31, 20)),
        ("checker_down", checker(16, 24), (5, 7)),
        ("checker_up", checker(6, 6), (17, 23)),
        ("width_only", noise(20, 30), (20, 13)),
        ("height_only", noise(20, 30), (47, 30)),
        ("one_pixel_up", noise(1, 1), (3, 4)),
        ("to_one_pixel", noise(15, 9), (1, 1)),
        ("big_down", smooth(96, 72), (13, 19)),
        ("mixed", smooth(41, 130), (96, 32)),
    ]


def main(out_dir):
    rng = np.random.default_rng(20261204)
    folder = os.path.join(out_dir, "folder")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(SETTINGS, f, indent=2)
        f.write("\n")

    # Folder images: RGBA (alpha varies), palette, and a 300 x 20 strip.
    y, x = np.mgrid[0:33, 0:50]
    rgba = np.stack([x * 5, y * 7, (x * y) % 256, (x * 3 + y * 5) % 256], -1).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(os.path.join(folder, "COCO_val2014_000000000005.png"))
    pal = Image.fromarray(rng.integers(0, 256, size=(44, 20, 3), dtype=np.uint8)).quantize(colors=16, method=0)
    pal.save(os.path.join(folder, "7.png"))
    Image.fromarray(np.full((20, 300, 3), 90, dtype=np.uint8)).save(
        os.path.join(folder, "COCO_val2014_000000000011.png"))

    with h5py.File(os.path.join(out_dir, "golden.h5"), "w", libver="earliest", track_order=False) as g:
        g.attrs["pillow_version"] = PIL.__version__
        g.attrs["numpy_version"] = np.__version__
        g.attrs["generator"] = "tests/support/make_image_golden.py"
        for name, img, (oh, ow) in resize_cases(rng):
            out = np.array(Image.fromarray(img, "RGB").resize((ow, oh), resample=Image.BICUBIC))
            g.create_dataset(f"resize/{name}/input", data=img)
            g.create_dataset(f"resize/{name}/output", data=out)
        for img_id, file in [("COCO_val2014_000000000005", "COCO_val2014_000000000005.png"), ("7", "7.png")]:
            rgb = np.array(Image.open(os.path.join(folder, file)).convert("RGB"))
            resized, pv = vilt_process(rgb)
            g.create_dataset(f"folder/{img_id}/resized", data=resized)
            g.create_dataset(f"folder/{img_id}/pixel_values", data=pv)
            g[f"folder/{img_id}"].attrs["image_h"] = rgb.shape[0]
            g[f"folder/{img_id}"].attrs["image_w"] = rgb.shape[1]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "images"))
