"""Atomic writes: one temporary naming for every writer, and one cleaner for what a kill -9 leaves."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from helpers import scale_notes, write_midi

from melodygru.core import atomic
from melodygru.core.events import Note, Piece
from melodygru.corpus import build as corpus
from melodygru.corpus.build import build_corpus
from melodygru.model import rundir
from melodygru.tokens.tokenizer import Tokenizer

# mkstemp's 8 random characters between the shared prefix and the target's own name
ONE_PATTERN = re.compile(r"\.tmp-[a-z0-9_]{8}-(?P<name>.+)")


class _FakeModel:
    """Stands in for a Keras model: writes what `save`/`save_weights` are given, as Keras does."""

    def save(self, path):
        Path(path).write_bytes(b"model")

    def save_weights(self, path):
        Path(path).write_bytes(b"weights")


def test_every_atomic_writer_goes_through_one_temporary_name(tmp_path, monkeypatch):
    from melodygru.io.writers import write_midi as write_piece

    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((Path(src), Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    run = tmp_path / "run"
    run.mkdir()
    atomic.atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic.atomic_write_text(tmp_path / "b.txt", "y")
    rundir.write_json(run / rundir.STATE, {"epoch": 1})
    rundir.write_history(run / rundir.HISTORY, [{"epoch": 1, "loss": 1.5}])
    rundir.save_arrays(run / "last-0001.optimizer.npz", [])
    rundir.save_model(_FakeModel(), run / rundir.MODEL)
    rundir.save_weights(_FakeModel(), run / "last-0001.weights.h5")
    Tokenizer().save(run / rundir.TOKENIZER)
    write_piece(Piece([Note(0.0, 1.0, 60, 80)]), tmp_path / "out" / "song.mid")
    corpus._save_entry(tmp_path / "cache" / "ab" / "entry.npz", corpus._skipped("no notes", cacheable=True))
    assert len(replaced) == 10
    for src, dst in replaced:
        match = ONE_PATTERN.fullmatch(src.name)
        assert match and match["name"] == dst.name and src.parent == dst.parent, (src, dst)
        assert atomic.is_temporary(src.name)
        assert dst.is_file() and not src.exists()
    assert not [p for p in tmp_path.rglob("*") if atomic.is_temporary(p.name)]


def test_a_target_name_at_the_length_limit_still_writes(tmp_path):
    target = tmp_path / ("n" * 251 + ".mid")  # 255 bytes: the temporary name cannot hold it whole
    atomic.atomic_write_bytes(target, b"data")
    assert target.read_bytes() == b"data"
    assert os.listdir(tmp_path) == [target.name]


def _leftovers(folder: Path) -> list[Path]:
    """One temporary of each kind melodygru ever wrote, as a kill -9 mid-write leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    made = [
        folder / ".tmp-ab12cd_3-model.keras",  # rundir's Keras and numpy saves, and now every writer
        folder / ".tmp-zz99yy88-last-0003.weights.h5",
        folder / ".history.csv.k3j_5l6m.tmp",  # atomic_write_bytes before the naming was shared
        folder / ".0123abcd.npz.q1w2e3r4.tmp",
    ]
    for p in made:
        p.write_bytes(b"half a file")
    return made


def _keepers(folder: Path) -> list[Path]:
    """Files a cleaner must never touch, however close their names come."""
    keep = [folder / "model.keras", folder / "notes.tmp", folder / ".hidden", folder / ".x.tmp",
            folder / "tmp-ab12cd34-model.keras", folder / ".song.mid.too-long-for-mkstemp.tmp"]
    for p in keep:
        p.write_bytes(b"keep")
    return keep


def test_the_cleaner_removes_every_kind_of_leftover_from_a_run_dir(tmp_path):
    run = tmp_path / "run"
    made, keep = _leftovers(run), _keepers(run)
    rundir.clean_temporaries(run)
    assert [p for p in made if p.exists()] == []
    assert all(p.exists() for p in keep)


def test_the_cleaner_removes_stale_leftovers_in_a_cache_but_not_a_live_writers(tmp_path):
    cache = tmp_path / "cache"
    deep = cache / "tokens" / "r3e2-0123-mb20" / "ab"
    made, keep = _leftovers(deep), _keepers(deep)
    old = time.time() - 2 * 3600
    for p in made:
        os.utime(p, (old, old))
    live = deep / ".tmp-live1234-abcdef.npz"  # another process writing right now
    live.write_bytes(b"being written")
    assert atomic.clean_temporaries(cache, recursive=True, older_than_s=3600) == len(made)
    assert [p for p in made if p.exists()] == [] and live.exists()
    assert all(p.exists() for p in keep)


def test_building_a_corpus_cleans_stale_leftovers_in_its_cache(tmp_path):
    src = write_midi(tmp_path / "music" / "a.mid", scale_notes())
    cache = tmp_path / "cache"
    made = _leftovers(cache / "tokens" / "r1e1-old-mb20" / "cd")
    old = time.time() - 2 * 3600
    for p in made:
        os.utime(p, (old, old))
    pieces, _ = build_corpus([src], cache_dir=cache, jobs=1, progress=False)
    assert len(pieces) == 1
    assert [p for p in made if p.exists()] == []
    assert not [p for p in cache.rglob("*") if atomic.is_temporary(p.name)]


def _no_space(src, dst):
    raise OSError(28, "No space left on device")


def _half_then_crash(tmp):
    Path(tmp).write_text("ne")
    raise RuntimeError("the writer crashed")


@pytest.mark.parametrize("fail_at", ["write", "replace"])
def test_a_failed_atomic_write_leaves_no_temporary_and_the_old_content(tmp_path, monkeypatch, fail_at):
    target = tmp_path / "state.json"
    target.write_text("old")
    if fail_at == "replace":
        monkeypatch.setattr(os, "replace", _no_space)
        with pytest.raises(OSError, match="No space"):
            atomic.atomic_write_text(target, "new")
    else:
        with pytest.raises(RuntimeError, match="crashed"):
            rundir._write_with(target, _half_then_crash)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["state.json"]
