"""Corpus building: walking folders, the skip report, the token cache."""

from __future__ import annotations

import numpy as np
import pytest

from melodygru.corpus import _cache_path, build_corpus, corpus_files, find_files
from melodygru.errors import MelodyGRUError
from melodygru.tokenizer import Tokenizer, TokenizerConfig

from helpers import messy_folder, scale_notes, write_midi


@pytest.fixture()
def messy(tmp_path):
    return messy_folder(tmp_path / "music")


def test_walk_finds_music_recursively_and_counts_the_rest(messy):
    fs = find_files([messy])
    names = sorted(p.name for _, p in fs.files)
    assert names == ["CAPS.MID", "drums.mid", "empty.mid", "good.mid", "random.mid", "text.mid", "tunes.abc"]
    assert fs.ignored == 2  # notes.txt, cover.jpg


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
