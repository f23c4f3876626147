"""Harmonize a melody: the model writes the voices below a given top line, note for note.

A model reads left to right and, in the shipped Bach model's order, writes the notes of an onset
from the bass up, so the soprano of a chord comes last. The harmonizer therefore decodes with a
mask that changes at every step (`_Row.allowed`), on top of the grammar's:

* time may not pass the melody's next onset: no POS beyond it, no bar line before it;
* at a melody onset the lower notes come first, every one below the melody's pitch, then the
  melody's own note with its exact duration (forced DUR tokens), and nothing above it;
* a lower note lasts only as long as it stays below every melody note it would sound with (its
  pitch, and then its DUR tokens, are limited by `_Row.room`);
* the piece ends (EOS) right after the melody's last note;
* the bass of a melody onset makes no parallel fifth or octave with the melody against the group
  before it (`outer_parallels`; a repeated bar's copied first chord is not checked again: 0.06
  of each per 100 melody notes were measured on the held-out chorales);
* where the melody repeats an earlier bar note for note, the row writes that bar's harmony again
  (`_Row._repeat`): chorales repeat their phrases with their harmony.

So the bass of each chord is chosen knowing only which pitches lie below the soprano, not the
soprano's own pitch; several candidates per output are drawn and the run's critic keeps the one
most like the corpus (`choose`), as `generate` does. `check_harmony` measures what a listener
would check: the melody kept note for note, every other note below the melody note sounding with
it, and how many voices sound at each melody onset.
"""


from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..analysis.melody import MelodyNote, check_harmony, melody_line, outer_parallels  # noqa: F401  (part of this API)
from ..core.errors import MelodyGRUError
from ..core.events import Note, Piece
from ..core.keys import estimate_key
from .files import Sample
from .samplers import kind_temperatures as kind_temperature_table

MELODY_PROGRAM = 1  # the melody's General MIDI program (bright piano): its own channel and track
MAX_MELODY_NOTES = 2000
MAX_ROWS = 2048  # candidates drawn together, all outputs' together


ROOM_CAP_QUARTERS = 16  # the longest a lower note is ever allowed to last (4 whole notes)


class _Tables:
    """Per-vocabulary arrays the rows read at every step."""

    def __init__(self, tokenizer):
        kinds = np.array(tokenizer.kinds)
        self.is_pitch, self.is_dur, self.is_ts = kinds == "PITCH", kinds == "DUR", kinds == "TS"
        self.is_vel, self.is_program = kinds == "VEL", kinds == "PROGRAM"
        self.position_of = tokenizer.grammar.position_of
        self.is_pos = self.position_of >= 0
        c = tokenizer.config
        self.pitches = np.arange(c.pitch_low, c.pitch_high + 1)
        self.dur_steps = np.arange(1, tokenizer.max_duration_steps + 1)
        self.cap = ROOM_CAP_QUARTERS * c.steps_per_quarter


class _Row:
    """One candidate's place in the melody and the constraints on its next token."""

    def __init__(self, tokenizer, tables: _Tables, melody: list[MelodyNote], state, voices: int):
        self.tok, self.t, self.melody, self.state, self.voices = tokenizer, tables, melody, state, voices
        self.lower_ends: list[int] = []  # where each lower note written so far ends (steps)
        self.lower_notes: list[tuple[int, int]] = []  # (onset, pitch) of each, in the same order
        self.group_times: list[int] = []  # the onset of every POS group so far
        self.history: list[int] = []  # every token this row has written
        self.bars: list[tuple[int, int]] = [(0, 0)]  # (first step, index in history) of every bar begun
        self.copy: list[int] = []  # the rest of an earlier bar's tokens, written again (`_repeat`)
        self.copied_from = -2  # the bar the last repeated bar was copied from
        self.lower = False  # the note being written is a lower one (its DURs extend its end)
        self.next = 0  # the melody note to write next
        self.bar_start = 0  # the prefix ends with the first bar line
        self.group = None  # the onset (steps) of the current POS group
        self.last_pitch = -1  # the highest pitch written in the current group
        self.room = 0  # steps the note being written may still last
        self.forced: list[int] = []  # the next tokens, -1 where one is drawn (a velocity)
        self.end = melody[-1].onset + melody[-1].duration
        self.failed = False

    def _limit(self, p: int) -> np.ndarray:
        """For every pitch of the vocabulary, the steps a lower note starting at `p` may last: until
        the first melody note it would sound with that is not above it, or the melody's end."""
        limit = np.full(len(self.t.pitches), min(self.end - p, self.t.cap))
        for m in self.melody[max(0, self.next - 1):]:
            if m.onset >= p + self.t.cap:
                break
            if m.onset + m.duration > p:
                hit = self.t.pitches >= m.pitch
                limit[hit] = np.minimum(limit[hit], max(m.onset, p) - p)
        return limit

    def _outer_at(self, time: int) -> tuple[int, int] | None:
        """(melody pitch, lowest lower pitch) sounding at `time`, or None where either is missing."""
        top = [m.pitch for m in self.melody[max(0, self.next - 2):self.next + 1] if m.onset <= time < m.onset + m.duration]
        low = [p for (on, p), end in zip(self.lower_notes, self.lower_ends) if on <= time < end and top and p < top[0]]
        return (top[0], min(low)) if top and low else None

    def _parallel_basses(self, m: MelodyNote) -> np.ndarray:
        """For every pitch of the vocabulary, whether it would make a parallel fifth or octave with
        the melody as the bass of melody note `m`'s onset (see `outer_parallels`): the outer
        voices at the group before it a fifth or an octave apart, both moving the same way to
        the same interval. A lower note still sounding below it is the bass instead: none then."""
        no = np.zeros(len(self.t.pitches), bool)
        before = [g for g in self.group_times if g < m.onset]
        previous = self._outer_at(before[-1]) if before else None
        if previous is None or (previous[0] - previous[1]) % 12 not in (0, 7) or previous[0] == m.pitch:
            return no
        held = [p for (on, p), end in zip(self.lower_notes, self.lower_ends) if on < m.onset < end]
        s1, b1 = previous
        p = self.t.pitches
        no = (p != b1) & ((p > b1) == (m.pitch > s1)) & ((m.pitch - p) % 12 == (s1 - b1) % 12)
        if held:
            no &= p < min(held)
        return no

    def _bar_melody(self, start: int, steps: int) -> tuple | None:
        """The melody notes of the bar from `start` as (offset, duration, pitch), or None where one
        crosses either of its bar lines."""
        notes = [m for m in self.melody if m.onset < start + steps and m.onset + m.duration > start]
        if any(m.onset < start or m.onset + m.duration > start + steps for m in notes):
            return None
        return tuple((m.onset - start, m.duration, m.pitch) for m in notes)

    def _crosses(self, time: int) -> bool:
        """Whether a lower note sounds across `time` (starts before it and ends after it)."""
        return any(on < time < end for (on, _), end in zip(self.lower_notes, self.lower_ends))

    def _repeat(self) -> list[int]:
        """At the bar line just written: the tokens of an earlier bar of this row to write again,
        where the melody repeats that bar note for note (a chorale's repeated phrases keep their
        harmony), or none. Only whole bars whose lower notes lie inside them are copied, into a bar
        where nothing sounds across the bar line, so every copied note stays below the melody and
        within the voices; a bar after a copied one copies the next bar where it can."""
        steps, start, b = self.state.bar_steps, self.bar_start, len(self.bars) - 1
        mine = self._bar_melody(start, steps)
        if not mine or self._crosses(start) or start + steps > self.end:  # never past the melody's end
            return []
        order = sorted(range(b), key=lambda a: (a != self.copied_from + 1, a))  # the next one first
        for a in order:
            first, nxt = self.bars[a][0], self.bars[a + 1][0]
            if nxt - first != steps or self._bar_melody(first, steps) != mine or self._crosses(first) or \
                    self._crosses(nxt):
                continue
            self.copied_from = a
            return self.history[self.bars[a][1]:self.bars[a + 1][1] - 1]
        return []

    def allowed(self) -> np.ndarray:
        tok, t = self.tok, self.t
        mask = tok.grammar.allowed(self.state)
        if self.copy and mask[self.copy[0]]:  # an earlier bar written again
            only = np.zeros_like(mask)
            only[self.copy[0]] = True
            return only
        self.copy = []
        if self.forced:  # the melody note's velocity (drawn), then its durations (forced)
            if self.forced[0] < 0:
                return mask & t.is_vel
            only = np.zeros_like(mask)
            only[self.forced[0]] = True
            return only
        m = self.melody[self.next] if self.next < len(self.melody) else None
        if m is None:  # the melody is over: the piece ends with it
            mask[:] = False
            mask[tok.eos] = True
            return mask
        pending = self.group == m.onset  # in the melody note's group, before its note
        # time: no POS past the next melody onset, no bar line before it, no end, no meter change
        at = self.bar_start + t.position_of[t.is_pos]
        full = np.zeros(len(at), bool)
        if self.voices and self.lower_ends:  # an onset where every lower voice still sounds takes no note
            ends = np.array(self.lower_ends[-2 * self.voices:])
            full = ((ends[None, :] > at[:, None]).sum(axis=1) >= self.voices - 1) & (at != m.onset)
        mask[t.is_pos] &= (at <= m.onset) & ~full & (not pending)
        mask[tok.bar] &= self.bar_start + self.state.bar_steps <= m.onset and not pending
        mask[tok.eos] = False
        mask[t.is_ts] = False
        if self.group is not None:  # pitches: upwards, each below every melody note it would sound with
            ok = (self._limit(self.group) >= 1) & (t.pitches > self.last_pitch)
            if self.voices and sum(e > self.group for e in self.lower_ends) >= self.voices - 1:
                ok[:] = False  # the lower voices are all sounding: only the melody's note may come
            if pending:
                ok &= t.pitches < m.pitch
                if self.last_pitch < 0:  # the lowest new note of the melody's onset: no parallel with it
                    ok &= ~self._parallel_basses(m)
                ok |= (t.pitches == m.pitch) & (m.pitch > self.last_pitch)
            mask[t.is_pitch] &= ok
            if not ok.any():
                mask[t.is_program] = False  # no note can start: no instrument for one
        mask[t.is_dur] &= t.dur_steps <= self.room  # a lower note: no longer than its room
        if not mask.any():
            self.failed = True
            mask[tok.eos] = True
        return mask

    def advance(self, token: int) -> None:
        tok = self.tok
        kind = tok.kinds[token]
        self.history.append(token)
        if self.copy:
            self.copy.pop(0)
        if self.forced:
            self.forced.pop(0)
        if kind == "BAR":
            self.bar_start += self.state.bar_steps
            self.group, self.last_pitch = None, -1
            self.bars.append((self.bar_start, len(self.history)))
            self.copy = self._repeat()
        elif kind == "POS":
            self.group, self.last_pitch = self.bar_start + int(self.t.position_of[token]), -1
            self.group_times.append(self.group)
        elif kind == "PITCH":
            pitch = tok.config.pitch_low + token - tok.pitch_offset
            self.last_pitch = pitch
            m = self.melody[self.next] if self.next < len(self.melody) else None
            if m is not None and self.group == m.onset and pitch == m.pitch:
                self.forced = ([-1] if tok.vel_offset >= 0 else []) + tok.duration_tokens(m.duration)
                self.next, self.lower = self.next + 1, False
                self.room = m.duration
            else:
                self.room = int(self._limit(self.group)[pitch - tok.config.pitch_low])
                self.lower_ends.append(self.group)
                self.lower_notes.append((self.group, pitch))
                self.lower = True
        elif kind == "DUR":
            self.room -= token - tok.dur_offset + 1
            if self.lower:
                self.lower_ends[-1] += token - tok.dur_offset + 1
        self.state = tok.grammar.advance(self.state, token)


def harmonize(checkpoint, melody_piece: Piece, num_samples: int = 1, candidates: int = 8, seed: int = 0,
              temperature: float | None = None, voices: int = 4) -> tuple[list[Sample], list[MelodyNote]]:
    """Harmonized versions of a melody's top line (see the module docstring); `candidates` per
    sample, the critic's best of them kept (the first, without a critic); at most `voices` notes
    (the melody's included) sound at any onset (0: no limit). Returns the samples
    (the melody on its own program, `MELODY_PROGRAM`) and the melody as the grid holds it.

    Raises:
        MelodyGRUError: no melody, a melody too long, a meter the model has no bar for.
    """
    import tensorflow as tf

    from .choose import choose
    from .primer import meter_token
    from .settings import recommended_sampling

    tok = checkpoint.tokenizer
    if tok.config.shared_durations or tok.config.pitch_order != "up":
        raise MelodyGRUError("harmonize needs a model that gives every note its own duration and writes each "
                             "chord from the bass up (trained without --shared-durations and --pitch-order down)")
    if num_samples * candidates > MAX_ROWS:
        raise MelodyGRUError(f"{num_samples} x {candidates} candidates: at most {MAX_ROWS} in all")
    melody = melody_line(melody_piece, tok.config.steps_per_quarter)
    if not melody:
        raise MelodyGRUError("the melody has no notes to harmonize")
    if len(melody) > MAX_MELODY_NOTES:
        raise MelodyGRUError(f"the melody has {len(melody)} notes; at most {MAX_MELODY_NOTES} can be harmonized")
    low, high = tok.config.pitch_low, tok.config.pitch_high
    if not all(low <= m.pitch <= high for m in melody):
        raise MelodyGRUError(f"the melody leaves the model's pitch range ({low}-{high})")
    ts = melody_piece.time_signatures[0] if melody_piece.time_signatures else None
    meter = (ts.numerator, ts.denominator) if ts else (4, 4)
    prefix = [tok.bos] + ([tok.key_token(*estimate_key(melody_piece))] if tok.key_offset >= 0 else []) + [tok.bar]
    if meter != (4, 4):
        prefix.append(meter_token(tok, meter))
    rec = recommended_sampling(checkpoint.path)
    temps = kind_temperature_table(tok.grammar.kinds, rec["temperature"] if temperature is None else temperature,
                                   rec["temperatures"] if temperature is None else {})
    rows = num_samples * candidates
    rng = np.random.default_rng([seed, 0x4A12])
    state, tables = tok.grammar.state_after(np.array(prefix)), _Tables(tok)
    drafts = [_Row(tok, tables, melody, state, voices) for _ in range(rows)]
    step = checkpoint.decoder.step
    states = step.initial_states(rows)
    for t in prefix[:-1]:
        _, states = step.advance(tf.fill([rows], t), states)
    cur = np.full(rows, prefix[-1], np.int32)
    out = [[] for _ in range(rows)]
    done = np.zeros(rows, bool)
    bars = melody[-1].onset // max(1, state.bar_steps) + 2
    limit = sum(4 + 2 * len(tok.duration_tokens(m.duration)) for m in melody) * 6 + 2 * bars + 64
    for _ in range(limit):
        logits, states = step(tf.constant(cur), states)
        logits = logits.numpy()
        for i, r in enumerate(drafts):
            if done[i]:
                cur[i] = tok.pad
                continue
            mask = r.allowed()
            z = np.where(mask, logits[i], -np.inf)
            z = (z - z.max()) / temps
            p = np.exp(z - z.max())
            token = int(rng.choice(len(p), p=p / p.sum()))
            r.advance(token)
            out[i].append(token)
            cur[i] = token
            done[i] = token == tok.eos
        if done.all():
            break
    melody_notes = [Note(m.onset / tok.config.steps_per_quarter, m.duration / tok.config.steps_per_quarter, m.pitch,
                         program=MELODY_PROGRAM) for m in melody]
    top = {(n.onset, n.pitch) for n in melody_notes}
    drawn = []
    for i, r in enumerate(drafts):
        ids = np.array(prefix + out[i], np.int32)
        piece = tok.decode(ids)
        harmony = [n for n in piece.notes if (n.onset, n.pitch) not in top]
        keys = melody_piece.key_signatures or piece.key_signatures
        piece = piece.replace(notes=sorted(harmony + melody_notes, key=lambda n: (n.onset, n.pitch)),
                              tempos=melody_piece.tempos or piece.tempos, key_signatures=keys)
        drawn.append(Sample(ids, piece, len(out[i]), done[i] and not r.failed))
    rounds = [[drawn[k * num_samples + j] for j in range(num_samples)] for k in range(candidates)]
    for k in range(candidates):  # a candidate that met a dead end is never kept over one that did not
        rounds[k] = [s if s.ended else dataclasses.replace(s, piece=s.piece.replace(notes=[])) for s in rounds[k]]
    if candidates == 1 or checkpoint.critic is None:
        chosen = [next((rounds[k][j] for k in range(candidates) if rounds[k][j].ended), rounds[0][j])
                  for j in range(num_samples)]
    else:
        chosen = choose(rounds, checkpoint.critic, "best", seed)
    if not all(s.ended for s in chosen):
        raise MelodyGRUError("the model could not harmonize this melody within its constraints: try more --candidates")
    return chosen, melody


@dataclass
class HarmonizeResult:
    """What `harmonize_file` wrote, with the checks of every file (`check_harmony`)."""

    melody: str
    melody_notes: int
    files: list[dict]
    seconds: float

    def as_dict(self) -> dict:
        return {"melody": self.melody, "melody_notes": self.melody_notes, "seconds": round(self.seconds, 3),
                "samples": self.files}

    def lines(self) -> list[str]:
        out = [f"{self.melody}: {self.melody_notes} melody notes harmonized {len(self.files)} time(s) in "
               f"{self.seconds:.1f} s"]
        for f in self.files:
            out.append(f"{f['midi']}  {f['notes']} notes  {f['seconds']:.1f} s  melody kept {f['melody_kept']:.0%}, "
                       f"{f['below_melody']:.0%} of the other notes below it, 3+ voices at "
                       f"{f['three_voices']:.0%} of its onsets, parallel fifths / octaves with the bass "
                       f"{f['parallel_fifths']} / {f['parallel_octaves']}" + (f"  score {f['score']} and {f['svg']}" if f.get("score") else ""))
        return out


def harmonize_file(melody_path, checkpoint=None, out_dir="harmonized", num_samples: int = 1, candidates: int = 8,
                   seed: int = 0, temperature: float | None = None, voices: int = 4, piece: int = 1,
                   score: bool = False, force: bool = False) -> HarmonizeResult:
    """Everything `melodygru harmonize` does: read the melody file (its `piece`-th piece, for a
    file of several tunes), harmonize its top line and write MIDI (melody and harmony on their own
    tracks) and, with `score`, MusicXML and its engraved SVG page next to each file (the melody on
    a part of its own above the harmony's grand staff).

    Raises:
        MelodyGRUError: an unreadable melody, a piece number it lacks, or what `harmonize` raises.
    """
    import time

    from ..io.readers import read_file
    from ..io.score import write_score
    from .files import write_samples
    from .generate import load_checkpoint

    pieces = read_file(melody_path)
    if not 1 <= piece <= len(pieces):
        raise MelodyGRUError(f"{melody_path} holds {len(pieces)} piece(s); --piece {piece} is not one of them")
    ckpt = load_checkpoint(checkpoint)
    if candidates > 1 and ckpt.critic is None and ckpt.critic_error:
        raise MelodyGRUError(ckpt.critic_error)
    start = time.perf_counter()
    samples, melody = harmonize(ckpt, pieces[piece - 1], num_samples, candidates, seed, temperature, voices)
    seconds = time.perf_counter() - start
    files = []
    for s, f in zip(samples, write_samples(samples, out_dir, force=force)):
        row = {**f.as_dict(), **check_harmony(melody, s.piece, ckpt.tokenizer.config.steps_per_quarter)}
        if score:
            sheet = write_score(s.piece, f.midi.with_suffix(".musicxml"), title=f.midi.stem)
            row.update(score=str(sheet.musicxml), svg=str(sheet.svg), score_report=sheet.report.describe())
        files.append(row)
    return HarmonizeResult(str(melody_path), len(melody), files, seconds)
