"""The models a studio offers: the shipped run directories (`checkpoints/`, beside the default
`--checkpoint`) and the run directories found under a folder (`serve --models DIR`), each known by
a name. A request names a model; no string of a request ever becomes part of a path.

A model is loaded the first time it is asked for and kept (one `Checkpoint` per run directory,
however many requests use it; loaded again only when its files change, as a run trained further
while the studio runs); what the page needs to show before that (its shape, the controls it
understands, its recommended settings) is read from its small JSON files.
"""


from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import CheckpointError
from ..generation.checkpoint import Checkpoint
from ..generation.generate import DEFAULT_CHECKPOINT, load_checkpoint
from ..generation.primer import controls
from ..generation.settings import SAMPLING_FILE, recommended_sampling
from ..model.rundir import CONFIG, CRITIC, FORM, RUN_FILES, TOKENIZER, read_json
from ..tokens.tokenizer import Tokenizer
from .request import RequestError

SHIPPED = DEFAULT_CHECKPOINT.parent  # checkpoints/: bach, folk
MAX_DEPTH = 3  # folders below --models searched for run directories (runs/<corpus>/<run>)
MAX_MODELS = 200  # run directories listed at most (a huge folder must not stall the page)


@dataclass(frozen=True)
class Model:
    """A run directory the studio offers.

    Attributes:
        name: what requests call it: a shipped model's folder name ('bach'), or a run directory's
            path below `--models` ('mine/run-1').
        path: the run directory, resolved.
        source: 'shipped' or 'models'.
    """

    name: str
    path: Path
    source: str


def is_run_dir(path: Path) -> bool:
    """Whether `path` holds the files sampling reads (model.keras, tokenizer.json, config.json)."""
    return path.is_dir() and all((path / n).is_file() for n in RUN_FILES)


def find_runs(root: Path) -> list[Path]:
    """The run directories under `root` (itself included), at most `MAX_DEPTH` folders down,
    sorted; links that lead out of `root` and hidden folders are not followed."""
    root = root.resolve()
    found = []
    for here, dirs, _ in os.walk(root):
        path = Path(here)
        depth = len(path.relative_to(root).parts)
        if is_run_dir(path):
            found.append(path)
            dirs[:] = []  # a run directory's own folders (tensorboard/) hold no runs
        elif depth >= MAX_DEPTH:
            dirs[:] = []
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (path / d).resolve().is_relative_to(root))
        if len(found) >= MAX_MODELS:
            break
    return sorted(found)


class Catalogue:
    """The models by name, and the loaded ones (loaded once each, under one lock).

    Args:
        models_dir: a folder searched for run directories (None: the shipped models only).
        shipped: the folder of shipped run directories.
    """

    def __init__(self, models_dir=None, shipped: Path = SHIPPED):
        self.models_dir = Path(models_dir).resolve() if models_dir is not None else None
        self.shipped = Path(shipped)
        self.loads = 0  # run directories loaded so far (a test proves each is loaded once)
        self._lock = threading.Lock()  # load_checkpoint's own cache is not made for threads
        self._loaded: dict[Path, tuple[tuple, Checkpoint]] = {}  # run directory -> (its files' stamp, model)
        self._about: dict[tuple, dict] = {}

    def models(self) -> dict[str, Model]:
        """Every model offered now, by name (the folders are read again each time, so a run
        trained while the server runs appears)."""
        out: dict[str, Model] = {}
        if self.shipped.is_dir():
            for run in sorted(p for p in self.shipped.iterdir() if is_run_dir(p)):
                out[run.name] = Model(run.name, run.resolve(), "shipped")
        if self.models_dir is not None and self.models_dir.is_dir():
            for run in find_runs(self.models_dir):
                name = run.relative_to(self.models_dir).as_posix()
                name = self.models_dir.name if name == "." else name
                if name in out:  # a shipped name stays the shipped model's
                    name = f"models/{name}"
                out.setdefault(name, Model(name, run, "models"))
        return out

    def find(self, name) -> Model:
        """The model called `name`.

        Raises:
            RequestError: (404) no model has that name.
        """
        found = self.models()
        if not isinstance(name, str) or name not in found:
            shown = repr(name)[:80]
            raise RequestError(f"unknown model {shown}: GET /api/models lists them ({', '.join(list(found)[:8])})",
                               404)
        return found[name]

    def load(self, model: Model) -> Checkpoint:
        """The model's loaded checkpoint: loaded on first use, then the same object every time.

        Raises:
            CheckpointError: the run directory cannot be loaded.
        """
        with self._lock:
            stamp = _stamp(model.path)
            if self._loaded.get(model.path, (None,))[0] != stamp:
                self._loaded[model.path] = (stamp, load_checkpoint(model.path))
                self.loads += 1
            return self._loaded[model.path][1]

    def is_loaded(self, model: Model) -> bool:
        """Whether the model is loaded (and its files unchanged since)."""
        try:
            return self._loaded.get(model.path, (None,))[0] == _stamp(model.path)
        except OSError:
            return False

    def about(self, model: Model) -> dict:
        """What the page shows of a model without loading it: its shape, the controls it
        understands (keys, styles, meters), its recommended settings, whether it is loaded.
        A run directory whose files cannot be read gets an 'error' instead."""
        row = {"name": model.name, "source": model.source, "loaded": self.is_loaded(model)}
        try:
            stamp = (model.path,) + tuple(
                (model.path / n).stat().st_mtime_ns if (model.path / n).exists() else 0
                for n in (CONFIG, TOKENIZER, SAMPLING_FILE))  # a sampling.json edited: new defaults
            if stamp not in self._about:
                self._about[stamp] = _read_about(model.path)
            return {**row, **self._about[stamp]}
        except (CheckpointError, OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            return {**row, "error": str(e).strip().split("\n")[0][:300]}


def _stamp(path: Path) -> tuple:
    """The sizes and modification times of the files a loaded model is made of."""
    names = RUN_FILES + tuple(n for n in (FORM, CRITIC) if (path / n).exists())
    return tuple((n, (path / n).stat().st_mtime_ns, (path / n).stat().st_size) for n in names)


def _read_about(path: Path) -> dict:
    """A run directory's shape, controls and recommended settings, from its JSON files."""
    model = read_json(path / CONFIG).get("model", {})
    found = controls(Tokenizer.load(path / TOKENIZER))
    found.pop("tempo", None)
    rec = recommended_sampling(path)
    return {"description": f"{model['layers']}x{model['units']} {model.get('cell', 'gru').upper()}, "
                           f"{model['vocab_size']} tokens",
            "controls": found,
            "defaults": {k: rec[k] for k in ("temperature", "top_k", "top_p")},
            "critic": (path / "critic.json").is_file()}
