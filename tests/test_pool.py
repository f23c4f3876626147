"""Worker pools: a file that kills its worker process costs only itself, never the files beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import scale_notes, write_midi

import melodygru.corpus.pool
from melodygru.corpus import build as corpus
from melodygru.corpus.build import build_corpus
from melodygru.corpus.build import tokenize_file as real_tokenize_file
from melodygru.evaluation import roundtrip
from melodygru.evaluation.roundtrip import roundtrip_file as real_roundtrip_file

# Module-level, so a worker finds them by name under 'spawn' as well as 'fork'.


def _dies_on_kill(path: str) -> None:
    """What a segfaulting C extension or the kernel's OOM killer does to a worker."""
    if "kill" in Path(path).name:
        os._exit(1)


def tokenize_or_die(path, config, max_file_mb):
    _dies_on_kill(path)
    return real_tokenize_file(path, config, max_file_mb)


def roundtrip_or_die(path, rel, out_dir, config, max_file_mb):
    _dies_on_kill(path)
    return real_roundtrip_file(path, rel, out_dir, config, max_file_mb)


def length_or_die(path):
    _dies_on_kill(path)
    return len(path)


def fails_on_bad(path):
    if "bad" in path:
        raise ValueError(f"no good: {path}")
    return path.upper()


def _folder(root: Path, names) -> Path:
    for k, name in enumerate(names):
        write_midi(root / name, scale_notes(48 + k, 8))
    return root


NAMES = ["a.mid", "b.mid", "kill.mid", "c.mid", "d.mid", "e.mid"]


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_worker_killing_file_is_the_only_one_lost_in_build_corpus(tmp_path, monkeypatch, jobs):
    root = _folder(tmp_path / "music", NAMES)
    monkeypatch.setattr(corpus, "tokenize_file", tokenize_or_die)
    pieces, report = build_corpus([root], cache_dir=tmp_path / "cache", jobs=jobs, progress=False)
    assert [p.source for p in pieces] == ["a.mid", "b.mid", "c.mid", "d.mid", "e.mid"]
    assert len(report.skipped) == 1 and report.skipped[0][0] == "kill.mid"
    assert report.skipped[0][1].startswith("worker failed")
    # the dead worker's verdict is not cached: fixed (here: unpatched), the file is read
    monkeypatch.setattr(corpus, "tokenize_file", real_tokenize_file)
    pieces, report = build_corpus([root], cache_dir=tmp_path / "cache", jobs=jobs, progress=False)
    assert len(pieces) == 6 and not report.skipped and report.cached == 5


def test_a_worker_killing_file_is_the_only_one_lost_in_roundtrip(tmp_path, monkeypatch):
    root = _folder(tmp_path / "music", NAMES)
    monkeypatch.setattr(roundtrip, "roundtrip_file", roundtrip_or_die)
    rows, _ = roundtrip.roundtrip([root], out_dir=tmp_path / "out", jobs=2, progress=False)
    assert [r.path for r in rows] == sorted(NAMES)
    by_path = {r.path: r for r in rows}
    assert by_path["kill.mid"].skip.startswith("worker failed")
    for name in set(NAMES) - {"kill.mid"}:
        assert by_path[name].skip == "" and by_path[name].total == 8 and by_path[name].recall == 1.0, name
        assert (tmp_path / "out" / name).is_file()


def _collect(func, tasks, jobs):
    got = {}

    def done(i, result, error):
        assert i not in got
        got[i] = (result, error)

    corpus.map_files(func, tasks, jobs, done)
    return got


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_map_files_names_only_the_killers_and_survives_two_of_them(monkeypatch, context):
    import multiprocessing as mp

    monkeypatch.setattr(melodygru.corpus.pool, "_pool_context", lambda: mp.get_context(context))
    tasks = [(name,) for name in ["a", "kill-1", "b", "c", "kill-2", "d", "e"]]
    got = _collect(length_or_die, tasks, 2)
    assert sorted(got) == list(range(len(tasks)))
    for i, (name,) in enumerate(tasks):
        result, error = got[i]
        if name.startswith("kill"):
            assert result is None and isinstance(error, corpus.WorkerDied), name
        else:
            assert result == len(name) and error is None, name


@pytest.mark.parametrize("jobs", [1, 2])
def test_map_files_hands_an_exception_of_the_function_to_the_caller(jobs):
    got = _collect(fails_on_bad, [("one",), ("bad",), ("two",)], jobs)
    assert got[0] == ("ONE", None) and got[2] == ("TWO", None)
    assert got[1][0] is None and isinstance(got[1][1], ValueError) and "no good: bad" in str(got[1][1])


def test_map_files_stops_when_the_caller_raises(tmp_path):
    seen = []

    def done(i, result, error):
        seen.append(i)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        corpus.map_files(fails_on_bad, [(str(k),) for k in range(50)], 2, done)
    assert len(seen) == 1
