"""Held-out likelihood of a run directory's model (per token, note and quarter note, by token kind)
and the n-gram and unigram baselines fitted on the same training pieces.
"""


from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from ..core.errors import CheckpointError, MelodyGRUError, TokenizerError
from ..core.units import LN2
from ..tokens.timing import quarters_of
from ..tokens.tokenizer import Tokenizer
from .ngram import NGramModel, UnigramModel

# A note is 2-4 tokens (PITCH [VEL] DUR, and a POS per onset), so 6 sees at least one whole note back; on the Bach chorales
# (90/10 split) held-out nats/token fall 1.63 (3), 1.27 (4), 1.18 (5), 1.17 (6): 6 is the strongest
# baseline within the usual 3-6.
DEFAULT_NGRAM_ORDER = 6


# --------------------------------------------------------------------------- helpers
def _check_ids(pieces_ids, tokenizer: Tokenizer) -> list[np.ndarray]:
    out = []
    for i, ids in enumerate(pieces_ids):
        a = np.asarray(ids).reshape(-1)
        if a.size and a.dtype.kind not in "iu":
            raise MelodyGRUError(f"piece {i}: token ids must be integers, not {a.dtype}")
        a = a.astype(np.int64)
        if a.size and (a.min() < 0 or a.max() >= len(tokenizer)):
            raise MelodyGRUError(f"piece {i}: token id outside the vocabulary of {len(tokenizer)}")
        if a.size >= 2:  # a piece with nothing to predict adds nothing
            out.append(a)
    if not out:
        raise MelodyGRUError("no pieces with tokens to evaluate")
    return out


# the quarter-note steps a piece spans; one definition for training and evaluation
quarter_steps = quarters_of


def rates(total_nats: float, tokens: int, notes: int, quarters: int) -> dict:
    """Total NLL divided by tokens, notes and quarter notes, in nats and bits, plus perplexity."""
    out = {"nll_nats": total_nats, "tokens": tokens, "notes": notes, "quarters": quarters}
    for unit, n in (("token", tokens), ("note", notes), ("quarter", quarters)):
        out[f"nats_per_{unit}"] = total_nats / n if n else math.nan
        out[f"bits_per_{unit}"] = total_nats / n / LN2 if n else math.nan
    out["perplexity"] = math.exp(out["nats_per_token"]) if tokens else math.nan
    return out


def piece_rates(total_nats: float, pieces, tokenizer: Tokenizer) -> dict:
    """`rates` of a total NLL over pieces (checked ids): their targets, notes and quarter notes."""
    tokens = int(sum(len(p) - 1 for p in pieces))
    notes = int(sum(tokenizer.pitch_mask(p).sum() for p in pieces))
    quarters = int(sum(quarter_steps(p, tokenizer) for p in pieces))
    return rates(total_nats, tokens, notes, quarters)


def _batches(lengths: list[int], batch_tokens: int, max_batch: int) -> list[list[int]]:
    """Piece indices grouped by similar length, each group's padded size within `batch_tokens`."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups, current = [], []
    for i in order:
        # sorted ascending, so the newest piece is the longest: it sets the padded length
        if current and ((len(current) + 1) * lengths[i] > batch_tokens or len(current) >= max_batch):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


# --------------------------------------------------------------------------- likelihood
def load_run_tokenizer(run_dir) -> Tokenizer:
    """The tokenizer saved in a run directory.

    Raises:
        CheckpointError: the directory or its tokenizer.json is missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is not a directory" if run_dir.exists() else "does not exist"
        raise CheckpointError(f"checkpoint {run_dir} {what} (expected a run directory from `melodygru train`)")
    path = run_dir / "tokenizer.json"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {run_dir} is incomplete: missing tokenizer.json")
    try:
        return Tokenizer.load(path)
    except TokenizerError as e:
        raise CheckpointError(f"checkpoint {run_dir}: {e}") from None


def likelihood(run_dir, pieces_ids, tokenizer: Tokenizer, batch_tokens: int = 16384, max_batch: int = 64) -> dict:
    """Negative log-likelihood of held-out pieces under the model in `run_dir`.

    Every piece runs through the model in full (no windows): pieces of similar length are batched,
    padded after EOS with PAD, and padded targets are left out of the sums.

    Args:
        run_dir: a run directory holding `model.keras`, `tokenizer.json` and `config.json` (the
            model is rebuilt from it, in float32).
        pieces_ids: token ids per piece, BOS first (as `Tokenizer.encode` gives them).
        tokenizer: the tokenizer the ids were encoded with; must equal the run's.
        batch_tokens: padded tokens per batch (bounds memory: batch x time x vocab float32 logits).
        max_batch: pieces per batch at most.

    Returns:
        `rates(...)` of the total (nats and bits per token / note / quarter, perplexity), plus
        'pieces', 'piece_nll' (nats per piece, in input order; pieces with < 2 tokens left out) and
        'by_kind': where the NLL goes, {kind: {tokens, nats, nats_per_token, share}} for every token
        kind that is predicted (PITCH, DUR, POS, BAR, ...), largest share first.

    Raises:
        CheckpointError: the run directory or a file in it is missing, unreadable, or does not match.
        MelodyGRUError: no piece has a token to predict, or an id is outside the vocabulary.
    """
    run_dir = Path(run_dir)
    run_tokenizer = load_run_tokenizer(run_dir)
    if not (run_dir / "model.keras").is_file():
        raise CheckpointError(f"checkpoint {run_dir} is incomplete: missing model.keras")
    if run_tokenizer != tokenizer:
        raise CheckpointError(
            f"checkpoint {run_dir}: its tokenizer.json differs from the tokenizer the pieces were encoded with"
        )
    pieces = _check_ids(pieces_ids, tokenizer)
    model = _load_model(run_dir, len(tokenizer))

    import tensorflow as tf

    # one trace for every batch shape; eager GRU loops would be far slower on long pieces
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                          input_signature=[tf.TensorSpec([None, None], tf.int32)])
    lengths = [len(p) - 1 for p in pieces]
    piece_nll = np.zeros(len(pieces))
    kinds = np.array(tokenizer.kinds)
    kind_nats: dict[str, float] = {}
    kind_tokens: dict[str, int] = {}
    for group in _batches(lengths, batch_tokens, max_batch):
        T = max(lengths[i] for i in group)
        x = np.full((len(group), T), tokenizer.pad, dtype=np.int32)
        y = np.full((len(group), T), tokenizer.pad, dtype=np.int64)
        for row, i in enumerate(group):
            x[row, : lengths[i]] = pieces[i][:-1]
            y[row, : lengths[i]] = pieces[i][1:]
        logits = np.asarray(forward(tf.constant(x)), dtype=np.float64)
        top = logits.max(axis=-1, keepdims=True)
        log_z = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        picked = np.take_along_axis(logits, y[..., None], axis=-1)[..., 0]
        nll = log_z - picked
        valid = np.arange(T)[None, :] < np.array([lengths[i] for i in group])[:, None]
        for row, i in enumerate(group):
            piece_nll[i] = nll[row][valid[row]].sum()
        target_kinds, target_nll = kinds[y[valid]], nll[valid]
        for kind in np.unique(target_kinds):
            mine = target_kinds == kind
            kind_nats[str(kind)] = kind_nats.get(str(kind), 0.0) + float(target_nll[mine].sum())
            kind_tokens[str(kind)] = kind_tokens.get(str(kind), 0) + int(mine.sum())
    total = float(piece_nll.sum())
    out = piece_rates(total, pieces, tokenizer)
    out["pieces"] = len(pieces)
    out["piece_nll"] = piece_nll.tolist()
    out["by_kind"] = {
        k: {"tokens": kind_tokens[k], "nats": kind_nats[k], "nats_per_token": kind_nats[k] / kind_tokens[k],
            "share": kind_nats[k] / total if total else math.nan}
        for k in sorted(kind_nats, key=lambda k: -kind_nats[k])
    }
    return out


def _load_model(run_dir: Path, vocab_size: int | None = None):
    """The run's best model in float32: rebuilt from config.json, weights read from model.keras.

    Not `keras.saving.load_model`: it restores the dtype policy the model was saved with, so a run
    trained with mixed precision on a GPU would be scored in float16 (and on a CPU). The run
    directory's own loader (`rundir.load_trained`, the sampler's) computes in float32, and it reads
    only weights from model.keras, so no code a .keras file may carry ever runs.

    Args:
        vocab_size: when given, the tokens the model must predict.
    """
    from ..core.tfenv import import_tensorflow

    import_tensorflow()
    from ..model import rundir as rd

    run_dir = Path(run_dir)
    if not (run_dir / rd.CONFIG).is_file():
        raise CheckpointError(f"checkpoint {run_dir} is incomplete: missing {rd.CONFIG}")
    try:
        model, _, model_config = rd.load_trained(run_dir, compute_dtype="float32", gru_only=False)
    except CheckpointError as e:
        # one line (Keras' messages for damaged files run over several), files named inside run_dir
        first = (str(e).splitlines() or [""])[0].rstrip().replace(f"{run_dir}{os.sep}", "")
        raise CheckpointError(f"checkpoint {run_dir}: {first}") from None
    if vocab_size is not None and model_config.vocab_size != vocab_size:
        raise CheckpointError(
            f"checkpoint {run_dir}: its model predicts {model_config.vocab_size} tokens, not {vocab_size}; "
            "the files come from different runs"
        )
    return model


# --------------------------------------------------------------------------- baselines
def training_sources(run_dir) -> tuple[list[str], list[str]] | None:
    """(paths, corpora) a run was trained on, as recorded in its config.json, or None.

    Reads `config["data"]` (or the top level) for 'paths' / 'train_paths' and 'corpora' /
    'train_corpora'.
    """
    try:
        config = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    for where in (config.get("data"), config):
        if not isinstance(where, dict):
            continue
        paths = where.get("train_paths", where.get("paths")) or []
        corpora = where.get("train_corpora", where.get("corpora")) or []
        if isinstance(paths, str):
            paths = [paths]
        if isinstance(corpora, str):
            corpora = [corpora]
        if (paths or corpora) and all(isinstance(p, str) for p in [*paths, *corpora]):
            return list(paths), list(corpora)
    return None


def baselines(train_ids, heldout_ids, tokenizer: Tokenizer, order: int = DEFAULT_NGRAM_ORDER) -> dict:
    """Held-out NLL of a Kneser-Ney n-gram and an add-one unigram fitted on `train_ids`.

    Training pieces identical to a held-out piece are left out first (counted in
    'dropped_overlap'), so a held-out set that is also in the training folder cannot leak.

    Returns:
        {'ngram': rates + 'order', 'unigram': rates, 'train_pieces', 'train_tokens', 'dropped_overlap'}.
    """
    heldout = _check_ids(heldout_ids, tokenizer)
    seen = {p.tobytes() for p in heldout}
    train = _check_ids(train_ids, tokenizer)
    kept = [p for p in train if p.tobytes() not in seen]
    if not kept:
        raise MelodyGRUError("every training piece is also in the held-out set: nothing left to fit the baselines on")
    V = len(tokenizer)
    tokens = int(sum(len(p) - 1 for p in heldout))
    notes = int(sum(tokenizer.pitch_mask(p).sum() for p in heldout))
    quarters = int(sum(quarter_steps(p, tokenizer) for p in heldout))
    ngram = NGramModel(order, V).fit(kept)
    unigram = UnigramModel(V).fit(kept)
    return {
        "ngram": {"order": order, **rates(ngram.nll(heldout), tokens, notes, quarters)},
        "unigram": rates(unigram.nll(heldout), tokens, notes, quarters),
        "train_pieces": len(kept),
        "train_tokens": int(sum(len(p) for p in kept)),
        "dropped_overlap": len(train) - len(kept),
    }


def baseline_table(gru: dict, base: dict) -> list[dict]:
    """Rows (model, nats/token, bits/token, perplexity, GRU improvement over it in nats/token and %)."""
    rows = [("GRU", gru), (f"{base['ngram']['order']}-gram (Kneser-Ney)", base["ngram"]),
            ("unigram (add-one)", base["unigram"])]
    out = []
    for name, r in rows:
        gain = r["nats_per_token"] - gru["nats_per_token"]
        out.append({"model": name, "nats_per_token": r["nats_per_token"], "bits_per_token": r["bits_per_token"],
                    "perplexity": r["perplexity"],
                    "gru_gain_nats_per_token": None if name == "GRU" else gain,
                    "gru_gain_percent": None if name == "GRU" else 100.0 * gain / r["nats_per_token"]})
    return out
