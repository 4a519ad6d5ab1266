"""Record the reference outputs for the dlib ResNet conversion, once, by hand (see README.md).

Builds the fixed 150x150 RGB inputs, runs ``record.mjs`` (@vladmandic/face-api 1.7.15 on the tfjs
CPU backend) on them in a scratch npm folder, and writes ``tests/reference/dlib_resnet_reference.npz``:

    names                   [K] str     what each input is
    images_png              [B] uint8   the K inputs as lossless RGB PNG files, back to back (PNG keeps
                            the file under 200 KB); decoded they are [K,150,150,3] uint8, RGB, HWC,
                            the exact pixels fed to face-api
    images_png_offsets      [K+1] int64 where each PNG starts (and the last one ends) in images_png
    images_sha256           str, sha256 of the decoded [K,150,150,3] uint8 array's bytes
    embeddings              [K,128] float32 - FaceRecognitionNet with face-api.js 0.10.0's raw float32
                            weights (``extractWeights``): the reference for the converted model
    embeddings_uint8_model  [K,128] float32 - same net with @vladmandic/face-api's own uint8-quantised
                            model/face_recognition_model (same weights, +-0.5 quantisation step)
    input_divisor           float32 scalar, 255: face-api 1.7.15 feeds (pixel - mean) / 255
    mean_rgb                [3] float32
    info                    str, JSON: versions, backend, date, eye points, how inputs were made

The photos are aligned with a similarity transform that puts hand-picked eye centres on the dlib
150x150 template's eyes (point = (0.25 + p) / 1.5 * 150); the noise images are blocky uniform noise
(seeded, stored as pixels so that no random stream needs to be reproduced later).

usage: .xfv/venv/bin/python scripts/reference/dlib_resnet/record.py [--work /tmp/xfv-dlib-ref]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from xfv_tools.paths import REFERENCE, source

HERE = Path(__file__).resolve().parent
SIZE = 150
MEAN_RGB = np.asarray([122.782, 117.001, 104.298], dtype=np.float32)
WEIGHTS = source("face-api.js-0.10.0", "package", "weights_uncompressed", "face_recognition_model.weights")
VLADMANDIC_MODEL_DIR = source("vladmandic-face-api-1.7.15", "package", "model")
PHOTOS = source("face_recognition-1.3.0", "face_recognition-1.3.0", "tests", "test_images")
OUT = REFERENCE / "dlib_resnet_reference.npz"

#: eye centres (image-left, image-right) in original-photo pixels, picked by eye on a zoomed grid
EYES_PX = {
    "obama": ((442.0, 212.0), (542.0, 210.0)),
    "obama2": ((252.0, 370.0), (357.0, 377.0)),
    "biden": ((530.0, 322.0), (647.0, 345.0)),
}
#: dlib 150x150 template eyes: (0.25 + p) / 1.5 * 150
TEMPLATE_EYES_PX = tuple(((0.25 + px) / 1.5 * SIZE, (0.25 + py) / 1.5 * SIZE) for px, py in ((0.2255, 0.2160), (0.7548, 0.2160)))
#: (name, seed, block size): uniform noise on a (150/block)^2 grid, each cell block x block pixels
NOISE = [("noise_block5_seed0", 0, 5), ("noise_block5_seed1", 1, 5), ("noise_block2_seed2", 2, 2)]


def aligned_photo(name: str) -> np.ndarray:
    """The photo warped (bilinear) so its eyes land on the template's eyes; [150,150,3] uint8."""
    (l_x, l_y), (r_x, r_y) = EYES_PX[name]
    (tl_x, tl_y), (tr_x, tr_y) = TEMPLATE_EYES_PX
    # similarity output -> input as complex numbers: p = z * t + w
    z = complex(r_x - l_x, r_y - l_y) / complex(tr_x - tl_x, tr_y - tl_y)
    w = complex(l_x, l_y) - z * complex(tl_x, tl_y)
    im = Image.open(PHOTOS / f"{name}.jpg").convert("RGB")
    warped = im.transform((SIZE, SIZE), Image.Transform.AFFINE, (z.real, -z.imag, w.real, z.imag, z.real, w.imag), resample=Image.Resampling.BILINEAR)
    return np.asarray(warped, dtype=np.uint8)


def noise_image(seed: int, block: int) -> np.ndarray:
    cells = np.random.default_rng(seed).integers(0, 256, size=(SIZE // block, SIZE // block, 3), dtype=np.uint8)
    return np.repeat(np.repeat(cells, block, axis=0), block, axis=1)


def encode_png(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[K,H,W,3] uint8 -> (concatenated PNG bytes, offsets [K+1])."""
    blobs = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im, mode="RGB").save(buf, format="PNG", optimize=True)
        blobs.append(np.frombuffer(buf.getvalue(), dtype=np.uint8))
    offsets = np.cumsum([0] + [b.size for b in blobs]).astype(np.int64)
    return np.concatenate(blobs), offsets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/xfv-dlib-ref"), help="scratch folder for npm ci and the node run")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    names = list(EYES_PX) + [n for n, _, _ in NOISE]
    images = np.stack([aligned_photo(n) for n in EYES_PX] + [noise_image(s, b) for _, s, b in NOISE])

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    for f in ("package.json", "package-lock.json", "record.mjs"):
        shutil.copyfile(HERE / f, work / f)
    if not (work / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=work, check=True)
    (work / "inputs.u8").write_bytes(images.tobytes())
    subprocess.run(
        ["node", "record.mjs", "inputs.u8", str(len(names)), str(WEIGHTS), str(VLADMANDIC_MODEL_DIR), "f32.bin", "u8.bin", "info.json"],
        cwd=work,
        check=True,
    )
    emb = np.fromfile(work / "f32.bin", dtype="<f4").reshape(len(names), 128)
    emb_u8 = np.fromfile(work / "u8.bin", dtype="<f4").reshape(len(names), 128)
    info = json.loads((work / "info.json").read_text())
    info.update(
        {
            "recorded": dt.date.today().isoformat(),
            "script": "scripts/reference/dlib_resnet/record.py + record.mjs",
            "weights": "face-api.js 0.10.0 weights_uncompressed/face_recognition_model.weights",
            "uint8_model": "@vladmandic/face-api 1.7.15 model/face_recognition_model-weights_manifest.json",
            "input": "tf.tensor4d(pixels as float32, [1,150,150,3]) -> computeFaceDescriptor, one image per call",
            "normalisation_in_face_api": "(pixel - mean_rgb) / 255",
            "photos": "face_recognition 1.3.0 sdist tests/test_images, aligned by eye centres onto the dlib template",
            "eyes_px": EYES_PX,
            "template_eyes_px": TEMPLATE_EYES_PX,
            "noise": [{"name": n, "seed": s, "block": b, "generator": "numpy default_rng(seed).integers(0,256,(150/b,150/b,3),uint8), repeated b x b"} for n, s, b in NOISE],
        }
    )
    png, png_offsets = encode_png(images)
    decoded = np.stack([np.asarray(Image.open(io.BytesIO(png[a:b].tobytes())).convert("RGB")) for a, b in zip(png_offsets[:-1], png_offsets[1:])])
    if not np.array_equal(decoded, images):
        raise RuntimeError("PNG round trip changed the pixels")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        names=np.asarray(names),
        images_png=png,
        images_png_offsets=png_offsets,
        images_sha256=np.asarray(hashlib.sha256(images.tobytes()).hexdigest()),
        embeddings=emb.astype(np.float32),
        embeddings_uint8_model=emb_u8.astype(np.float32),
        input_divisor=np.float32(255.0),
        mean_rgb=MEAN_RGB,
        info=np.asarray(json.dumps(info, sort_keys=True)),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {names}")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
