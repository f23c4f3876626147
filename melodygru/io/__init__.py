"""io: files <-> note events. The Standard MIDI File parser (`midifile`), the readers for every
format (`readers`: MIDI on the fast path, MusicXML/ABC/kern through music21), the MIDI writer
(`writers`) and audio / piano-roll rendering (`render`).

May import core only: it knows nothing of tokens or models.
"""
