"""What the converter tests share: the face_recognition test photos, their five landmarks (found
once by YuNet; test_convert_quantized.py::test_yunet_finds_faces re-checks them against the converted
detector), ArcFace-template alignment and centre crops, and a quiet onnxruntime session."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from xfv_tools import paths

PHOTOS = paths.source("face_recognition-1.3.0", "face_recognition-1.3.0", "tests", "test_images")

#: five landmarks (image-left eye, image-right eye, nose, image-left mouth, image-right mouth) in
#: original-image pixels, found once by YuNet (letterboxed to 640).
LANDMARKS = {
    "obama.jpg": [(439, 215), (554, 214), (495, 268), (440, 318), (546, 320)],
    "obama2.jpg": [(246, 375), (369, 385), (277, 456), (244, 523), (350, 532)],
    "biden.jpg": [(520, 328), (668, 332), (603, 411), (512, 465), (639, 471)],
}
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


def need(*files):
    """Skips the test when a fetched source file is absent (CI sets up first, so it never skips there)."""
    for f in files:
        if not f.exists():
            pytest.skip(f"source file absent: {f} (run the setup's fetch step)")


def aligned_rgb(name: str) -> np.ndarray:
    """112x112x3 uint8 RGB crop: least-squares similarity from the landmarks to the ArcFace template."""
    src = np.asarray(LANDMARKS[name], float)
    # template point -> image point: [u, v] = [[a, -b], [b, a]] [x, y] + [tx, ty]
    a_rows = []
    for (x, y) in ARCFACE_112:
        a_rows += [[x, -y, 1, 0], [y, x, 0, 1]]
    a, b, tx, ty = np.linalg.lstsq(np.array(a_rows), src.reshape(-1), rcond=None)[0]
    im = Image.open(PHOTOS / name).convert("RGB")
    out = im.transform((112, 112), Image.AFFINE, (a, -b, tx, b, a, ty), resample=Image.BILINEAR)
    return np.asarray(out)


def centre_crop_rgb(name: str) -> np.ndarray:
    """112x112x3 uint8 RGB: the photo's central square, resized."""
    im = Image.open(PHOTOS / name).convert("RGB")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((112, 112), Image.BILINEAR)
    return np.asarray(im)


def session(path) -> ort.InferenceSession:
    """One-thread CPU session, warnings off."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
