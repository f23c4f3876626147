"""A run directory packed into one file (`melodygru export RUN_DIR FILE.mgru`), and opened again
wherever a run directory is read (`--checkpoint FILE.mgru`).

The file is a zip archive: `manifest.json` (format, version, and every other member with its size
and SHA-256) and the run directory's files that sampling reads, under their own names: model.keras,
tokenizer.json, config.json and, where the run has them, sampling.json, critic.json, form.json,
split.json and TRAINED.md. Nothing in it is ever executed or unpickled: the model's weights are
read as a run directory's are (into a model rebuilt from config.json), the rest is JSON and text.

Opening one is as safe as reading a run directory: anything but a member on that list (an absolute
path, a `..`, a folder, a link, a second copy of a name), a member or a whole larger than the limits,
an encrypted or oddly compressed member, or bytes that do not match the manifest is refused with a
one-line `CheckpointError`. The members are extracted, as plain files written by this module, into
a fresh temporary folder that is removed when the process ends, so every loader then reads a run
directory exactly as it reads one `train` wrote.
"""


from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..core.atomic import publish_mode, temp_file
from ..core.errors import CheckpointError
from .rundir import CONFIG, CRITIC, FORM, MODEL, RUN_FILES, RUN_FORMAT, SAMPLING, SPLIT, TOKENIZER, TRAINED, check_run_dir

BUNDLE_FORMAT = "melodygru-bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
OPTIONAL = (SAMPLING, CRITIC, FORM, SPLIT, TRAINED)  # bundled when the run has them
MEMBERS = RUN_FILES + OPTIONAL
MAX_MEMBER_BYTES = 2**30  # a large preset's model.keras is ~0.3 GB; JSON files are kilobytes
MAX_TOTAL_BYTES = 2**31
MAX_MANIFEST_BYTES = 2**20
CHUNK = 2**20
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # every member's date: the same run gives the same bytes


def export_bundle(run_dir, out_file) -> list[str]:
    """Pack the sampling files of `run_dir` into the bundle `out_file`, written atomically (a
    temporary file renamed into place). Returns the names packed.

    Raises:
        CheckpointError: not a run directory, a missing file, or a config.json that is no run's.
    """
    run_dir, out_file = Path(run_dir), Path(out_file)
    check_run_dir(run_dir)
    if out_file.resolve().parent == run_dir.resolve() and out_file.name in MEMBERS + (MANIFEST,):
        raise CheckpointError(f"{out_file} is one of the run's own files: write the bundle elsewhere")
    try:
        config = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
        json.loads((run_dir / TOKENIZER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {run_dir}: cannot read its JSON files ({e})") from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{run_dir / CONFIG} is not a melodygru run config")
    names = [n for n in MEMBERS if (run_dir / n).is_file()]
    manifest = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
                "files": {n: {"bytes": (run_dir / n).stat().st_size, "sha256": _sha256(run_dir / n)} for n in names}}
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(out_file)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w") as z:
                _add(z, MANIFEST, json.dumps(manifest, indent=1).encode() + b"\n", zipfile.ZIP_DEFLATED)
                for n in names:  # model.keras is a zip already: stored as it is
                    _add(z, n, (run_dir / n).read_bytes(), zipfile.ZIP_STORED if n == MODEL else zipfile.ZIP_DEFLATED)
            f.flush()
            os.fsync(f.fileno())
        publish_mode(tmp)
        os.replace(tmp, out_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return names


def _add(z: zipfile.ZipFile, name: str, data: bytes, compression: int) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = compression
    info.external_attr = 0o644 << 16  # a plain file, read-write for its owner
    z.writestr(info, data)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


_OPENED: dict[tuple, Path] = {}
_SOURCES: dict[Path, Path] = {}  # extracted run directory -> the bundle file it came from


def bundle_of(run_dir) -> Path | None:
    """The bundle file a run directory was extracted from in this process (None: a real one), so a
    report can name the file the user gave rather than a temporary folder."""
    return _SOURCES.get(Path(run_dir))


def open_bundle(path) -> Path:
    """The run directory a bundle holds, extracted into a temporary folder (one per bundle file and
    version of it in this process; removed at exit). See the module docstring for what is refused.

    Raises:
        CheckpointError: one line saying what is wrong with the file.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise CheckpointError(f"checkpoint {path}: {e.strerror or e}") from None
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _OPENED or not (_OPENED[key] / MODEL).is_file():
        _OPENED[key] = _extract(path)
        _SOURCES[_OPENED[key]] = path
    return _OPENED[key]


def _refuse(path: Path, why: str):
    raise CheckpointError(f"checkpoint {path} is not a usable melodygru bundle: {why}")


def _extract(path: Path) -> Path:
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise CheckpointError(f"checkpoint {path} is not a directory (a run directory from `melodygru train`) "
                              "nor a bundle from `melodygru export` (not a zip file)") from None
    except OSError as e:
        raise CheckpointError(f"checkpoint {path}: {e.strerror or e}") from None
    except (ValueError, EOFError, zlib.error, NotImplementedError) as e:  # e.g. a name flagged UTF-8 that is not
        _refuse(path, f"its zip directory is damaged ({type(e).__name__})")
    with z:
        infos = _checked_members(path, z)
        manifest = _manifest(path, z, infos)
        top = Path(tempfile.mkdtemp(prefix="melodygru-bundle-"))
        atexit.register(shutil.rmtree, top, True)
        out = top / (path.stem or "run")
        out.mkdir()
        try:
            for name, info in infos.items():
                if name != MANIFEST:
                    _copy_member(path, z, info, out / name, manifest[name])
        except BaseException:
            shutil.rmtree(top, ignore_errors=True)
            raise
    return out


def _checked_members(path: Path, z: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Every member by name, once each refused unless it is a plain file on the list, within the limits."""
    infos: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in z.infolist():
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or len(pure.parts) != 1 or name.endswith("/"):
            _refuse(path, f"unsafe member name {name!r}")
        if name not in MEMBERS + (MANIFEST,):
            _refuse(path, f"unexpected member {name!r}")
        if name in infos:
            _refuse(path, f"member {name!r} appears twice")
        if info.flag_bits & 0x1:
            _refuse(path, f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            _refuse(path, f"member {name!r} uses an unsupported compression")
        if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):  # a link or a device, not a file
            _refuse(path, f"member {name!r} is not a plain file")
        limit = MAX_MANIFEST_BYTES if name == MANIFEST else MAX_MEMBER_BYTES
        if info.file_size > limit:
            _refuse(path, f"member {name!r} is larger than {limit:,} bytes")
        total += info.file_size
        infos[name] = info
    if total > MAX_TOTAL_BYTES:
        _refuse(path, f"more than {MAX_TOTAL_BYTES:,} bytes in all")
    if MANIFEST not in infos:
        _refuse(path, f"no {MANIFEST}")
    missing = [n for n in RUN_FILES if n not in infos]
    if missing:
        _refuse(path, f"missing {', '.join(missing)}")
    return infos


def _manifest(path: Path, z: zipfile.ZipFile, infos) -> dict[str, dict]:
    """The manifest's entry for every member, which must name exactly the members there are."""
    try:
        doc = json.loads(_read_limited(z, infos[MANIFEST], MAX_MANIFEST_BYTES).decode("utf-8"))
    except (ValueError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        _refuse(path, f"unreadable {MANIFEST} ({e})")
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        _refuse(path, f"{MANIFEST} is not a melodygru bundle manifest")
    if not isinstance(doc.get("version"), int) or doc["version"] > BUNDLE_VERSION:
        _refuse(path, f"bundle version {doc.get('version')!r}; this melodygru reads version {BUNDLE_VERSION} "
                      "(a newer melodygru wrote it)")
    files = doc.get("files")
    if not isinstance(files, dict) or set(files) != set(infos) - {MANIFEST}:
        _refuse(path, f"{MANIFEST} does not list the members the file holds")
    for name, entry in files.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("bytes"), int) and isinstance(entry.get("sha256"), str)):
            _refuse(path, f"{MANIFEST}: bad entry for {name!r}")
        if entry["bytes"] != infos[name].file_size:
            _refuse(path, f"member {name!r} is {infos[name].file_size:,} bytes, its manifest says {entry['bytes']:,}")
    return files


def _read_limited(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with z.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit:,} bytes")
    return data


def _copy_member(path: Path, z: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, entry: dict) -> None:
    """Stream one member into `dest` (a new plain file), checking its size and digest on the way."""
    h, size = hashlib.sha256(), 0
    try:
        with z.open(info) as src, open(dest, "xb") as out:
            for block in iter(lambda: src.read(CHUNK), b""):
                size += len(block)
                if size > entry["bytes"]:
                    _refuse(path, f"member {info.filename!r} holds more bytes than its manifest says")
                h.update(block)
                out.write(block)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        _refuse(path, f"member {info.filename!r} is damaged ({e})")
    if size != entry["bytes"] or h.hexdigest() != entry["sha256"]:
        _refuse(path, f"member {info.filename!r} does not match its manifest (damaged or changed)")
