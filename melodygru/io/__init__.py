"""io: files <-> note events. The Standard MIDI File parser (`midifile`), the readers for every
format (`readers`: MIDI on the fast path, MusicXML/ABC/kern through music21), the MIDI writer
(`writers`), audio (`audio`: FluidSynth with a General MIDI SoundFont, or the fallback it names),
sheet music (`score`: MusicXML from note events, an SVG page by verovio) and the piano roll (`render`).

May import core only: it knows nothing of tokens or models.
"""
