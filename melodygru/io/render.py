"""A piano-roll PNG of a piece: time in quarter notes across, pitch up, bar lines from the meters,
each General MIDI instrument in its own colour with a legend, and the drums in a lane of their own
below the pitched notes (one row per drum sound that plays).

Audio lives in `io/audio.py`, sheet music (MusicXML and SVG) in `io/score.py`.
"""


from __future__ import annotations

import io
from pathlib import Path

from ..core.atomic import atomic_write_bytes
from ..core.events import Piece
from .writers import bar_lines

# tab10's colours, without its grey (kept for bar lines), then tab20's lighter ones
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
DRUM_COLOUR = "#444444"


def instrument_colours(piece: Piece) -> dict[int, str]:
    """program -> colour for the pitched programs of a piece, in order of program number."""
    programs = sorted({n.program for n in piece.notes if not n.is_drum})
    return {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(programs)}


def write_piano_roll(piece: Piece, path, title: str = "") -> Path:
    """Write the piece's piano roll as a PNG (atomically); see the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    from .audio import pretty_midi_module

    pretty_midi = pretty_midi_module()

    end = max(piece.end, 1.0)
    pitched = [n for n in piece.notes if not n.is_drum]
    drums = [n for n in piece.notes if n.is_drum]
    pitches = [n.pitch for n in pitched] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    sounds = sorted({n.pitch for n in drums})
    lane = {p: low - 2 - i for i, p in enumerate(sounds)}  # one row per drum sound, below a gap
    colours = instrument_colours(piece)
    fig, ax = plt.subplots(figsize=(min(40, 4 + end / 8), 4 + 0.12 * len(sounds)), dpi=100)
    for program, colour in colours.items():
        rects = [Rectangle((n.onset, n.pitch - 0.4), max(n.duration, 0.05), 0.8) for n in pitched if n.program == program]
        ax.add_collection(PatchCollection(rects, facecolor=colour, edgecolor="#222222", linewidth=0.3))
    if drums:
        hits = [Rectangle((n.onset, lane[n.pitch] - 0.4), 0.12, 0.8) for n in drums]
        ax.add_collection(PatchCollection(hits, facecolor=DRUM_COLOUR, edgecolor="none"))
        ax.axhspan(lane[sounds[-1]] - 0.6, low - 1.4, color="#f0f0f0", zorder=0)
    for x in bar_lines(piece):
        ax.axvline(x, color="#bbbbbb", linewidth=0.5, zorder=0)
    ax.set_xlim(0, end)
    ax.set_ylim((lane[sounds[-1]] - 1) if drums else low, high)
    if drums:  # pitch numbers above the lane, each drum sound's name on its row
        ticks = [t for t in ax.get_yticks() if low <= t <= high]
        ax.set_yticks(ticks + [lane[p] for p in sounds],
                      [f"{t:g}" for t in ticks] + [pretty_midi.note_number_to_drum_name(p) or f"drum {p}" for p in sounds])
        for label in ax.get_yticklabels()[len(ticks):]:
            label.set_fontsize(6)
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    legend = [Patch(facecolor=c, edgecolor="#222222", label=pretty_midi.program_to_instrument_name(p))
              for p, c in colours.items()]
    if drums:
        legend.append(Patch(facecolor=DRUM_COLOUR, label="Drums"))
    if legend:
        ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
