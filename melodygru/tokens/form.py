"""Form plans: which bars of a piece repeat an earlier bar, learned from the training pieces.

Real music repeats itself at the scale of bars and phrases (a chorale's first two phrases come
back note for note; a folk tune is AABB), and a GRU that reads a few bars at a time does not learn
to. A form plan is, for every bar of one training piece, the distance back to the nearest earlier
bar with exactly the same tokens (0 when the bar is new). `generate` gives every sample the plan of
a random training piece: where the plan says "this bar repeats the bar 4 back", the decoder copies
the sample's *own* bar from 4 back (the model reads the copied tokens, so what follows is its own
continuation), and everywhere else the model writes freely. The samples then repeat as often, and
at the same distances, as the music they learned from.

Plans are saved in the run directory as `form.json` (see `rundir`), a few kilobytes.
"""


from __future__ import annotations

import numpy as np

FORM_VERSION = 1
MAX_PLANS = 400  # enough to vary the form of many samples; a few kilobytes of JSON
MAX_BARS = 512  # longer plans are cut (a sample of 512 tokens has ~20-60 bars)


def bar_spans(ids, bar_id: int) -> list[tuple[int, int]]:
    """(start, end) of every bar in `ids`: start at its BAR token, end at the next BAR (exclusive),
    the last bar ending at the end of the sequence or at the first token that is not part of a bar."""
    ids = np.asarray(ids)
    starts = np.flatnonzero(ids == bar_id)
    return [(int(s), int(starts[i + 1]) if i + 1 < len(starts) else len(ids)) for i, s in enumerate(starts)]


def plan_of(ids, bar_id: int, ignore_ids=(), stop_ids=()) -> list[int]:
    """For every bar, how many bars back the nearest earlier identical bar is (0: a new bar).

    Args:
        ids: one piece's token ids.
        bar_id: the BAR token.
        ignore_ids: tokens left out of the comparison (TS and TEMPO: the decoder copies a bar
            without them, so a repeat of the opening bar, which states the meter, still counts).
        stop_ids: tokens that end the last bar (EOS, PAD).
    """
    ids = np.asarray(ids)
    leave_out = {int(x) for x in ignore_ids} | {int(x) for x in stop_ids}
    seen: dict[tuple, int] = {}
    plan = []
    for k, (s, e) in enumerate(bar_spans(ids, bar_id)):
        body = tuple(int(x) for x in ids[s + 1:e] if int(x) not in leave_out)
        plan.append(k - seen[body] if body and body in seen else 0)
        seen[body] = k  # the nearest earlier copy
    return plan


def plans_from_pieces(pieces_ids, bar_id: int, ignore_ids=(), stop_ids=(), max_plans: int = MAX_PLANS,
                      seed: int = 0) -> list[list[int]]:
    """Plans of (up to `max_plans` randomly chosen) pieces, each cut to `MAX_BARS` bars."""
    order = np.random.default_rng(seed).permutation(len(pieces_ids))[:max_plans]
    return [plan_of(pieces_ids[i], bar_id, ignore_ids, stop_ids)[:MAX_BARS] for i in sorted(order)]


def plans_for(tokenizer, pieces_ids, max_plans: int = MAX_PLANS, seed: int = 0) -> list[list[int]]:
    """`plans_from_pieces` with the tokenizer's BAR, TS/TEMPO and EOS/PAD tokens."""
    kinds = np.array(tokenizer.grammar.kinds)
    bar = int(np.flatnonzero(kinds == "BAR")[0])
    return plans_from_pieces(pieces_ids, bar, np.flatnonzero(np.isin(kinds, ["TS", "TEMPO"])),
                             np.flatnonzero(np.isin(kinds, ["EOS", "PAD"])), max_plans, seed)


def repeat_share(plans) -> float:
    """Share of bars that repeat an earlier bar, over all plans."""
    bars = sum(len(p) for p in plans)
    return sum(1 for p in plans for lag in p if lag) / bars if bars else 0.0


def plan_matrix(plans, num_samples: int, seed: int, max_bars: int) -> np.ndarray:
    """int32 [num_samples, max_bars]: one randomly chosen plan per sample (0-padded / cut)."""
    out = np.zeros((num_samples, max(1, max_bars)), np.int32)
    if not plans:
        return out
    rng = np.random.default_rng([seed, 0x5EED])
    for row, i in enumerate(rng.integers(0, len(plans), num_samples)):
        p = plans[int(i)][:out.shape[1]]
        out[row, :len(p)] = p
    return out


def form_document(plans, source: str) -> dict:
    return {"version": FORM_VERSION, "source": source, "repeat_share": round(repeat_share(plans), 4),
            "plans": [list(map(int, p)) for p in plans]}


def read_form_document(doc) -> list[list[int]]:
    """The plans of a `form.json` document; raises ValueError if it is malformed."""
    if not isinstance(doc, dict) or doc.get("version") != FORM_VERSION or not isinstance(doc.get("plans"), list):
        raise ValueError("not a melodygru form document (version 1)")
    plans = []
    for p in doc["plans"]:
        if not isinstance(p, list) or not all(isinstance(x, int) and 0 <= x <= MAX_BARS for x in p):
            raise ValueError("a plan must be a list of bar distances 0..512")
        plans.append(p[:MAX_BARS])
    return plans
