"""Note events <-> token ids: a metrical, REMI-like vocabulary with an explicit grammar.

Design (after REMI, Huang & Yang 2020, with TSD-style summed durations):

* Time is a bar/position grid: `BAR` starts a bar, `TS_n/d` states its meter when it changes,
  `POS_k` is the onset inside the bar in grid steps (`steps_per_quarter`, 12 by default, so 16ths
  and triplets are exact). Empty bars are repeated `BAR`s, so rests of any length are representable.
* A note is `[PROGRAM_p] PITCH_x [VEL_v] DUR_d+`. Durations up to `max_duration_quarters` have a
  token of their own for every grid step; longer notes repeat the longest `DUR` and add the rest
  (`DUR_48 DUR_48 DUR_6` = 8.5 quarters), so no note is ever cut short.
* With `shared_durations`, notes that start together and last equally long share one duration:
  `PITCH_60 PITCH_64 PITCH_67 DUR_12` is a C major triad of quarter notes (a note without its own
  `DUR` takes the next one in its group). The JSB chorales need a third fewer tokens this way.
* With `key_tokens`, `KEY_k` right after BOS states the key of the whole piece (`KEY_D`, `KEY_F#m`:
  24 tokens, tonic and mode, from the key signature and the notes, `core.keys.estimate_key`);
  transposition moves it with the pitches, and `generate --key` forces it.
* `TEMPO_t` (log-spaced bins) follows a `POS` where the tempo changes; the first bar always states it.
  Changes up to the last onset, or while the last notes still sound (a final ritardando), are kept.
* Meter changes take effect at the next bar line of the current meter (a change inside a bar, as a
  MIDI file may have, is deferred); onsets stay exact either way because positions count from the
  bar start that the decoder reconstructs identically.

Everything the tokenizer does is decided by `TokenizerConfig`, saved with the vocabulary in one JSON file.
"""


from __future__ import annotations

import bisect
import json
import math
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write_text
from ..core.errors import TokenizerError
from ..core.events import DEFAULT_TEMPO, KeySignature, Note, Piece, Tempo, TimeSignature
from ..core.keys import estimate_key, key_name, sharps_of
from .config import DENOMINATORS, DRUM_PROGRAM, FORMAT, FORMAT_VERSION, SPECIALS, EncodeStats, TokenizerConfig, musical_tempos
from .grammar import Grammar, GrammarState


def _quantize(x: float, steps: int) -> int:
    # round half up explicitly (pretty_midi issue 64: int() where round() was meant)
    return int(math.floor(x * steps + 0.5))


class Tokenizer:
    """Encode `Piece`s to int32 token ids and decode them back.

    Args:
        config: the settings; defaults to `TokenizerConfig()`.
    """

    def __init__(self, config: TokenizerConfig | None = None):
        self.config = config or TokenizerConfig()
        c = self.config
        spq = c.steps_per_quarter
        vocab: list[str] = list(SPECIALS)
        self.meters: list[tuple[int, int]] = []
        for den in DENOMINATORS:
            for num in range(1, 65):
                quarters = num * 4 / den
                if quarters <= c.max_bar_quarters and (num * 4 * spq) % den == 0:
                    self.meters.append((num, den))
        vocab += [f"TS_{n}/{d}" for n, d in self.meters]
        self.positions = c.max_bar_quarters * spq
        vocab += [f"POS_{k}" for k in range(self.positions)]
        vocab += [f"TEMPO_{k}" for k in range(c.tempo_bins)]
        if c.programs:
            vocab += [f"PROGRAM_{p}" for p in range(128)]
            if c.drums:
                vocab.append("PROGRAM_DRUMS")
        vocab += [f"PITCH_{p}" for p in range(c.pitch_low, c.pitch_high + 1)]
        vocab += [f"VEL_{k}" for k in range(c.velocity_bins)]
        self.max_duration_steps = c.max_duration_quarters * spq
        vocab += [f"DUR_{d}" for d in range(1, self.max_duration_steps + 1)]
        if c.key_tokens:  # last, so every other token keeps the id it has without keys
            vocab += [f"KEY_{key_name(tonic, minor)}" for minor in (False, True) for tonic in range(12)]
        vocab += [f"STYLE_{name}" for name in c.styles]  # after the keys: tokens/styles.py
        self.vocab = vocab
        self.index = {tok: i for i, tok in enumerate(vocab)}
        self.kinds = [tok.split("_", 1)[0] for tok in vocab]
        self.pad, self.bos, self.eos, self.bar = (self.index[s] for s in SPECIALS)
        self._first = {}
        for i, kind in enumerate(self.kinds):
            self._first.setdefault(kind, i)
        self.pitch_offset = self._first["PITCH"]
        self.ts_offset = self._first["TS"]
        self.pos_offset = self._first["POS"]
        self.tempo_offset = self._first["TEMPO"]
        self.dur_offset = self._first["DUR"]
        self.vel_offset = self._first.get("VEL", -1)
        self.program_offset = self._first.get("PROGRAM", -1)
        self.key_offset = self._first.get("KEY", -1)  # KEY_<tonic> at key_offset + tonic, + 12 for minor
        self.style_offset = self._first.get("STYLE", -1)  # STYLE_<name> of config.styles[k] at style_offset + k
        self.default_bar_steps = 4 * spq
        position_of = np.full(len(vocab), -1, dtype=np.int32)
        position_of[self.pos_offset : self.pos_offset + self.positions] = np.arange(self.positions)
        bar_steps_of = np.zeros(len(vocab), dtype=np.int32)
        for k, (n, d) in enumerate(self.meters):
            bar_steps_of[self.ts_offset + k] = n * 4 * spq // d
        self.grammar = Grammar(
            self.kinds,
            position_of,
            bar_steps_of,
            longest_duration=self.dur_offset + self.max_duration_steps - 1,
            default_bar_steps=self.default_bar_steps,
            bos=self.bos,
            shared_durations=c.shared_durations,
        )
        edges = np.geomspace(c.tempo_min, c.tempo_max, c.tempo_bins + 1)
        self._tempo_edges = edges
        self.tempo_centers = np.sqrt(edges[:-1] * edges[1:])
        self.tempo_bpms = musical_tempos(edges)  # what a TEMPO token decodes to: a whole bpm

    # ------------------------------------------------------------------ identity
    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __eq__(self, other) -> bool:
        return isinstance(other, Tokenizer) and self.config == other.config and self.vocab == other.vocab

    def __hash__(self):
        return hash(self.config)

    def __repr__(self) -> str:
        return f"Tokenizer({self.config}, vocab_size={len(self)})"

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION, "config": self.config.to_dict(), "vocab": self.vocab}

    @classmethod
    def from_dict(cls, d) -> "Tokenizer":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise TokenizerError("not a melodygru tokenizer file (missing 'format': 'melodygru-tokenizer')")
        if d.get("version") != FORMAT_VERSION:
            raise TokenizerError(f"tokenizer file version {d.get('version')!r} is not supported (need {FORMAT_VERSION})")
        tok = cls(TokenizerConfig.from_dict(d.get("config")))
        if d.get("vocab") != tok.vocab:
            raise TokenizerError("tokenizer file's vocabulary does not match its config (edited or from another version)")
        return tok

    def save(self, path) -> None:
        """Write the tokenizer JSON atomically (temp file + rename)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path) -> "Tokenizer":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise TokenizerError(f"cannot read tokenizer file {path}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise TokenizerError(f"tokenizer file {path} is not a text (UTF-8 JSON) file") from None
        try:
            data = json.loads(text)
        except ValueError as e:
            raise TokenizerError(f"tokenizer file {path} is not valid JSON: {e}") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ helpers
    def kind_of(self, i: int) -> str:
        return self.kinds[i]

    def meter_token(self, num: int, den: int) -> int | None:
        try:
            return self.ts_offset + self.meters.index((num, den))
        except ValueError:
            return None

    def key_token(self, tonic: int, minor: bool) -> int:
        """The KEY token of a key; raises TokenizerError for a tokenizer without key tokens."""
        if self.key_offset < 0:
            raise TokenizerError("this tokenizer has no key tokens (trained without --key-tokens)")
        return self.key_offset + int(tonic) % 12 + (12 if minor else 0)

    def key_of_token(self, token: int) -> tuple[int, bool] | None:
        """(tonic, minor) of a KEY token, None for any other token."""
        k = int(token) - self.key_offset
        return (k % 12, k >= 12) if self.key_offset >= 0 and 0 <= k < 24 else None

    def key_of(self, ids) -> tuple[int, bool] | None:
        """The key a token sequence states (its KEY token after BOS), None if it states none."""
        keys = [k for k in map(self.key_of_token, np.asarray(ids).reshape(-1)[:3].tolist()) if k is not None]
        return keys[0] if keys else None

    def duration_tokens(self, steps: int) -> list[int]:
        """The DUR tokens of a note of `steps` >= 1 grid steps: the longest DUR repeated, then the rest."""
        full, rest = divmod(int(steps), self.max_duration_steps)
        return [self.dur_offset + self.max_duration_steps - 1] * full + ([self.dur_offset + rest - 1] if rest else [])

    def tempo_bin(self, bpm: float) -> int:
        return int(np.clip(np.searchsorted(self._tempo_edges, bpm, side="right") - 1, 0, self.config.tempo_bins - 1))

    def velocity_bin(self, velocity: int) -> int:
        v = self.config.velocity_bins
        return min(v - 1, (int(velocity) - 1) * v // 127)

    def velocity_of_bin(self, b: int) -> int:
        """The middle velocity of bin `b`, always inside the bin: `velocity_bin(velocity_of_bin(b)) == b`."""
        v = self.config.velocity_bins
        b = min(max(int(b), 0), v - 1)
        low = 1 + -(-b * 127 // v)  # smallest velocity in bin b
        high = -(-(b + 1) * 127 // v)  # largest velocity in bin b
        # the bin's centre on the velocity line, clipped to its integers (with 127 bins the centre
        # rounds to the next bin's velocity)
        return min(max(round(1 + (b + 0.5) * 127 / v), low), high)

    def note_key(self, note: Note) -> tuple[int, int, int]:
        """(pitch, onset step, duration step) of a note on this tokenizer's grid: what round trips keep."""
        spq = self.config.steps_per_quarter
        on = _quantize(note.onset, spq)
        return note.pitch, on, max(1, _quantize(note.end, spq) - on)

    # ------------------------------------------------------------------ encoding
    def encode(self, piece: Piece, max_bars: int = 20000) -> np.ndarray:
        """Token ids (int32) of a piece, BOS first and EOS last."""
        return self.encode_with_stats(piece, max_bars)[0]

    def encode_with_stats(self, piece: Piece, max_bars: int = 20000) -> tuple[np.ndarray, EncodeStats]:
        """Encode and count every lossy step.

        Raises:
            TokenizerError: the piece spans more than `max_bars` bars (usually a stray event hours later).
        """
        c = self.config
        spq = c.steps_per_quarter
        stats = EncodeStats()
        kept = []  # (onset_step, program_token, pitch, vel_bin, dur_steps)
        for n in piece.notes:
            if n.is_drum and not c.drums:
                stats.dropped_drums += 1
                continue
            if not c.pitch_low <= n.pitch <= c.pitch_high:
                stats.dropped_out_of_range += 1
                continue
            _, on, dur = self.note_key(n)
            if abs(on - n.onset * spq) > 1e-6:
                stats.snapped_onsets += 1
            if n.duration * spq < 0.5:
                stats.zero_length += 1  # too short for the grid: kept as one step
            elif abs(on + dur - n.end * spq) > 1e-6:
                stats.snapped_durations += 1
            program = None
            if c.programs:
                program = self.program_offset + (DRUM_PROGRAM if n.is_drum else n.program)
            vel = self.velocity_bin(n.velocity) if c.velocity_bins else None
            kept.append((on, program if program is not None else -1, n.pitch, vel, dur))
        stats.notes = len(kept)
        kept.sort(key=(lambda k: (k[0], k[1], -k[2], k[3], k[4])) if c.pitch_order == "down" else None)
        end_step = kept[-1][0] if kept else 0  # last onset
        sound_end = max((on + dur for on, _, _, _, dur in kept), default=0)

        # tempo changes on the grid, only where the bin changes; a change while the last notes
        # still sound is kept (a final ritardando), later ones change nothing audible
        tempos = piece.tempos or [Tempo(0.0, DEFAULT_TEMPO)]
        if tempos[0].time > 0:
            tempos = [Tempo(0.0, DEFAULT_TEMPO)] + list(tempos)
        bin_at: dict[int, int] = {}  # of several changes snapped to one step, the last one holds
        for t in tempos:
            step = max(0, _quantize(t.time, spq))  # a change before the start applies from the start
            if step > end_step and step >= sound_end:
                break
            if not c.tempo_min <= t.bpm <= c.tempo_max:
                stats.clamped_tempos += 1
            bin_at[step] = self.tempo_bin(t.bpm)
        tempo_at: dict[int, int] = {}
        last_bin = None
        for step, b in sorted(bin_at.items()):
            if b != last_bin:
                tempo_at[step] = b
                last_bin = b
        end_step = max(end_step, max(tempo_at))

        # meters on the grid; unsupported ones fall back to 4/4
        meter_changes = []  # (step, token)
        default_ts = self.meter_token(4, 4)
        for ts in piece.time_signatures:
            tok = self.meter_token(ts.numerator, ts.denominator)
            if tok is None:
                stats.unsupported_meters += 1
                tok = default_ts
            meter_changes.append((_quantize(ts.time, spq), tok))
        # bar lines
        bars = []  # (start_step, ts_token or None when unchanged)
        current = default_ts
        emitted = None
        start = 0
        mi = 0
        while True:
            while mi < len(meter_changes) and meter_changes[mi][0] <= start:
                current = meter_changes[mi][1]
                mi += 1
            bars.append((start, current if current != emitted else None))
            if len(bars) > max_bars:
                raise TokenizerError(
                    f"piece spans more than {max_bars} bars (last event at quarter {end_step / spq:.0f}): "
                    "is there a stray event after a long silence?"
                )
            emitted = current
            start += int(self.grammar.bar_steps_of[current])
            if start > end_step:
                break
        bar_starts = [b[0] for b in bars]

        # group notes and tempo changes by (bar, position)
        groups: dict[int, list] = {}
        for step in tempo_at:
            groups.setdefault(step, [])
        for note in kept:
            groups.setdefault(note[0], []).append(note)
        ids = [self.bos]
        if c.key_tokens:
            ids.append(self.key_token(*estimate_key(piece)))
        bi_emitted = -1
        for step in sorted(groups):
            bi = bisect.bisect_right(bar_starts, step) - 1
            while bi_emitted < bi:
                bi_emitted += 1
                ids.append(self.bar)
                if bars[bi_emitted][1] is not None:
                    ids.append(bars[bi_emitted][1])
            ids.append(self.pos_offset + step - bar_starts[bi])
            if step in tempo_at:
                ids.append(self.tempo_offset + tempo_at[step])
            group = groups[step]
            for k, (_, program, pitch, vel, dur) in enumerate(group):
                if program >= 0:
                    ids.append(program)
                ids.append(self.pitch_offset + pitch - c.pitch_low)
                if vel is not None:
                    ids.append(self.vel_offset + vel)
                if c.shared_durations and k + 1 < len(group) and group[k + 1][4] == dur:
                    continue  # the next note of the group states this duration for both
                ids += self.duration_tokens(dur)
        # bars after the last onset that still hold sounding notes are implied by durations
        ids.append(self.eos)
        return np.asarray(ids, dtype=np.int32), stats

    # ------------------------------------------------------------------ decoding
    def decode(self, ids, strict: bool = False, source: str = "") -> Piece:
        """Token ids -> Piece.

        Tokens that break the grammar are skipped (counted in `piece.stats['skipped_tokens']`), so
        any sequence of in-vocabulary ids decodes; with `strict=True` they raise instead. A sequence
        without BOS is read as if it had one.

        Raises:
            TokenizerError: an id outside the vocabulary or not an integer, or (strict) a grammar
                violation, anything but PAD after EOS included.
        """
        c = self.config
        spq = c.steps_per_quarter
        arr = np.asarray(ids).reshape(-1)
        if arr.size and arr.dtype.kind not in "iu":
            raise TokenizerError(f"token ids must be integers, not {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= len(self.vocab)):
            bad = int(arr[(arr < 0) | (arr >= len(self.vocab))][0])
            raise TokenizerError(f"token id {bad} is outside the vocabulary of {len(self.vocab)}")
        g = self.grammar
        state = g.initial_state()
        seq = arr.tolist()
        if seq and seq[0] == self.bos:
            seq = seq[1:]
        notes: list[Note] = []
        tempos: list[Tempo] = []
        meters: list[TimeSignature] = []
        skipped = 0
        bar_start = None  # step of the current bar's start
        bar_steps = self.default_bar_steps
        pos = 0
        program, is_drum, pitch, vel, dur = 0, False, None, 90, 0
        waiting = []  # (pitch, velocity, program, is_drum) of notes that take the next DUR (shared durations)
        cur_meter = None
        keys: list[KeySignature] = []

        def flush():  # a note is complete once its last DUR token has been read
            nonlocal pitch, dur
            if pitch is not None and dur > 0:
                for p, v, prog, drum in waiting + [(pitch, vel, program, is_drum)]:
                    notes.append(Note(pos / spq, dur / spq, p, v, prog, drum))
                waiting.clear()
                pitch, dur = None, 0

        for i, tok in enumerate(seq):
            if not g.is_allowed(state, tok):
                if strict:
                    raise TokenizerError(
                        f"token {i + 1} ({self.vocab[tok]}) may not follow {self.vocab[state.prev]} here"
                    )
                skipped += 1
                continue
            kind = self.kinds[tok]
            if kind in ("PITCH", "PROGRAM") and pitch is not None and dur == 0:
                waiting.append((pitch, vel, program, is_drum))  # the grammar allowed a shared duration
                pitch = None
            elif kind != "DUR":
                flush()
            if kind == "BAR":
                bar_start = 0 if bar_start is None else bar_start + bar_steps
            elif kind == "TS":
                bar_steps = int(g.bar_steps_of[tok])
                meter = self.meters[tok - self.ts_offset]
                if meter != cur_meter:
                    meters.append(TimeSignature(bar_start / spq, *meter))
                    cur_meter = meter
            elif kind == "POS":
                pos = bar_start + int(g.position_of[tok])
            elif kind == "TEMPO":
                tempos.append(Tempo(pos / spq, self.tempo_bpms[tok - self.tempo_offset]))
            elif kind == "PROGRAM":
                p = tok - self.program_offset
                is_drum = p == DRUM_PROGRAM
                program = 0 if is_drum else p
            elif kind == "PITCH":
                pitch = c.pitch_low + tok - self.pitch_offset
                vel = 90
            elif kind == "VEL":
                vel = self.velocity_of_bin(tok - self.vel_offset)
            elif kind == "DUR":
                dur += tok - self.dur_offset + 1
            elif kind == "KEY":
                tonic, minor = self.key_of_token(tok)
                keys.append(KeySignature(0.0, sharps_of(tonic, minor), "minor" if minor else "major"))
            elif kind in ("EOS", "PAD"):
                pass
            state = g.advance(state, tok)
            if kind == "EOS" and not strict:
                break  # strict mode goes on to check that only PAD follows
        incomplete = 0 if dur else int(pitch is not None) + len(waiting)  # notes still without a duration
        flush()
        if not meters or meters[0].time > 0:
            meters.insert(0, TimeSignature(0.0, 4, 4))
            if len(meters) > 1 and (meters[1].numerator, meters[1].denominator) == (4, 4):
                del meters[1]  # a later TS_4/4 restates the meter in force from the start
        stats = {"skipped_tokens": skipped, "incomplete_notes": incomplete}
        return Piece(notes, tempos, meters, keys, source=source, stats=stats)

    # ------------------------------------------------------------------ transposition
    def pitch_mask(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        n = self.config.pitch_high - self.config.pitch_low + 1
        return (ids >= self.pitch_offset) & (ids < self.pitch_offset + n)

    def state_after(self, ids) -> GrammarState:
        return self.grammar.state_after(ids)
