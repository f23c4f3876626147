"""`melodygru info`: what this installation is made of, for a bug report or a first look: versions,
the device TensorFlow runs on, the audio renderer `--audio` uses (FluidSynth with its SoundFont, or
the fallback and why), the token cache and the shipped models."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path

import click

from .. import __version__
from ..core.units import human_bytes
from .app import main

PACKAGES = (("TensorFlow", "tensorflow"), ("Keras", "keras"), ("music21", "music21"),
            ("pretty_midi", "pretty_midi"), ("mido", "mido"), ("numpy", "numpy"), ("click", "click"),
            ("soundfile", "soundfile"), ("verovio", "verovio"), ("pyfluidsynth", "pyfluidsynth"))


@main.command()
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Token cache folder. [default: $MELODYGRU_CACHE_DIR or the user cache dir]")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON on stdout.")
def info(cache_dir, as_json):
    """Print the versions of melodygru and what it runs on, the GPU (and cuDNN) or CPU TensorFlow
    uses, the audio renderer of `generate --audio`, the token cache's folder and size, and the
    shipped models."""
    found = collect(cache_dir)
    click.echo(json.dumps(found, indent=1) if as_json else "\n".join(lines(found)))


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect(cache_dir=None) -> dict:
    """Everything `info` reports, as plain data."""
    from ..core.tfenv import devices
    from ..corpus.cache import cache_usage
    from ..io.audio import FLUIDSYNTH, audio_backend

    versions = {"melodygru": __version__, "Python": platform.python_version(),
                **{name: _version(dist) for name, dist in PACKAGES}}
    renderer, why = audio_backend()
    sound = {"renderer": renderer, "detail": why}
    if renderer == FLUIDSYNTH:
        sound = {"renderer": renderer, "detail": f"General MIDI SoundFont {why}", "soundfont": why}
    folder, files, size = cache_usage(cache_dir)
    return {"versions": versions, "devices": devices(), "audio": sound,
            "cache": {"folder": str(folder), "files": files, "bytes": size}, "models": shipped_models()}


def shipped_models() -> list[dict]:
    """The run directories under the package's checkpoints/ (the default --checkpoint's folder)."""
    from ..core.errors import CheckpointError
    from ..model.rundir import CONFIG, RUN_FILES, read_json

    root = Path(__file__).resolve().parents[2] / "checkpoints"
    out = []
    for run in sorted(p for p in root.glob("*") if p.is_dir() and all((p / n).is_file() for n in RUN_FILES)):
        try:
            model = read_json(run / CONFIG).get("model", {})
            shape = f"{model['layers']}x{model['units']} {model.get('cell', 'gru').upper()}, {model['vocab_size']} tokens"
        except (CheckpointError, AttributeError, KeyError, TypeError):  # an unreadable config: listed as such
            shape = "unreadable config.json"
        extras = [n for n in ("sampling.json", "critic.json", "form.json") if (run / n).is_file()]
        out.append({"name": run.name, "path": str(run), "model": shape, "files": extras})
    return out


def lines(found: dict) -> list[str]:
    v, d, a, c = found["versions"], found["devices"], found["audio"], found["cache"]
    out = [f"melodygru {v['melodygru']} (Python {v['Python']}; "
           + ", ".join(f"{k} {v[k] or 'not installed'}" for k, _ in PACKAGES) + ")"]
    if d["gpus"]:
        out += [f"device: GPU {i}: {g['name']}" + (f" (compute capability {g['compute_capability']})"
                                                    if g["compute_capability"] else "") for i, g in enumerate(d["gpus"])]
        out.append(f"  CUDA {d['cuda'] or '?'}, cuDNN {d['cudnn'] or '?'} (as TensorFlow was built)")
    else:
        out.append(f"device: CPU only ({d['cpu_cores']} cores; TensorFlow sees no GPU)")
    out.append(f"audio (generate --audio): {a['renderer']}: {a['detail']}")
    out.append(f"cache: {c['folder']} ({c['files']:,} files, {human_bytes(c['bytes'])}; "
               "empty it with `melodygru cache --clear`)")
    models = found["models"]
    out.append("shipped models:" + ("" if models else " none"))
    out += [f"  {m['name']}: {m['model']}" + (f" ({', '.join(m['files'])})" if m["files"] else "") + f"  {m['path']}"
            for m in models]
    return out
