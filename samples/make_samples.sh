#!/usr/bin/env bash
# Rebuilds samples/ from the shipped models: three pieces of 512 tokens from each, as MIDI with a
# piano-roll PNG, plus one short piece (8 bars) to listen to and read straight away: Ogg Vorbis audio
# rendered with the General MIDI SoundFont (FluidSynth), a MusicXML score and its engraved SVG page,
# and a 4-bar piece as a WAV file.
# Every call is seeded: the same seed gives the same MIDI files byte for byte on the same versions.
# Each model samples with its recommended settings (checkpoints/NAME/sampling.json).
#
#   bash samples/make_samples.sh            # from the repository root, after the README's install
#                                           # (pip install -e ".[audio]" and apt-get install libfluidsynth3)
set -euo pipefail
cd "$(dirname "$0")/.."
export MELODYGRU_REQUIRE_SOUNDFONT=1  # the shipped audio is the SoundFont's, never the fallback's
for model in bach folk; do
  if [ ! -f "checkpoints/$model/model.keras" ]; then
    echo "skip $model: checkpoints/$model/model.keras is missing" >&2
    continue
  fi
  rm -rf "samples/$model"
  melodygru generate --checkpoint "checkpoints/$model" --length 512 --num-samples 3 --seed 2026 \
    --out "samples/$model" --plot
  melodygru generate --checkpoint "checkpoints/$model" --bars 8 --num-samples 1 --seed 7 \
    --out "samples/$model/short" --plot --audio-format ogg --score
  melodygru generate --checkpoint "checkpoints/$model" --bars 4 --num-samples 1 --seed 7 \
    --out "samples/$model/wav" --audio-format wav  # 4 bars as a WAV (small enough to ship)
done
