"""Token ids -> training windows -> tf.data: the split by piece, windowing, transposition, batching.

The windows of an epoch are cut in numpy from a generator seeded with `(seed, epoch)` and then
handed to tf.data for batching, distribution and prefetching. So an epoch's data order depends
only on the seed and the epoch number: a resumed run sees exactly the windows an uninterrupted one
would have, with no random state to save, and every worker of a multi-worker run cuts the same
windows and takes its own share.
"""


from __future__ import annotations

import hashlib

import numpy as np

from ..tokens.timing import quarters_of  # noqa: F401  (the windows' quarter count, also used by training)
from ..tokens.tokenizer import Tokenizer
from ..tokens.styles import header_length, is_header
from ..tokens.transpose import drum_pitch_mask, transpose_keys


def split_pieces(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation pieces: a split by piece, never by window.

    Deterministic for a given `(n, val_split, seed)`. At least one piece stays in training; with
    fewer than two pieces or `val_split == 0` the validation set is empty.
    """
    if not 0.0 <= val_split < 1.0:
        raise ValueError(f"val_split must be in [0, 1), got {val_split}")
    order = np.random.default_rng([seed, 0x5917]).permutation(n)
    n_val = 0 if n < 2 or val_split == 0 else min(n - 1, max(1, round(n * val_split)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def data_digest(pieces: list[np.ndarray]) -> str:
    """Short hash of a list of token sequences (to notice changed data on resume)."""
    h = hashlib.sha256()
    for p in pieces:
        a = np.ascontiguousarray(p, dtype=np.int32)
        h.update(len(a).to_bytes(8, "little"))
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _gather(pieces: list[np.ndarray], piece_of: np.ndarray, starts: np.ndarray, width: int, pad: int) -> np.ndarray:
    """Windows `pieces[piece_of[i]][starts[i] : starts[i] + width]`, right-padded with `pad`."""
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.concatenate([np.asarray(p, dtype=np.int32) for p in pieces] + [np.full(1, pad, np.int32)])
    idx = (offsets[piece_of] + starts)[:, None] + np.arange(width)[None, :]
    valid = (starts[:, None] + np.arange(width)[None, :]) < lengths[piece_of][:, None]
    return np.where(valid, flat[np.where(valid, idx, flat.size - 1)], pad).astype(np.int32)


def training_windows(pieces: list[np.ndarray], seq_len: int, rng: np.random.Generator, pad: int) -> np.ndarray:
    """One epoch's windows of `seq_len + 1` tokens (inputs plus the shifted targets), unshuffled.

    A piece with L tokens has L - 1 targets. If they fit one window, the window is the whole piece,
    padded. Otherwise it gets `n = ceil((L - 1) / seq_len)` windows, the fewest that hold every
    target: the first starts at BOS (the context generation starts from), the last ends at EOS, and
    the unavoidable overlap (< one window) is split at random between the windows in between, so
    window boundaries move every epoch, every target is seen at least once and no compute goes to
    padding.
    """
    piece_of, starts = _training_starts(pieces, seq_len, rng)
    if not piece_of.size:
        return np.zeros((0, seq_len + 1), np.int32)
    return _gather(pieces, piece_of, starts, seq_len + 1, pad)


def _training_starts(pieces: list[np.ndarray], seq_len: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(piece index, start) of every window `training_windows` cuts, drawing the overlaps from `rng`."""
    piece_of, starts = [], []
    for i, p in enumerate(pieces):
        targets = len(p) - 1
        if targets < 1:
            continue
        if targets <= seq_len:
            piece_of.append(i)
            starts.append(0)
            continue
        n = -(-targets // seq_len)
        overlap = n * seq_len - targets  # 0..seq_len - 1 tokens seen twice
        cuts = np.sort(rng.integers(0, overlap + 1, size=n - 2))
        parts = np.diff(np.concatenate([[0], cuts, [overlap]]))  # n - 1 overlaps summing to `overlap`
        s = np.concatenate([[0], np.cumsum(seq_len - parts)])
        piece_of += [i] * n
        starts += s.tolist()
    return np.asarray(piece_of, dtype=np.int64), np.asarray(starts, dtype=np.int64)


def evaluation_windows(pieces: list[np.ndarray], seq_len: int, pad: int) -> np.ndarray:
    """Consecutive windows that predict every target of every piece exactly once (for validation)."""
    piece_of, starts = [], []
    for i, p in enumerate(pieces):
        s = np.arange(0, max(len(p) - 1, 0), seq_len)
        piece_of += [i] * len(s)
        starts += s.tolist()
    if not piece_of:
        return np.zeros((0, seq_len + 1), np.int32)
    return _gather(pieces, np.asarray(piece_of), np.asarray(starts, dtype=np.int64), seq_len + 1, pad)


def transpose_windows(windows: np.ndarray, tokenizer: Tokenizer, max_shift: int, rng: np.random.Generator,
                      fixed: np.ndarray | None = None) -> np.ndarray:
    """Shift every window's pitches by its own random k in [-max_shift, max_shift].

    k is drawn from the shifts that keep all of that window's pitches inside the tokenizer's pitch
    range (`tokens.transpose.transpose_range`, per window), so nothing is folded or dropped. Drum pitches
    never move (`tokens.transpose.drum_pitch_mask`; on the drum channel a pitch is an instrument).
    A KEY token moves its tonic by the window's k.

    Args:
        fixed: tokens that must not move, shaped like `windows` [default: the drum pitches found
            inside each window, which misses a drum PITCH in first place: `epoch_windows` passes
            the ones found in the whole piece].
    """
    if max_shift <= 0 or windows.size == 0:
        return windows
    lo_id = tokenizer.pitch_offset
    n = tokenizer.config.pitch_high - tokenizer.config.pitch_low + 1
    rel = windows.astype(np.int64) - lo_id
    is_pitch = (rel >= 0) & (rel < n)
    is_pitch &= ~(drum_pitch_mask(tokenizer, windows) if fixed is None else fixed)
    lowest = np.where(is_pitch, rel, n).min(axis=1)
    highest = np.where(is_pitch, rel, -1).max(axis=1)
    has = highest >= 0
    lo = np.where(has, np.maximum(-max_shift, -lowest), 0)
    hi = np.where(has, np.minimum(max_shift, n - 1 - highest), 0)
    k = lo + np.floor(rng.random(len(windows)) * (hi - lo + 1)).astype(np.int64)
    moved = np.where(is_pitch, windows + k[:, None], windows).astype(np.int32)
    return transpose_keys(tokenizer, moved, k)  # a KEY token's tonic moves with the pitches


def epoch_windows(pieces: list[np.ndarray], tokenizer: Tokenizer, seq_len: int, transpose: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled, transposed training windows of one epoch, a function of `(seed, epoch)` only.
    With key or style tokens, every window starts with its piece's style and key (see below)."""
    rng = np.random.default_rng([seed, epoch])
    piece_of, starts = _training_starts(pieces, seq_len, rng)
    if not piece_of.size:
        return np.zeros((0, seq_len + 1), np.int32)
    w = _gather(pieces, piece_of, starts, seq_len + 1, tokenizer.pad)
    h = header_length(tokenizer)
    if h:
        # a window from the middle of a piece reads the piece's STYLE and KEY tokens first, in
        # place of the tokens before its first targets: they condition every window, as they
        # condition a sample from its start (the transposition below moves a KEY with the pitches)
        head = np.array([np.pad(p[1:1 + h], (0, h - len(p[1:1 + h])), constant_values=tokenizer.pad)
                         for p in pieces], np.int32)[piece_of]
        w[:, :h] = np.where((starts > 0)[:, None] & is_header(tokenizer, head), head, w[:, :h])
    fixed = None
    if transpose > 0 and tokenizer.config.drums:
        # a window may begin on a drum PITCH whose PROGRAM_DRUMS is cut off: find the drums in the
        # whole pieces and cut their masks like the windows
        masks = [drum_pitch_mask(tokenizer, p).astype(np.int32) for p in pieces]
        fixed = _gather(masks, piece_of, starts, seq_len + 1, 0).astype(bool)
    w = transpose_windows(w, tokenizer, transpose, rng, fixed)
    return w[rng.permutation(len(w))]


def fit_to_batches(windows: np.ndarray, global_batch: int, pad: int, fill: str) -> np.ndarray:
    """Make the window count a whole number of global batches, so every replica and worker runs the
    same number of steps.

    fill='drop' (training) drops the remainder (< one batch, different windows each epoch), or
    repeats windows when there is less than one batch; fill='pad' (evaluation) appends all-PAD
    windows, which carry no targets and so leave the figures exact.
    """
    n = len(windows)
    if fill == "pad":
        extra = -n % global_batch
        return np.concatenate([windows, np.full((extra, windows.shape[1]), pad, np.int32)]) if extra else windows
    if n >= global_batch:
        return windows[: n - n % global_batch]
    if n == 0:
        return windows
    return np.resize(windows, (global_batch, windows.shape[1]))


def distributed_dataset(windows: np.ndarray, strategy, global_batch: int):
    """A (distributed) tf.data pipeline over whole batches of `windows`; each input pipeline (one per
    worker) takes every k-th window, batched at the per-replica size, prefetched."""
    import tensorflow as tf

    def make(ctx: tf.distribute.InputContext):
        part = windows[ctx.input_pipeline_id :: ctx.num_input_pipelines]
        per_replica = ctx.get_per_replica_batch_size(global_batch)
        ds = tf.data.Dataset.from_tensor_slices(part).batch(per_replica, drop_remainder=True)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        # No tf.data autotuning: the pipeline is a slice of an in-memory array, so there is nothing to
        # tune, and deleting an autotuned iterator at the end of an epoch blocked for up to ~9 s
        # (measured on JSB epochs of ~11 s of training, 2-core CPU). Two batches of prefetch are enough.
        options.autotune.enabled = False
        return ds.with_options(options).prefetch(2)

    return strategy.distribute_datasets_from_function(make)


def steps_of(windows: np.ndarray, global_batch: int) -> int:
    return len(windows) // global_batch if global_batch else 0
