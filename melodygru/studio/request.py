"""Who may ask the studio and what for: a loopback address (`is_loopback`), and every field of
`POST /api/generate` checked against its type and limit before anything is queued, with a
one-line reason when it is refused (`RequestError`, which carries the HTTP status the API
answers with).

The limits keep one request from holding a model's worker for long: a studio serves one person
at a time, and a piece of `MAX_LENGTH` tokens is already a few minutes of music.
"""


from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..core.errors import MelodyGRUError
from ..core.keys import long_key_name, parse_key
from ..generation.length import Stop
from ..generation.primer import parse_meter

MAX_LENGTH = 4096  # new tokens per piece: ~1,000-2,000 notes, minutes of music
MAX_SAMPLES = 8  # pieces per request
MAX_CANDIDATES = 64  # candidates per piece the critic chooses among (each is decoded in full)
MAX_BARS = 256
MAX_PRIMER_BARS = 64
MAX_TEMPERATURE = 10.0
MAX_TOP_K = 10_000
MAX_SEED = 2**31 - 1
PRIMER_ID = re.compile(r"[0-9a-f]{16}")  # what `POST /api/primer` hands out (secrets.token_hex(8))


class RequestError(MelodyGRUError):
    """A request the studio refuses, with the HTTP status to answer (400 bad value, 404 no such
    thing, 413 too large, 503 too busy)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class GenerateRequest:
    """A checked `POST /api/generate` body. None: the model's recommended value (`sampling.json`)."""

    model: str
    length: int = 256
    num_samples: int = 1
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    key: str | None = None
    meter: str | None = None
    style: str | None = None
    primer: str | None = None
    primer_bars: int = 4
    candidates: int | None = None
    bars: int | None = None
    wait: bool = True

    def settings(self) -> dict:
        """The generation settings (every field but the model, the primer and `wait`)."""
        return {k: getattr(self, k) for k in ("length", "num_samples", "temperature", "top_k", "top_p", "seed",
                                               "key", "meter", "style", "primer_bars", "candidates", "bars")}


def _whole(body: dict, name: str, low: int, high: int, default=None):
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(f"{name} must be a whole number in {low}..{high}, got {_shown(value)}")
    return value


def _number(body: dict, name: str, low: float, high: float, low_open: bool = False):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
            or (low_open and value == low):
        where = f"({low:g}, {high:g}]" if low_open else f"{low:g}..{high:g}"
        raise RequestError(f"{name} must be a number in {where}, got {_shown(value)}")
    return float(value)


def _text(body: dict, name: str, limit: int = 100):
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise RequestError(f"{name} must be a string of at most {limit} characters, got {_shown(value)}")
    return value


def _shown(value) -> str:
    """A value as a one-line error shows it: short, whatever it is."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


FIELDS = tuple(GenerateRequest.__dataclass_fields__)


def parse_generate(body, default_model: str) -> GenerateRequest:
    """Check a `POST /api/generate` JSON body (types and limits; what the model understands is
    checked by `check_controls` once the model is known).

    Raises:
        RequestError: (400) not a JSON object, an unknown field, or a value out of its limits.
    """
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object, e.g. {\"model\": \"bach\", \"length\": 256}")
    unknown = sorted(str(k) for k in body if k not in FIELDS)
    if unknown:
        raise RequestError(f"unknown field {_shown(unknown[0])}: the fields are {', '.join(FIELDS)}")
    model = _text(body, "model", 300) or default_model
    wait = body.get("wait", True)
    if not isinstance(wait, bool):
        raise RequestError(f"wait must be true or false, got {_shown(wait)}")
    primer = _text(body, "primer", 16)
    if primer is not None and not PRIMER_ID.fullmatch(primer):
        raise RequestError(f"primer must be an id from POST /api/primer, got {_shown(primer)}")
    bars = _whole(body, "bars", 1, MAX_BARS)
    budget = min(MAX_LENGTH, Stop(bars).budget()) if bars is not None else 256  # no length: enough for the bars
    return GenerateRequest(
        model=model,
        length=_whole(body, "length", 1, MAX_LENGTH, budget),
        num_samples=_whole(body, "num_samples", 1, MAX_SAMPLES, 1),
        temperature=_number(body, "temperature", 0.0, MAX_TEMPERATURE),
        top_k=_whole(body, "top_k", 0, MAX_TOP_K),
        top_p=_number(body, "top_p", 0.0, 1.0, low_open=True),
        seed=_whole(body, "seed", 0, MAX_SEED),
        key=_text(body, "key", 20), meter=_text(body, "meter", 10), style=_text(body, "style", 40),
        primer=primer,
        primer_bars=_whole(body, "primer_bars", 1, MAX_PRIMER_BARS, 4),
        candidates=_whole(body, "candidates", 1, MAX_CANDIDATES),
        bars=bars,
        wait=wait,
    )


def check_controls(req: GenerateRequest, name: str, found: dict) -> None:
    """Refuse a key, meter or style the model `name` does not understand (`found`: its controls,
    as `generation.primer.controls` lists them).

    Raises:
        RequestError: (400) with what the model does understand.
    """
    if req.key is not None:
        if not found.get("key"):
            raise RequestError(f"model {name} was trained without key tokens: leave key out")
        try:
            long_key_name(*parse_key(req.key))
        except ValueError as e:
            raise RequestError(str(e).split("\n")[0]) from None
    if req.meter is not None:
        meter = "%d/%d" % parse_meter(req.meter)  # MelodyGRUError: answered as a 400 all the same
        if meter not in found.get("meter", []):
            raise RequestError(f"model {name} has no {meter} bars")
    if req.style is not None and req.style not in found.get("style", []):
        styles = ", ".join(found.get("style", [])) or "none: it was trained without styles"
        raise RequestError(f"model {name} has no style {_shown(req.style)} (its styles: {styles})")


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine (localhost, 127.x.x.x, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
