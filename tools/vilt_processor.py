"""ViltImageProcessor (transformers' slow, PIL path) on one RGB image, in numpy and Pillow: the one
transcription of image_processing_vilt.py and image_transforms.py that both generators use
(tools/make_vilt_refs.py, tests/support/make_image_golden.py). No torch.
"""
import numpy as np


def resize_output_size(height, width, shorter, size_divisor):
    """image_processing_vilt.get_resize_output_image_size with longer = int(1333 / 800 * shorter)."""
    longer = int(1333 / 800 * shorter)
    scale = shorter / min(height, width)
    if height < width:
        new_h, new_w = shorter, scale * width
    else:
        new_h, new_w = scale * height, shorter
    if max(new_h, new_w) > longer:
        scale = longer / max(new_h, new_w)
        new_h, new_w = scale * new_h, scale * new_w
    new_h, new_w = int(new_h + 0.5), int(new_w + 0.5)
    return new_h // size_divisor * size_divisor, new_w // size_divisor * size_divisor


def preprocess(img, pp):
    """One RGB PIL image -> (resized uint8 [h, w, 3], pixel_values float32 [3, h, w]).
    The processor itself does no RGB conversion: the caller passes RGB (load_image converts)."""
    assert img.mode == "RGB"
    h, w = resize_output_size(img.height, img.width, pp["size"]["shortest_edge"], pp["size_divisor"])
    resized = np.array(img.resize((w, h), resample=pp["resample"]))  # PIL on uint8, as image_transforms.resize
    # rescale: float64 multiply, then cast to float32; normalize: float32 subtract / divide.
    x = (resized.astype(np.float64) * pp["rescale_factor"]).astype(np.float32)
    mean = np.array(pp["image_mean"], dtype=np.float32)
    std = np.array(pp["image_std"], dtype=np.float32)
    x = (x - mean) / std
    assert x.dtype == np.float32
    return resized, np.ascontiguousarray(x.transpose(2, 0, 1))
