"""The sampling settings a run directory recommends (`sampling.json`): their defaults, their
limits and the reader that checks them (`recommended_sampling`), and the check of a `tempo` option."""


from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.errors import CheckpointError, MelodyGRUError
from ..io.writers import MIN_BPM

SAMPLING_FILE = "sampling.json"
# what `generate` uses when neither the options nor the run's sampling.json say otherwise
SAMPLING_DEFAULTS = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "temperatures": {}, "form": False,
                     "allow_end": False, "monophonic": False, "candidates": None, "selection": "best", "voices": 0,
                     "scale_penalty": 0.0, "resample_every": 0, "match_all": 0.0, "keep_mode": False,
                     "mode_share": False}
MAX_SCALE_PENALTY = 20.0
MAX_MATCH_ALL = 10.0
SELECTIONS = ("best", "weighted", "matched")
DEFAULT_CANDIDATES = 16  # candidates per sample when the run has a critic and sampling.json does not say
MAX_CANDIDATES = 1024
TEMPERATURE_KINDS = ("PITCH", "DUR", "POS", "BAR", "VEL", "TEMPO", "PROGRAM", "TS", "EOS", "KEY")
MAX_TEMPO = 1000.0  # bpm; faster is no music anyone asks for (MIDI itself could go to 60,000,000)


def check_tempo(bpm: float) -> None:
    """Refuse a `tempo` option that is no tempo or one a MIDI file cannot store.

    Raises:
        MelodyGRUError: `bpm` is outside MIN_BPM (3.5763, 16,777,215 microseconds per quarter)
            to MAX_TEMPO.
    """
    if math.isfinite(bpm) and MIN_BPM <= bpm <= MAX_TEMPO:
        return
    if 0 < bpm < MIN_BPM:
        raise MelodyGRUError(f"tempo {bpm:g} bpm is slower than a MIDI file can store "
                             f"(at least {MIN_BPM:.4f} bpm: 16,777,215 microseconds per quarter)")
    raise MelodyGRUError(f"tempo {bpm:g} bpm is outside {MIN_BPM:.4f}..{MAX_TEMPO:g} bpm")



def recommended_sampling(run_dir: Path) -> dict:
    """The sampling settings a run directory recommends in its `sampling.json` (chosen after
    training by comparing samples with the training corpus, see checkpoints/*/TRAINED.md).

    The file may set any of `temperature` (0..100), `top_k` (integer >= 0, 0 = off), `top_p`
    (0 < p <= 1, 1 = off), `temperatures` (a temperature per token kind, e.g. {"PITCH": 0.9}),
    `form` (true: sample with the run's form plans), `allow_end` (true: a sample may end with
    the model's own end of piece before `--length`), `monophonic` (true: one note at a time, for a
    model of melodies), `voices` (at most this many notes sounding at once, 0 = no limit),
    `scale_penalty` (nats off every pitch outside the scale of the notes so far, see `sample`),
    `resample_every` (tokens between the critic's resamplings of the candidates, 0 = never),
    `match_all` (0..10: with the 'matched' selection, the weight of every critic feature's
    spread besides the 13 matched ones, see `analysis.critic.matched_choice`; 0 = off),
    `keep_mode` (true: each sample's candidates keep the mode of the key its plain draw drew, for a
    model with key tokens, see `choose.choose`),
    `mode_share` (true: with no key asked for, the chosen candidates' share in minor is brought to
    the critic's training pieces' by one score bonus for every candidate in minor, see
    `choose.share_bonus`),
    `candidates` (1..1024: candidates per sample the critic chooses among; left out:
    `DEFAULT_CANDIDATES` when the run has a critic, else 1) and `selection` ('best', 'matched' or
    'weighted', see `sample`); what it leaves out, or a missing file, takes
    `SAMPLING_DEFAULTS` (the model as trained). Other keys (such as a `chosen_by` note) are ignored.

    Raises:
        CheckpointError: the file is unreadable, not a JSON object, or holds a value out of range.
    """
    path = Path(run_dir) / SAMPLING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return dict(SAMPLING_DEFAULTS)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {run_dir}: {SAMPLING_FILE} is not usable ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {run_dir}: {SAMPLING_FILE} must hold a JSON object")
    out = dict(SAMPLING_DEFAULTS)
    checks = {
        "temperature": (lambda v: 0 <= v <= 100, "a number in 0..100"),
        "top_k": (lambda v: v >= 0 and float(v).is_integer(), "a whole number >= 0"),
        "top_p": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
        "candidates": (lambda v: 1 <= v <= MAX_CANDIDATES and float(v).is_integer(), f"a whole number in 1..{MAX_CANDIDATES}"),
        "voices": (lambda v: 0 <= v <= 128 and float(v).is_integer(), "a whole number in 0..128"),
        "scale_penalty": (lambda v: 0 <= v <= MAX_SCALE_PENALTY, f"a number in 0..{MAX_SCALE_PENALTY:g}"),
        "resample_every": (lambda v: v >= 0 and float(v).is_integer(), "a whole number >= 0"),
        "match_all": (lambda v: 0 <= v <= MAX_MATCH_ALL, f"a number in 0..{MAX_MATCH_ALL:g}"),
    }
    for key, (ok, what) in checks.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok(value):
            raise CheckpointError(f"checkpoint {run_dir}: {SAMPLING_FILE} {key} must be {what}")
        out[key] = int(value) if key in ("top_k", "candidates", "voices", "resample_every") else float(value)
    if "selection" in data:
        if data["selection"] not in SELECTIONS:
            raise CheckpointError(f"checkpoint {run_dir}: {SAMPLING_FILE} selection must be one of {', '.join(SELECTIONS)}")
        out["selection"] = data["selection"]
    for key in ("form", "allow_end", "monophonic", "keep_mode", "mode_share"):
        if key in data:
            if not isinstance(data[key], bool):
                raise CheckpointError(f"checkpoint {run_dir}: {SAMPLING_FILE} {key} must be true or false")
            out[key] = data[key]
    kinds = data.get("temperatures", {})
    if not isinstance(kinds, dict) or not all(
            k in TEMPERATURE_KINDS and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 100
            for k, v in kinds.items()):
        raise CheckpointError(f"checkpoint {run_dir}: {SAMPLING_FILE} temperatures must map token kinds "
                              f"({', '.join(TEMPERATURE_KINDS)}) to numbers in (0, 100]")
    out["temperatures"] = {k: float(v) for k, v in kinds.items()}
    return out
