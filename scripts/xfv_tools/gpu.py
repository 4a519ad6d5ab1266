"""`scripts/setup --gpu`: the GPU build of ONNX Runtime and the CUDA 13 / cuDNN 9 runtime libraries,
from PyPI wheels (`pip download --no-deps`), sha256-checked, idempotent. Nothing is installed into
Python; the wheels are unpacked under .xfv/sources/ and the libraries gathered in .xfv/lib-gpu/:

    .xfv/lib-gpu/libonnxruntime.so.1.31.1            GPU build (also runs CPU-only)
    .xfv/lib-gpu/libonnxruntime_providers_*.so        CUDA, TensorRT, shared providers (beside it)
    .xfv/lib-gpu/env.sh                               LD_LIBRARY_PATH for the CUDA/cuDNN libraries

Use: `. .xfv/lib-gpu/env.sh && xfv --ort-lib .xfv/lib-gpu/libonnxruntime.so.1.31.1 explain ... --ep cuda`
(a build with `--features cuda,tensorrt`). TensorRT 10 is not on PyPI in usable form (the
`tensorrt-*-libs` wheels download from NVIDIA at install time): install it from NVIDIA and add its
lib/ folder to LD_LIBRARY_PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import fetch, paths
from .fetch import Package, SetupError, log, sha256_file

LIB_GPU = paths.XFV_DIR / "lib-gpu"
ORT_GPU_LIBS = ("libonnxruntime.so.1.31.1", "libonnxruntime_providers_shared.so",
                "libonnxruntime_providers_cuda.so", "libonnxruntime_providers_tensorrt.so")


def gpu_packages() -> dict[str, Package]:
    out = {}
    for name, p in fetch.load_sources().get("gpu", {}).items():
        out[name] = Package(key=name, registry="pypi", name=name, version=p["version"], dist="wheel",
                            sha256=p.get("sha256"))
    return out


def _checked_unpack(pkg: Package) -> Path:
    """Unpacked wheel; the archive's sha256 is checked by fetch.ensure_archive (platform wheels of
    another tag than the recorded one are accepted on their library files' presence)."""
    want = pkg.sha256
    found = fetch._archive_candidates(pkg)
    if want and found and sha256_file(found[0]) != want and pkg.name == "onnxruntime-gpu":
        pkg = Package(pkg.key, pkg.registry, pkg.name, pkg.version, pkg.dist, None)
    return fetch.ensure_unpacked(pkg)


def install_gpu() -> Path:
    """Fetch, check and gather the GPU libraries; returns .xfv/lib-gpu."""
    LIB_GPU.mkdir(parents=True, exist_ok=True)
    lib_dirs: list[Path] = []
    for name, pkg in gpu_packages().items():
        root = _checked_unpack(pkg)
        if name == "onnxruntime-gpu":
            capi = root / "onnxruntime" / "capi"
            for lib in ORT_GPU_LIBS:
                src, dst = capi / lib, LIB_GPU / lib
                if not src.is_file():
                    raise SetupError(f"{pkg.spec}: {lib} is missing from the wheel")
                if not dst.is_file() or sha256_file(dst) != sha256_file(src):
                    tmp = dst.with_name(dst.name + ".partial")
                    shutil.copyfile(src, tmp)
                    os.replace(tmp, dst)
                    log(f"installed {dst}")
        else:
            lib_dirs += sorted(p for p in root.glob("nvidia/**/lib") if p.is_dir())
    env = LIB_GPU / "env.sh"
    text = ("# source me: CUDA 13 / cuDNN 9 runtime libraries for xfv's GPU build of ONNX Runtime\n"
            f"export LD_LIBRARY_PATH={':'.join(str(d) for d in lib_dirs)}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}\n")
    if not env.is_file() or env.read_text() != text:
        env.write_text(text)
    log(f"GPU libraries ready in {LIB_GPU}; run `. {env}` and pass --ort-lib {LIB_GPU / ORT_GPU_LIBS[0]}")
    return LIB_GPU
