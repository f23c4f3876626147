"""Corpus building: walking folders, the skip report, the token cache."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path

import numpy as np
import pytest
from helpers import every_kind_of_input, messy_folder, scale_notes, write_midi

from melodygru.core.errors import MelodyGRUError
from melodygru.corpus import build as corpus
from melodygru.corpus.build import build_corpus
from melodygru.corpus.cache import _cache_path
from melodygru.corpus.walk import corpus_files, find_files
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer


@pytest.fixture()
def messy(tmp_path):
    return messy_folder(tmp_path / "music")


def test_walk_finds_music_recursively_and_counts_the_rest(messy):
    fs = find_files([messy])
    names = sorted(p.name for _, p in fs.files)
    assert names == ["CAPS.MID", "drums.mid", "empty.mid", "good.mid", "random.mid", "text.mid", "tunes.abc"]
    assert fs.ignored == 2  # notes.txt, cover.jpg


def test_hidden_files_and_mac_zip_leftovers_are_passed_over_and_counted(tmp_path):
    root = tmp_path / "unzipped"
    write_midi(root / "song.mid", scale_notes())
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60)
    (root / "._song.mid").write_bytes(apple_double)  # a resource fork: the extension, no music
    (root / ".DS_Store").write_bytes(bytes(64))
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._song.mid").write_bytes(apple_double)
    write_midi(root / ".git" / "old.mid", scale_notes())  # real music, but inside a hidden folder
    fs = find_files([root])
    assert [p.name for _, p in fs.files] == ["song.mid"]
    assert fs.hidden == 4 and fs.ignored == 0 and not fs.problems
    # a hidden folder named on purpose is read
    assert [p.name for _, p in find_files([root / ".git"]).files] == ["old.mid"]
    pieces, report = build_corpus([root], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert [p.source for p in pieces] == ["song.mid"] and not report.skipped
    assert report.hidden == 4 and report.as_dict()["hidden"] == 4
    assert "4 hidden files/folders passed over" in report.summary_lines()[0]


def test_symlink_loop_is_walked_once(tmp_path):
    write_midi(tmp_path / "a" / "x.mid", scale_notes())
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    fs = find_files([tmp_path / "a"])
    assert [p.name for _, p in fs.files] == ["x.mid"]


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(MelodyGRUError, match="no such file or folder"):
        find_files([tmp_path / "nope"])


def test_messy_folder_report(messy, tmp_path):
    pieces, report = build_corpus([messy], cache_dir=tmp_path / "cache", jobs=2, progress=False)
    sources = sorted(p.source for p in pieces)
    assert sources == ["good.mid", "sub/deeper/CAPS.MID", "tunes.abc#1", "tunes.abc#2", "tunes.abc#3"]
    skipped = dict(report.skipped)
    assert set(skipped) == {"drums.mid", "empty.mid", "text.mid", "random.mid"}
    assert "drums only" in skipped["drums.mid"]
    assert "empty" in skipped["empty.mid"]
    assert all(len(reason.splitlines()) == 1 and reason for reason in skipped.values())
    assert report.lossy["dropped_drums"] == 16
    assert report.pieces == 5 and report.files == 7 and report.ignored == 2
    assert report.notes == sum(p.notes for p in pieces) and report.notes >= 16 + 24
    assert report.tokens == sum(len(p.ids) for p in pieces)
    tok = Tokenizer()
    for p in pieces:
        assert tok.grammar.is_valid(p.ids)


def test_second_run_reads_the_cache_and_gives_the_same_tokens(messy, tmp_path):
    first, r1 = build_corpus([messy], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    second, r2 = build_corpus([messy], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert r1.cached == 0 and r2.cached == r2.files == 7
    assert [p.source for p in first] == [p.source for p in second]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.ids, b.ids)
    assert r1.skipped == r2.skipped


def test_cache_is_keyed_by_tokenizer_config(messy, tmp_path):
    build_corpus([messy], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    other = Tokenizer(TokenizerConfig(velocity_bins=0))
    pieces, report = build_corpus([messy], tokenizer=other, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert report.cached == 0
    assert not any(other.kind_of(int(t)) == "VEL" for p in pieces for t in p.ids)


def test_cache_entries_load_without_pickle_and_broken_ones_are_rebuilt(messy, tmp_path):
    cache = tmp_path / "cache"
    pieces, _ = build_corpus([messy / "good.mid"], cache_dir=cache, jobs=1, progress=False)
    entries = list(cache.rglob("*.npz"))
    assert len(entries) == 1
    with np.load(entries[0], allow_pickle=False) as z:
        assert "ids" in z.files
    entries[0].write_bytes(b"garbage, not an npz")
    again, report = build_corpus([messy / "good.mid"], cache_dir=cache, jobs=1, progress=False)
    assert report.cached == 0
    np.testing.assert_array_equal(again[0].ids, pieces[0].ids)
    with np.load(entries[0], allow_pickle=False) as z:  # rewritten, loadable again
        assert len(z["ids"]) == len(pieces[0].ids)


def test_cache_path_depends_on_content_not_name(tmp_path):
    tok = Tokenizer()
    a = _cache_path(tmp_path, tok, "ab" * 32, 20.0)
    b = _cache_path(tmp_path, Tokenizer(TokenizerConfig(steps_per_quarter=24)), "ab" * 32, 20.0)
    assert a != b and a.name == b.name


def test_builtin_corpora_resolve_to_bundled_files():
    bach = corpus_files("bach")
    folk = corpus_files("folk")
    assert len(bach) > 300 and all(p.name.startswith("bwv") for p in bach)
    assert len(folk) > 50 and all(p.suffix == ".abc" for p in folk)
    with pytest.raises(MelodyGRUError, match="unknown corpus"):
        corpus_files("jazz")


# ------------------------------------------------------------------- every kind of bad input
def test_every_kind_of_input_is_read_or_skipped_with_its_exact_reason(tmp_path, monkeypatch):
    root = tmp_path / "music"
    root.mkdir()
    expected = every_kind_of_input(root)
    hashed = []
    real_hash = corpus._file_hash
    monkeypatch.setattr(corpus, "_file_hash", lambda p: hashed.append(p.name) or real_hash(p))

    pieces, report = build_corpus([root], cache_dir=tmp_path / "cache", jobs=2, progress=False)
    got = {p.source: ("read", p.notes) for p in pieces}
    assert len(got) == len(pieces)  # the folder that contains itself (loop -> .) is walked once
    got.update({path: ("skip", reason) for path, reason in report.skipped})
    assert set(got) == set(expected)
    for path, (kind, value) in expected.items():
        if value == "music21 could not parse: ":
            assert got[path][0] == "skip" and got[path][1].startswith(value), got[path]
        else:
            assert got[path] == (kind, value), path
    assert all("\n" not in reason for _, reason in report.skipped)
    assert report.files == len(expected) and report.ignored == 1  # notes.txt
    assert report.lossy["dropped_drums"] == 4 and report.lossy["bad_tempo"] == 2 and report.lossy["smpte"] == 1
    assert report.lossy["zero_length"] == 1  # counted once, not by the reader and again by the tokenizer
    assert "big.mid" not in hashed  # refused by its size before being read whole

    again, second = build_corpus([root], cache_dir=tmp_path / "cache", jobs=2, progress=False)
    # everything but the files that were never read (too big, a symlink loop, a dangling link) is cached
    assert second.cached == len(expected) - 3
    assert [(p.source, p.ids.tolist()) for p in again] == [(p.source, p.ids.tolist()) for p in pieces]
    assert second.skipped == report.skipped and second.lossy == report.lossy


def test_a_folder_nested_1500_levels_deep_is_walked_without_recursion(tmp_path):
    deepest = str(tmp_path / "top")
    os.mkdir(deepest)
    levels = [deepest]
    try:
        for _ in range(1500):  # os.walk recurses once per level: past ~1000 it is a RecursionError
            deepest = os.path.join(deepest, "d")
            os.mkdir(deepest)
            levels.append(deepest)
        write_midi(Path(deepest) / "x.mid", scale_notes())
        pieces, report = build_corpus([tmp_path / "top"], cache_dir=tmp_path / "cache", jobs=1, progress=False)
        assert [p.source for p in pieces] == ["/".join(["d"] * 1500 + ["x.mid"])]
        assert pieces[0].notes == 16 and not report.skipped
    finally:  # shutil.rmtree (pytest's cleanup) recurses too: take the tower down from the top
        if os.path.exists(os.path.join(deepest, "x.mid")):
            os.unlink(os.path.join(deepest, "x.mid"))
        for level in reversed(levels):
            os.rmdir(level)


@pytest.mark.parametrize("use_cache", [True, False])
def test_unreadable_files_and_folders_are_skipped_with_a_reason(tmp_path, monkeypatch, use_cache):
    root = tmp_path / "music"
    write_midi(root / "ok.mid", scale_notes())
    write_midi(root / "locked.mid", scale_notes())
    write_midi(root / "locked_dir" / "inner.mid", scale_notes())
    (root / "locked.mid").chmod(0o000)  # refuses a normal user; the tests may run as root, so also:
    (root / "locked_dir").chmod(0o000)

    def denied(path):
        return PermissionError(13, "Permission denied", str(path))

    real_open, real_read_bytes, real_scandir = open, pathlib.Path.read_bytes, os.scandir

    def fake_open(path, *args, **kwargs):
        if Path(path).name == "locked.mid":
            raise denied(path)
        return real_open(path, *args, **kwargs)

    def fake_read_bytes(self):
        if self.name == "locked.mid":
            raise denied(self)
        return real_read_bytes(self)

    def fake_scandir(path="."):
        if Path(path).name == "locked_dir":
            raise denied(path)
        return real_scandir(path)

    monkeypatch.setattr(corpus, "open", fake_open, raising=False)  # the cache's content hash
    monkeypatch.setattr(pathlib.Path, "read_bytes", fake_read_bytes)  # the reader
    monkeypatch.setattr(os, "scandir", fake_scandir)  # the folder walk
    try:
        pieces, report = build_corpus([root], cache_dir=tmp_path / "cache", use_cache=use_cache, jobs=1,
                                      progress=False)
    finally:
        (root / "locked.mid").chmod(0o644)
        (root / "locked_dir").chmod(0o755)
    assert [p.source for p in pieces] == ["ok.mid"]
    assert sorted(report.skipped) == [("locked.mid", "cannot read file: Permission denied"),
                                      ("locked_dir", "cannot read folder: Permission denied")]


def _create(raw_path: bytes, data: bytes) -> None:
    fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, data)
    os.close(fd)


def test_non_utf8_file_names_are_read_cached_and_reported(tmp_path):
    root = tmp_path / "music"
    write_midi(root / "good.mid", scale_notes())
    raw_root = os.fsencode(root)
    os.mkdir(os.path.join(raw_root, b"dossier-\xe9t\xe9"))  # Latin-1 names: not valid UTF-8
    _create(os.path.join(raw_root, b"dossier-\xe9t\xe9", b"caf\xe9.mid"), (root / "good.mid").read_bytes())
    _create(os.path.join(raw_root, b"mauvais-\xe9.mid"), b"not a MIDI file")
    for run in range(2):
        pieces, report = build_corpus([root], cache_dir=tmp_path / "cache", jobs=2, progress=False)
        assert [p.source for p in pieces] == ["good.mid", "dossier-\udce9t\udce9/caf\udce9.mid"]
        assert pieces[0].ids.tolist() == pieces[1].ids.tolist()
        assert report.skipped == [("mauvais-\udce9.mid", "not a MIDI file (no MThd header)")]
        assert report.cached == (0 if run == 0 else 3)
        assert "mauvais-\\udce9.mid" in json.dumps(report.as_dict())  # the JSON report stays ASCII


class _Trap:
    """Unpickling one of these records it: a cache entry must never be unpickled."""

    def __setstate__(self, state):
        _UNPICKLED.append(state)


_UNPICKLED: list = []


def test_cache_entries_holding_pickles_or_wrong_lengths_are_rebuilt_never_unpickled(tmp_path):
    src = write_midi(tmp_path / "music" / "a.mid", scale_notes())
    cache = tmp_path / "cache"
    pieces, _ = build_corpus([src], cache_dir=cache, jobs=1, progress=False)
    (entry,) = cache.rglob("*.npz")
    good = entry.read_bytes()
    with np.load(entry, allow_pickle=False) as z:
        arrays = dict(z)

    trap = _Trap()
    trap.__dict__["x"] = 1
    bad_entries = {
        "pickled ids": dict(arrays, ids=np.array([trap], dtype=object)),
        "pickled meta": dict(arrays, meta=np.array([trap], dtype=object)),
        "ids shorter than lengths": dict(arrays, ids=arrays["ids"][:-1]),
        "lengths without notes": dict(arrays, notes=arrays["notes"][:0]),
        "missing meta": {k: v for k, v in arrays.items() if k != "meta"},
    }
    for what, content in bad_entries.items():
        with open(entry, "wb") as f:
            np.savez(f, **content)
        again, report = build_corpus([src], cache_dir=cache, jobs=1, progress=False)
        assert report.cached == 0, what
        assert again[0].ids.tolist() == pieces[0].ids.tolist(), what
        assert entry.read_bytes() == good, what  # rewritten from the file
    assert _UNPICKLED == []
    entry.write_bytes(good[: len(good) // 2])  # cut off by a crash (writes are atomic, but still)
    assert build_corpus([src], cache_dir=cache, jobs=1, progress=False)[1].cached == 0


# ---------------------------------------------------------------------- transient failures are not cached
def _fail_once(monkeypatch, module, name, error):
    """Make `module.name` raise `error` on its first call only; returns the list of calls."""
    real = getattr(module, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return calls


@pytest.mark.parametrize("where", ["read_file", "parse_smf"])
def test_out_of_memory_while_reading_is_not_cached_as_a_skip(tmp_path, monkeypatch, where):
    from melodygru.io import readers

    src = write_midi(tmp_path / "music" / "a.mid", scale_notes())
    cache = tmp_path / "cache"
    with monkeypatch.context() as m:
        _fail_once(m, readers, where, MemoryError())
        pieces, report = build_corpus([src], cache_dir=cache, jobs=1, progress=False)
    assert pieces == [] and report.skipped == [("a.mid", "out of memory while reading")]
    assert not list(cache.rglob("*.npz"))  # nothing about the file's bytes was learnt
    pieces, report = build_corpus([src], cache_dir=cache, jobs=1, progress=False)
    assert report.cached == 0 and not report.skipped and [p.source for p in pieces] == ["a.mid"]
    assert build_corpus([src], cache_dir=cache, jobs=1, progress=False)[1].cached == 1


@pytest.mark.parametrize("error, reason", [
    (RuntimeError("reader bug"), "internal reader error (RuntimeError: reader bug)"),
    (PermissionError(13, "Permission denied"), "cannot read file: Permission denied"),
])
def test_internal_errors_and_file_access_errors_are_not_cached(tmp_path, monkeypatch, error, reason):
    from melodygru.io import readers

    src = write_midi(tmp_path / "music" / "a.mid", scale_notes())
    cache = tmp_path / "cache"
    with monkeypatch.context() as m:
        if isinstance(error, OSError):  # the file went unreadable between hashing and reading
            _fail_once(m, pathlib.Path, "read_bytes", error)
        else:
            _fail_once(m, readers, "read_file", error)
        pieces, report = build_corpus([src], cache_dir=cache, jobs=1, progress=False)
    assert pieces == [] and report.skipped == [("a.mid", reason)]
    pieces, report = build_corpus([src], cache_dir=cache, jobs=1, progress=False)
    assert report.cached == 0 and [p.source for p in pieces] == ["a.mid"]


def test_verdicts_on_the_bytes_are_cached(tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    (root / "text.mid").write_text("not MIDI at all\n")
    write_midi(root / "drums.mid", [(0, 1, 36, 100)], channel=9)
    for run in range(2):
        _, report = build_corpus([root], cache_dir=tmp_path / "cache", jobs=1, progress=False)
        assert report.cached == 2 * run
        assert dict(report.skipped) == {"text.mid": "not a MIDI file (no MThd header)",
                                        "drums.mid": "drums only (1 drum notes dropped)"}
