"""The tokenizer's settings (`TokenizerConfig`), their versions and digest, and the counts of
lossy encoding steps (`EncodeStats`).
"""


from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from ..core.errors import TokenizerError

FORMAT = "melodygru-tokenizer"
FORMAT_VERSION = 1
# bump whenever encode() changes its output for the same config: cached token ids are keyed by it
ENCODING_VERSION = 2
SPECIALS = ("PAD", "BOS", "EOS", "BAR")
DENOMINATORS = (1, 2, 4, 8, 16)
DRUM_PROGRAM = 128  # PROGRAM token index used for drum notes when drums are kept


# settings added after the first release: written to JSON only when not at their default
_LATER_SETTINGS = ("shared_durations", "pitch_order", "key_tokens", "styles")
STYLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")  # a style's name, as its STYLE_ token spells it
MAX_STYLES = 256


@dataclass(frozen=True)
class TokenizerConfig:
    """Every setting of the tokenizer; equal configs give identical vocabularies and encodings."""

    steps_per_quarter: int = 12  # 12 = lcm(4, 3): 16ths and 8th-note triplets land on the grid
    max_bar_quarters: int = 8  # longest bar (4/2, 8/4, 16/8); longer meters fall back to 4/4 (reported)
    pitch_low: int = 21  # piano range A0..C8: covers almost all tonal music, smaller softmax
    pitch_high: int = 108
    velocity_bins: int = 16  # 0 switches velocity off (decoded notes get velocity 90)
    max_duration_quarters: int = 4  # one DUR token per grid step up to a whole note; longer ones add up
    tempo_bins: int = 32  # log-spaced: ~7% apart, below the ~8% a listener notices
    tempo_min: float = 30.0
    tempo_max: float = 300.0
    programs: bool = False  # False: all pitched tracks merge into one stream
    drums: bool = False  # keep drum notes (needs programs=True, they get PROGRAM_DRUMS)
    # notes of one onset with equal durations share one DUR (a chord is PITCH PITCH PITCH DUR)
    shared_durations: bool = False
    # the order of the notes of one onset: "up" from the lowest pitch (the bass first), or "down"
    # from the highest (the top voice first: the melody leads and the voices below follow it)
    pitch_order: str = "up"
    # a KEY token right after BOS states the piece's key (tonic and mode; `core.keys.estimate_key`),
    # so a model can be asked for a key and samples keep the corpus's share of minor and major
    key_tokens: bool = False
    # one STYLE_<name> token per style, after BOS (and before KEY): which of the run's styles a
    # piece is (`tokens/styles.py`); the corpus builder puts it in, encoding itself never writes it
    styles: tuple[str, ...] = ()

    def __post_init__(self):
        problems = []
        if not isinstance(self.styles, tuple):
            object.__setattr__(self, "styles", tuple(self.styles))
        bad = [s for s in self.styles if not isinstance(s, str) or not STYLE_NAME.match(s)]
        if bad or len(set(self.styles)) != len(self.styles) or len(self.styles) > MAX_STYLES:
            problems.append(f"styles must be at most {MAX_STYLES} different names of lower-case letters, digits, "
                            f"'_', '.' or '-' (up to 40), got {list(self.styles)!r}")
        if not 1 <= self.steps_per_quarter <= 96:
            problems.append("steps_per_quarter must be 1..96")
        if not 4 <= self.max_bar_quarters <= 32:  # 4/4, the default meter, must fit in a bar
            problems.append("max_bar_quarters must be 4..32")
        if not 0 <= self.pitch_low <= self.pitch_high <= 127:
            problems.append("need 0 <= pitch_low <= pitch_high <= 127")
        if not 0 <= self.velocity_bins <= 127:
            problems.append("velocity_bins must be 0..127")
        if not 1 <= self.max_duration_quarters <= 32:
            problems.append("max_duration_quarters must be 1..32")
        if not 1 <= self.tempo_bins <= 256 or not 0 < self.tempo_min < self.tempo_max < math.inf:
            problems.append("need 1..256 tempo_bins and 0 < tempo_min < tempo_max (finite)")
        if self.pitch_order not in ("up", "down"):
            problems.append('pitch_order must be "up" or "down"')
        if self.drums and not self.programs:
            problems.append("drums=True needs programs=True (drum pitches are not melodic pitches)")
        if problems:
            raise TokenizerError("bad tokenizer config: " + "; ".join(problems))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        # settings added after the first release are written only when switched on, so the configs
        # (and digests) of earlier runs and caches stay what they were
        for name in _LATER_SETTINGS:
            if d[name] == getattr(TokenizerConfig, name):
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerConfig":
        if not isinstance(d, dict):
            raise TokenizerError("tokenizer config must be a JSON object")
        names = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise TokenizerError(f"unknown tokenizer setting(s): {', '.join(unknown)}")
        clean = {}
        for key, value in d.items():
            default = getattr(cls(), key)
            if isinstance(default, tuple):
                ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
                value = tuple(value) if ok else value
            elif isinstance(default, str):
                ok = isinstance(value, str)
            elif isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                raise TokenizerError(f"tokenizer setting {key!r} has the wrong type: {value!r}")
            clean[key] = value
        return cls(**clean)

    def diff(self, other: "TokenizerConfig") -> list[str]:
        """The settings that differ, as 'name old -> new' (every field, whatever to_dict omits)."""
        return [f"{f.name} {getattr(self, f.name)!r} -> {getattr(other, f.name)!r}"
                for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def digest(self) -> str:
        """Short stable hash of the config (cache keys)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def musical_tempos(edges) -> list[float]:
    """The bpm each TEMPO bin decodes to, for bins between `edges`: the whole bpm nearest the bin's
    (geometric) centre, so a sample plays at 122 bpm, not 122.04, where the bin holds it; else the
    centre itself. Either way it encodes to its own bin again (`Tokenizer.tempo_bin`)."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        centre = math.sqrt(lo * hi)
        whole = float(round(centre))
        out.append(whole if lo <= whole < hi else centre)
    return out


@dataclass
class EncodeStats:
    """What encoding kept and lost; every lossy step is counted here."""

    notes: int = 0
    dropped_drums: int = 0
    dropped_out_of_range: int = 0
    snapped_onsets: int = 0
    snapped_durations: int = 0
    zero_length: int = 0
    unsupported_meters: int = 0
    clamped_tempos: int = 0
    extra: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        d = {k: v for k, v in dataclasses.asdict(self).items() if k != "extra"}
        d.update(self.extra)
        return d
