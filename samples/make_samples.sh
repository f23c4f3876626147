#!/usr/bin/env bash
# Rebuilds samples/ from the shipped models: a few pieces from each, as MIDI with a piano-roll PNG
# and a WAV, all seeded (the same seed gives the same files byte for byte on the same versions).
#
#   bash samples/make_samples.sh            # from the repository root, after `pip install -e .`
set -euo pipefail
cd "$(dirname "$0")/.."
for model in bach folk; do
  if [ ! -f "checkpoints/$model/model.keras" ]; then
    echo "skip $model: checkpoints/$model/model.keras is missing" >&2
    continue
  fi
  rm -rf "samples/$model"
  melodygru generate --checkpoint "checkpoints/$model" --length 512 --num-samples 3 --temperature 1.0 \
    --seed 2026 --out "samples/$model" --plot --audio
done
