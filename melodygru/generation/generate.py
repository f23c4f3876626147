"""`melodygru generate`: load a run directory, prime, sample, and write MIDI (+ WAV / PNG).

A run directory holds everything sampling needs (STYLE.md example 3): `model.keras`,
`tokenizer.json` and `config.json`. A missing file or a model that does not match its tokenizer is
a `CheckpointError` with one line saying which.

Output files are never overwritten unless `force=True`: each sample takes the first free number
`sample-001`, `sample-002`, ... for which no file of that name (`files.OUTPUT_SUFFIXES`) exists yet, so
a second run adds files next to the first run's instead of replacing them. With `force`, samples
are numbered from 001 and replace what is there.

Every file plays what the tokens say (see `writers`); what MIDI could not hold exactly (more than
15 instruments at once, a primer's tempo slower than a MIDI file can store) is printed on the
file's line. A `tempo` option MIDI cannot store is refused before the model is loaded.
"""


from __future__ import annotations

import dataclasses
import secrets
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..analysis.critic import best_of, weighted_choice
from ..core.errors import CheckpointError, MelodyGRUError
from ..core.events import Piece, Tempo
from ..core.keys import long_key_name, parse_key
from ..model.bundle import bundle_of
from ..model.rundir import FORM, RUN_FILES, check_run_dir
from ..tokens.form import MAX_BARS, plan_matrix
from ..tokens.styles import style_name
from .checkpoint import Checkpoint, load_run
from .choose import choose, clean_scores, key_penalties, key_rule, limit_voices, read_critic, redraw_off_key, resample_groups
from .files import GenerateResult, Sample, write_samples  # noqa: F401  (GenerateResult: part of this API)
from .length import CHECK_EVERY, DEFAULT_LENGTH, Stop, clip, cut_at_end
from .primer import (Primer, check_key, check_meter, check_style, controls, forced_ids, load_primer, meter_token, parse_meter,
                     prefix_ids)
from .samplers import kind_temperatures as kind_temperature_table
from .settings import (  # noqa: F401  (recommended_sampling and the limits are part of this module's API)
    DEFAULT_CANDIDATES,
    MAX_CANDIDATES,
    MAX_TEMPO,
    MAX_SCALE_PENALTY,
    SAMPLING_DEFAULTS,
    SAMPLING_FILE,
    SELECTIONS,
    TEMPERATURE_KINDS,
    check_tempo,
    recommended_sampling,
)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "bach"
MAX_SEED = 2**31 - 1
CANDIDATE_ROWS = 2048  # candidates decoded together in one batch at most

# --------------------------------------------------------------------------- the run directory
_LOADED: dict[tuple, Checkpoint] = {}


def load_checkpoint(path=None, with_critic: bool = True) -> Checkpoint:
    """Load a run directory (default: the shipped `checkpoints/bach`), reusing one already loaded
    in this process when its files have not changed. Without `with_critic` its critic.json is
    not read (fitting a new critic must not need the old one to be usable).

    Raises:
        CheckpointError: the directory or one of its files is missing, unreadable, or the model
            does not match the tokenizer or the config.
    """
    default = path is None
    path = Path(DEFAULT_CHECKPOINT if default else path)
    check_run_dir(path, hint="a fresh clone has it under checkpoints/bach" if default else None)
    files = RUN_FILES + ((FORM,) if (path / FORM).exists() else ())  # form.json too: plans must not go stale
    key = (str(path.resolve()),) + tuple((path / n).stat().st_mtime_ns for n in files) \
        + tuple((path / n).stat().st_size for n in files)
    if key not in _LOADED:
        _LOADED.clear()  # keep at most one model in memory
        _LOADED[key] = load_run(path)
    if not with_critic:
        return _LOADED[key]
    # the critic is read on every call (a small file): fitting one must not reload the model
    try:
        return dataclasses.replace(_LOADED[key], critic=read_critic(path))
    except CheckpointError as e:  # a plain draw needs no critic: the error waits for --candidates
        return dataclasses.replace(_LOADED[key], critic_error=str(e))


# --------------------------------------------------------------------------- sampling
def sample(checkpoint: Checkpoint, length: int = 512, num_samples: int = 1, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, seed: int = 0, primer: Primer | None = None,
           allow_end: bool = False, tempo: float | None = None, program: int | None = None,
           form: bool = False, kind_temperatures: dict | None = None, monophonic: bool = False,
           candidates: int = 1, selection: str = "best", voices: int = 0,
           scale_penalty: float = 0.0, resample_every: int = 0, key: tuple[int, bool] | None = None,
           meter: tuple[int, int] | None = None, style: str | None = None, stop: Stop | None = None,
           match_all: float = 0.0, keep_mode: bool = False, mode_share: bool = False) -> list[Sample]:
    """Sample `num_samples` pieces of `length` new tokens each (fewer if `allow_end` and EOS came,
    or where `stop` cuts them).

    Args:
        temperature: divides the logits; 0 is greedy.
        kind_temperatures: a temperature per token kind that replaces `temperature` for the tokens
            of that kind (e.g. {"PITCH": 0.9}).
        monophonic: one note at a time: at most one note starts at each onset (no chords), and a
            note still sounding when the next one starts ends there.
        voices: at most this many notes sound at once (0: no limit): where a note starts and more
            would, the notes held longest end there (`limit_voices`).
        scale_penalty: nats taken from every pitch outside the diatonic scale that holds most of
            the sample's notes so far, once 8 notes are heard (`decoder.scale_bias`; 0: off): fewer
            stray notes outside the key, while a tune may still leave it.
        form: give every sample the form plan of a random training piece (the run's form.json):
            its repeated bars are copied from the sample's own earlier bars (see tokens/form.py).
        candidates: draw this many candidates for every sample and keep the one the run's critic
            (critic.json, `analysis/critic.py`) finds most like the corpus and, for a key model, in its
            key (`choose.off_key`; with a `key` asked for, a sample with no candidate clearly in it
            draws fresh rounds, see `choose.redraw_off_key`); 1 draws once. Candidate 0 is what
            `candidates=1` gives.
        selection: how the critic chooses: 'best' keeps the highest score, 'weighted' draws a
            candidate with probability proportional to exp(score) (`analysis.critic.weighted_choice`),
            'matched' chooses for all samples together (`analysis.critic.matched_choice`; with
            `resample_every` the final choice is then 'best').
        match_all: with the 'matched' selection, the weight of every other critic feature's spread
            in the choice (`analysis.critic.matched_choice`; 0: the 13 matched features only).
        keep_mode: a model with key tokens keeps, among each sample's candidates, the mode (major
            or minor) of the key its plain draw drew (`choose.choose`).
        mode_share: with no `key` asked for, the chosen candidates' share in minor (the critic's
            own key estimate) is brought to its training pieces' share: every candidate in minor
            gains the one score bonus that does it (`choose.share_bonus`; plain choice only, not
            with `resample_every`).
        resample_every: with candidates, every this many tokens (0: never) the critic scores each
            candidate's music so far and the candidates of each sample are drawn again by
            exp(score gain) (`choose.resample_groups`: sequential Monte Carlo), so the rest of the
            tokens go to the openings it finds most like the corpus; at the end `selection`
            chooses as usual ('weighted' by the gain since the last resampling). Candidate 0 is
            then no longer the plain draw.
        top_k, top_p: 0 / 1.0 switch them off.
        key: (tonic 0..11, minor) forced as the KEY token of a model with key tokens. None: the
            model draws each sample's key at temperature 1 (unless `temperature` is 0 or
            `kind_temperatures` names KEY), so the samples keep the corpus's share of keys.
        meter: (beats, note value): every sample opens with this meter and never changes it.
        style: one of the styles of a model trained with them (`tokens/styles.py`), forced as the
            STYLE token. None: drawn at temperature 1, as the key is.
        stop: a length in bars and/or seconds: every sample stops at the first bar line at or after
            it (`length.Stop`; `length` stays the most tokens drawn).
        seed: the same seed, checkpoint and settings give the same pieces.
        primer: an opening to continue (its tempo, meter and key carry over).
        tempo: one tempo in bpm for the whole output, replacing the model's and the primer's.
        program: General MIDI program for every pitched note. Without it, a model that merges
            instruments plays in the primer's main instrument, or piano.

    Raises:
        MelodyGRUError: `form` without form plans, `candidates` > 1 without a critic, `key` for a
            model without key tokens or with a primer (the primer states its own key).
    """
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or not 1 <= candidates <= MAX_CANDIDATES:
        raise MelodyGRUError(f"candidates must be a whole number in 1..{MAX_CANDIDATES}, got {candidates!r}")
    if selection not in SELECTIONS:
        raise MelodyGRUError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    if isinstance(voices, bool) or not isinstance(voices, (int, np.integer)) or not 0 <= voices <= 128:
        raise MelodyGRUError(f"voices must be a whole number in 0..128, got {voices!r}")
    if isinstance(resample_every, bool) or not isinstance(resample_every, (int, np.integer)) or resample_every < 0:
        raise MelodyGRUError(f"resample_every must be a whole number >= 0, got {resample_every!r}")
    if isinstance(scale_penalty, bool) or not isinstance(scale_penalty, (int, float, np.number)) \
            or not 0 <= scale_penalty <= MAX_SCALE_PENALTY:
        raise MelodyGRUError(f"scale penalty must be a number in 0..{MAX_SCALE_PENALTY}, got {scale_penalty!r}")
    if candidates > 1 and checkpoint.critic_error:
        raise CheckpointError(checkpoint.critic_error)
    if candidates > 1 and checkpoint.critic is None:
        raise MelodyGRUError(f"checkpoint {checkpoint.path} has no critic (critic.json) to choose among candidates: "
                             f"fit one with `melodygru critic --checkpoint {checkpoint.path}`, or use --candidates 1")
    if candidates > 1 and selection == "matched" and match_all > 0 and checkpoint.critic.all_mean is None:
        raise MelodyGRUError(f"match_all needs the training pieces' spread of every feature, which the critic of "
                             f"{checkpoint.path} does not keep: add it with `melodygru critic --checkpoint "
                             f"{checkpoint.path} --reference-only`, or set match_all to 0")
    if form and not checkpoint.plans:
        raise MelodyGRUError(f"checkpoint {checkpoint.path} has no form plans (form.json): sample without --form")
    if key is not None:
        check_key(checkpoint.tokenizer, checkpoint.path, primer)
        key = (int(key[0]) % 12, bool(key[1]))
    style_id = check_style(checkpoint.tokenizer, checkpoint.path, style, primer) if style is not None else None
    if meter is not None:
        check_meter(checkpoint.tokenizer, meter, primer, key, length, style_id)
    args = (temperature, top_k, top_p)
    rest = (primer, allow_end, tempo, program, form, kind_temperatures, monophonic, voices, float(scale_penalty), key,
            meter, style_id, stop or Stop())
    if candidates > 1 and 0 < resample_every < length:
        tok, prefix = checkpoint.tokenizer, prefix_ids(checkpoint.tokenizer, primer, key, meter, style_id)

        def partial_piece(row):  # the music so far of a row still being drawn, as the critic reads it
            ids = cut_at_end(tok, prefix, row)[0]
            piece = _voiced(tok.decode(ids), primer, monophonic, voices)
            at = stop.cut(ids, len(prefix), tok, lambda: _finish(piece, primer, tempo, None)) if stop else None
            return clip(piece, at[1]) if at else piece

        return _sample_population(checkpoint, length, num_samples, args, seed, rest, candidates, selection,
                                  int(resample_every), partial_piece, key is not None)
    rounds = [_sample_once(checkpoint, length, num_samples, *args, seed, *rest)]  # candidate 0: the plain draw
    per_call = max(1, CANDIDATE_ROWS // num_samples)  # the other candidates as few large batches
    for first in range(1, candidates, per_call):
        k = min(per_call, candidates - first)
        call_seed = _derived_seed(seed, first)
        drawn = _sample_once(checkpoint, length, num_samples * k, *args, call_seed, *rest)
        rounds += [drawn[j * num_samples:(j + 1) * num_samples] for j in range(k)]
    if len(rounds) == 1:
        return rounds[0]
    if key is not None and checkpoint.tokenizer.config.key_tokens:
        def draw(count, r, first):  # `count` fresh candidates for the redraw `r`'s rows from `first`
            return _sample_once(checkpoint, length, count, *args, _derived_seed(seed, MAX_CANDIDATES + r, first), *rest)

        redraw_off_key(rounds, draw, CANDIDATE_ROWS)
    return choose(rounds, checkpoint.critic, selection, seed, length, checkpoint.tokenizer.config.key_tokens,
                  key is not None, float(match_all), bool(keep_mode), bool(mode_share))


def _derived_seed(*parts) -> int:
    """A seed for one decode call of a sample(): drawn from the user's seed and the call's place."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0]) & MAX_SEED


def _sample_population(checkpoint, length, num_samples, args, seed, rest, candidates, selection, every,
                       partial_piece, requested: bool) -> list[Sample]:
    """`candidates` rows per sample decoded together and resampled by the critic every `every`
    tokens (see `sample`; `partial_piece` turns a row drawn so far into what the critic reads;
    `requested`: the key was asked for, see `choose.key_penalties`);
    samples go through in as few batches of at most `CANDIDATE_ROWS` rows as their candidates
    allow."""
    critic, keyed = checkpoint.critic, checkpoint.tokenizer.config.key_tokens
    per_call = max(1, CANDIDATE_ROWS // candidates)
    out: list[Sample] = []
    for first in range(0, num_samples, per_call):
        groups = min(per_call, num_samples - first)
        call_seed = _derived_seed(seed, first, candidates)
        rng = np.random.default_rng([seed, first, every])
        previous = np.zeros(groups * candidates)

        def steer(tokens, done, previous=previous, rng=rng):
            now = np.array([critic.score(partial_piece(row)) for row in tokens])
            rows = resample_groups(now, previous, candidates, rng)
            previous[:] = now[rows]
            return rows

        drawn = _sample_once(checkpoint, length, groups * candidates, *args, call_seed, *rest, every=every,
                             steer=steer)
        penalties = key_penalties([s.piece for s in drawn], keyed, requested).reshape(groups, candidates)
        final = np.array([critic.score(s.piece) for s in drawn]).reshape(groups, candidates) - penalties
        if selection == "weighted":  # by the gain since the last resampling (candidates x samples)
            gain = (clean_scores(final) - clean_scores(previous.reshape(groups, candidates))).T
        else:
            gain = clean_scores(final).T
        if requested:  # the key asked for is a rule here too (`choose.key_rule`)
            gain = key_rule(gain, penalties.T)
        keep = weighted_choice(gain, rng) if selection == "weighted" else best_of(gain)
        for g, k in enumerate(keep):
            score = final[g, k]
            out.append(dataclasses.replace(drawn[g * candidates + k], critic_score=float(score) if np.isfinite(score)
                                           else None, candidate=int(k)))
    return out


def _voiced(piece: Piece, primer, monophonic, voices) -> Piece:
    """`piece` with the voice limit `--monophonic` / `--voices` asks for (new music only)."""
    if monophonic or voices:
        piece = limit_voices(piece, 1 if monophonic else voices, after=primer.split if primer else 0.0)
    return piece


def _sample_once(checkpoint, length, num_samples, temperature, top_k, top_p, seed, primer, allow_end, tempo,
                 program, form, kind_temperatures, monophonic, voices, scale_penalty, key, meter, style_id, stop,
                 every=0, steer=None) -> list[Sample]:
    tokenizer = checkpoint.tokenizer
    prefix = prefix_ids(checkpoint.tokenizer, primer, key, meter, style_id)
    if temperature > 0:  # a style or key the model draws, drawn as often as in its corpus
        kind_temperatures = {**{k: 1.0 for k in ("KEY", "STYLE") if k in tokenizer.kinds}, **(kind_temperatures or {})}
    temps = kind_temperature_table(tokenizer.grammar.kinds, temperature, kind_temperatures)
    plan = None
    if form:
        bars = int(np.count_nonzero(prefix == tokenizer.index["BAR"]))
        plan = plan_matrix(checkpoint.plans, num_samples, seed, min(MAX_BARS, bars + length // 4 + 2))
    if program is None and primer is not None and not tokenizer.config.programs:
        programs = Counter(n.program for n in primer.piece.notes if not n.is_drum)
        program = programs.most_common(1)[0][0] if programs else None

    def written(ids, strict=True):  # the music of `ids` as it is written
        return _finish(_voiced(tokenizer.decode(ids, strict=strict), primer, monophonic, voices), primer, tempo, program)

    def until(tokens, done):  # the rows that have drawn the bar line they stop at
        return [d or stop.cut(ids, len(prefix), tokenizer, lambda: written(ids, False)) is not None
                for ids, d in ((np.concatenate([prefix, row]), d) for row, d in zip(tokens, done))]

    new = checkpoint.decoder.generate(prefix, length, num_samples=num_samples, temperature=temps,
                                      top_k=top_k, top_p=top_p, seed=seed, allow_end=allow_end, plan=plan,
                                      monophonic=monophonic, scale_penalty=scale_penalty, every=every, steer=steer,
                                      banned=_banned(checkpoint, key, meter, style_id),
                                      forced=forced_ids(tokenizer, primer, key, meter, style_id),
                                      until=until if stop else None, check_every=CHECK_EVERY)
    samples = []
    for row in new:
        ids, ended = cut_at_end(tokenizer, prefix, row)
        piece = written(ids)
        at = stop.cut(ids, len(prefix), tokenizer, lambda: piece) if stop else None
        if at is not None:  # the bar line asked for: the tokens before it, the notes cut there
            ids, piece = ids[:at[0]], clip(piece, at[1])
        samples.append(Sample(ids, piece, int(len(ids) - len(prefix)), ended, reached=at is not None))
    return samples


def _banned(checkpoint, key, meter, style_id) -> np.ndarray | None:
    """Tokens never drawn: every TS once a meter is asked for, and every KEY when the style before a
    requested key is drawn (the grammar would let a KEY take the style's place; the forced KEY
    after it is written all the same)."""
    tok = checkpoint.tokenizer
    ids = list(np.flatnonzero(checkpoint.decoder.tables.is_ts)) if meter else []
    if key is not None and style_id is None and tok.style_offset >= 0:
        ids += range(tok.key_offset, tok.key_offset + 24)
    return np.array(ids, np.int64) if ids else None


def _finish(piece: Piece, primer: Primer | None, tempo: float | None, program: int | None) -> Piece:
    tempos, keys = piece.tempos, piece.key_signatures
    if primer is not None:  # the file's exact tempo map and keys over the opening, the model's after it
        tempos = [t for t in primer.piece.tempos if t.time <= primer.split] + \
                 [t for t in piece.tempos if t.time > primer.split]
        keys = [k for k in primer.piece.key_signatures if k.time <= primer.split]
    if tempo is not None:
        tempos = [Tempo(0.0, float(tempo))]
    notes = piece.notes
    if program is not None:
        notes = [n if n.is_drum else dataclasses.replace(n, program=int(program)) for n in notes]
    return piece.replace(notes=notes, tempos=tempos, key_signatures=keys)


# --------------------------------------------------------------------------- the command
def generate(checkpoint=None, length: int | None = DEFAULT_LENGTH, num_samples: int = 1, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None, primer=None, primer_bars: int = 4,
             allow_end: bool | None = None, tempo: float | None = None, program: int | None = None,
             out_dir="samples", audio: bool = False, plot: bool = False, force: bool = False,
             audio_format: str = "wav", score: bool = False, max_audio_seconds: float | None = None,
             form: bool | None = None, monophonic: bool | None = None,
             candidates: int | None = None, selection: str | None = None, voices: int | None = None,
             scale_penalty: float | None = None, resample_every: int | None = None,
             key: str | None = None, meter: str | None = None, style: str | None = None,
             bars: int | None = None, seconds: float | None = None, match_all: float | None = None,
             keep_mode: bool | None = None, mode_share: bool | None = None) -> GenerateResult:
    """Load a run directory, sample, and write the files: everything `melodygru generate` does.

    Args:
        checkpoint: run directory; None is the shipped default model; or a `Checkpoint` already
            loaded (by `load_checkpoint`), used as it is: a server keeps one per model.
        length: new tokens per sample (after the primer), at most; None: `DEFAULT_LENGTH`, or with
            `bars` / `seconds` a budget that fits them (`Stop.budget`).
        bars, seconds: stop every sample at the piece's first bar line at or after this many bars
            or seconds (primer included; with both, whichever comes first; see `length.py`). The
            model's own early end is then off unless `allow_end` is given.
        temperature, top_k, top_p, allow_end, form, monophonic, voices, candidates, selection, scale_penalty,
            resample_every, match_all, keep_mode, mode_share: None takes the run directory's
            recommended value (`recommended_sampling`: its sampling.json, else 1.0 / 0 / 1.0 / off / off / off,
            and `DEFAULT_CANDIDATES` candidates when the run has a critic, else 1). An explicit
            temperature also replaces the recommended per-kind temperatures, and explicit voices
            (without `monophonic`) the recommended one note at a time: voices=1 is monophonic.
        seed: None draws one (reported, so the run can be repeated).
        key: a key name ('D minor', 'Dm', 'F# major', 'Bb') for a model trained with key tokens.
        meter: '3/4', '6/8', ...: the meter of every sample, throughout.
        style: a style of a model trained with styles (`--help-controls` lists them).
        primer: path of a MIDI or score file whose first `primer_bars` bars (0: all) open every sample.
        tempo: see `sample`; one a MIDI file cannot store is refused before anything is loaded.
        audio, audio_format, plot, score: the files written beside each MIDI file: audio (wav, flac
            or ogg; `io/audio.py`), a piano-roll PNG, a MusicXML score with its SVG page (`io/score.py`).
        max_audio_seconds: a sample longer than this gets no audio file (its line says why); None:
            no limit (the studio sets one, so one request cannot fill the memory and the disk).
        Other arguments: see `sample` and `write_samples`.

    Raises:
        CheckpointError, ReaderError, MelodyGRUError: with a one-line message.
    """
    stop = Stop(bars, seconds)
    length = (stop.budget() if stop else DEFAULT_LENGTH) if length is None else length
    if length < 1 or num_samples < 1:
        raise MelodyGRUError("length and num-samples must be at least 1")
    if tempo is not None:
        check_tempo(tempo)
    if seed is None:
        seed = secrets.randbelow(MAX_SEED + 1)
    try:
        wanted_key = parse_key(key) if key is not None else None
    except ValueError as e:
        raise MelodyGRUError(str(e)) from None
    wanted_meter = parse_meter(meter) if meter is not None else None
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    if wanted_key is not None:
        check_key(ckpt.tokenizer, ckpt.path, primer)
    if wanted_meter is not None:
        meter_token(ckpt.tokenizer, wanted_meter, primer)
    if style is not None:
        check_style(ckpt.tokenizer, ckpt.path, style, primer)
    recommended = recommended_sampling(ckpt.path)
    kinds = recommended["temperatures"] if temperature is None else {}
    temperature = recommended["temperature"] if temperature is None else temperature
    top_k = recommended["top_k"] if top_k is None else top_k
    top_p = recommended["top_p"] if top_p is None else top_p
    allow_end = (recommended["allow_end"] and not stop) if allow_end is None else allow_end  # a length asked for
    form = (recommended["form"] and bool(ckpt.plans)) if form is None else form
    if monophonic is None:  # an explicit voice limit replaces a recommended one-note-at-a-time
        monophonic = recommended["monophonic"] if voices is None else voices == 1
    if candidates is None:
        candidates = recommended["candidates"] or (DEFAULT_CANDIDATES if ckpt.critic is not None else 1)
        if ckpt.critic is None and not ckpt.critic_error:
            candidates = 1  # a sampling.json asking for candidates of a run whose critic was removed
    selection = recommended["selection"] if selection is None else selection  # `sample` checks all three
    voices = recommended["voices"] if voices is None else voices
    scale_penalty = recommended["scale_penalty"] if scale_penalty is None else scale_penalty
    resample_every = recommended["resample_every"] if resample_every is None else resample_every
    match_all = recommended["match_all"] if match_all is None else match_all
    keep_mode = recommended["keep_mode"] if keep_mode is None else keep_mode
    mode_share = recommended["mode_share"] if mode_share is None else mode_share
    loaded_primer = load_primer(primer, ckpt.tokenizer, primer_bars) if primer is not None else None
    start = time.perf_counter()
    samples = sample(ckpt, length, num_samples, temperature, top_k, top_p, seed, loaded_primer,
                     allow_end, tempo, program, form=form, kind_temperatures=kinds, monophonic=monophonic,
                     candidates=candidates, selection=selection, voices=voices, scale_penalty=scale_penalty,
                     resample_every=resample_every, key=wanted_key, meter=wanted_meter, style=style, stop=stop,
                     match_all=match_all, keep_mode=keep_mode, mode_share=mode_share)
    decode_seconds = time.perf_counter() - start
    files = write_samples(samples, out_dir, audio=audio, plot=plot, force=force, audio_format=audio_format, score=score,
                          max_audio_seconds=max_audio_seconds)
    settings = {"length": length, "num_samples": num_samples, "temperature": temperature, "top_k": top_k,
                "top_p": top_p, "temperatures": kinds, "allow_end": allow_end, "form": form,
                "monophonic": monophonic, "voices": voices, "candidates": candidates, "selection": selection,
                "scale_penalty": scale_penalty, "resample_every": resample_every if candidates > 1 else 0,
                "match_all": match_all if candidates > 1 and selection == "matched" else 0.0,
                "keep_mode": bool(keep_mode and candidates > 1 and ckpt.tokenizer.config.key_tokens),
                "mode_share": bool(mode_share and candidates > 1 and not wanted_key and not resample_every),
                "tempo": tempo, "key": long_key_name(*wanted_key) if wanted_key else None, "meter": "%d/%d" % wanted_meter if wanted_meter else None,
                "style": style_name(style) if style is not None else None,
                "program": program, "ended": sum(s.ended for s in samples), "controls": controls(ckpt.tokenizer),
                **({"bars": bars, "seconds": seconds, "stop": stop.describe(), "reached": sum(s.reached for s in samples)}
                   if stop else {})}
    return GenerateResult(bundle_of(ckpt.path) or ckpt.path, ckpt.description, seed, settings, loaded_primer, files,
                          decode_seconds)
