"""Rendering speed: audio (FluidSynth with the General MIDI SoundFont against the fallback) and
sheet music (MusicXML from note events, then verovio's SVG page), on a corpus chorale.

    python benchmarks/render_speed.py [--chorale 7] [--repeats 3]

Prints, for the chorale (music21's bundled corpus, no download), the seconds each step takes (best
of --repeats), how many times faster than real time each renderer is, and the file sizes of the
audio formats. FluidSynth is timed only where `melodygru info` names it as the renderer.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chorale", type=int, default=7, help="index into music21's Bach chorales")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from music21 import corpus

    from melodygru.io import audio
    from melodygru.io.readers import read_score
    from melodygru.io.score import engrave_svg, musicxml_bytes
    from melodygru.io.writers import seconds

    path = corpus.getComposer("bach")[args.chorale]
    piece = read_score(path)[0]
    length = seconds(piece)
    print(f"{Path(path).name}: {len(piece.notes)} notes, {length:.1f} s at its tempo")
    renderer, why = audio.audio_backend()
    print(f"renderer here: {renderer} ({why})")
    if renderer == audio.FLUIDSYNTH:
        t, fluid = best(lambda: audio.render(piece), args.repeats)
        print(f"FluidSynth  {t:6.3f} s  ({length / t:5.0f}x real time)")
    t_fb, fallback = best(lambda: audio.fallback_render(piece), args.repeats)
    print(f"fallback    {t_fb:6.3f} s  ({length / t_fb:5.0f}x real time)")
    rendered = fluid if renderer == audio.FLUIDSYNTH else audio.render(piece)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in audio.FORMATS:
            t, data = best(lambda: audio.encode(rendered, fmt), args.repeats)
            (Path(tmp) / f"x.{fmt}").write_bytes(data)
            print(f"{fmt:5s} encode {t:6.3f} s  {len(data) / 1024:7.0f} kB")
    t_xml, xml = best(lambda: musicxml_bytes(piece), args.repeats)
    t_svg, (svg, pages) = best(lambda: engrave_svg(xml), args.repeats)
    print(f"MusicXML    {t_xml:6.3f} s  ({len(xml) / 1024:.0f} kB)")
    print(f"SVG         {t_svg:6.3f} s  ({len(svg) / 1024:.0f} kB, {pages} page(s))")


if __name__ == "__main__":
    main()
