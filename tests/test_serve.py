"""`melodygru serve`: the studio's JSON API on a tiny run directory trained here (the files each
piece gets, parsed as a player would), bad requests (each a 4xx with one line, the server still
up), 20 generate requests at once on a real server, and the page driven in a real browser
(headless Chromium through Selenium; skipped without it unless MELODYGRU_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
import wave

import mido
import pytest

REQUIRE_BROWSER = os.environ.get("MELODYGRU_REQUIRE_BROWSER") == "1"
try:
    import flask  # noqa: F401  (the web extra)
except ImportError:
    if REQUIRE_BROWSER:
        raise
    pytest.skip('the studio needs the web extra: pip install -e ".[web]"', allow_module_level=True)

from melodygru.studio.app import create_app  # noqa: E402
from melodygru.studio.request import MAX_LENGTH, is_loopback  # noqa: E402
from melodygru.studio.server import exposure_warning, make_studio_server  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A folder holding one real run directory, `tiny`: two epochs on toy scales (a few seconds)."""
    from toy_tokens import toy_corpus, toy_tokenizer

    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train

    tokenizer = toy_tokenizer()
    root = tmp_path_factory.mktemp("models")
    config = TrainConfig(preset="tiny", epochs=2, seq_len=32, batch_size=16, lr=1e-2, steps_per_execution=4)
    train(toy_corpus(tokenizer, 40), tokenizer, root / "tiny", config, log=lambda line: None)
    return root


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory):
    logged = []
    app = create_app(tmp_path_factory.mktemp("out"), models_dir, log=logged.append)
    app.logged = logged
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    """The studio on a free port of 127.0.0.1, as `melodygru serve` runs it."""
    srv = make_studio_server("127.0.0.1", 0, tmp_path_factory.mktemp("served"), models_dir, log=lambda line: None)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


def generate(client, **body):
    return client.post("/api/generate", json={"model": "tiny", "length": 32, "seed": 1, **body})


def one_line_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error and "\n" not in error and len(error) < 400
    return error


def check_files(fetch, piece):
    """Every file of a piece parses as its player would read it: MIDI (mido), WAV, PNG, MusicXML."""
    midi = mido.MidiFile(file=io.BytesIO(fetch(piece["midi"])))
    assert sum(m.type == "note_on" and m.velocity > 0 for t in midi.tracks for m in t) == piece["notes"] > 0
    with wave.open(io.BytesIO(fetch(piece["wav"]))) as w:
        assert w.getnframes() > 0 and w.getsampwidth() == 2
    assert fetch(piece["png"]).startswith(PNG)
    assert b"<score-partwise" in fetch(piece["score"])[:2000]


# --------------------------------------------------------------------------- the API
def test_models_lists_the_shipped_ones_and_the_runs_under_the_folder(client):
    found = client.get("/api/models").get_json()
    by_name = {m["name"]: m for m in found["models"]}
    assert {"bach", "folk", "tiny"} <= set(by_name) and found["default"] == "bach"
    assert by_name["tiny"]["source"] == "models" and by_name["bach"]["source"] == "shipped"
    assert by_name["folk"]["controls"]["style"] and by_name["folk"]["controls"]["key"]
    assert by_name["tiny"]["controls"]["key"] == [] and "GRU" in by_name["tiny"]["description"]
    assert set(by_name["bach"]["defaults"]) == {"temperature", "top_k", "top_p"}


def test_the_page_and_its_script_and_style_come_from_this_server_only(client):
    page = client.get("/").get_data(as_text=True)
    assert "<title>melodygru studio</title>" in page
    for text in (page, client.get("/static/studio.js").get_data(as_text=True),
                 client.get("/static/studio.css").get_data(as_text=True)):
        assert len(text) > 500 and "://" not in text  # no CDN, no font or script from elsewhere: works offline


def test_generate_writes_files_that_parse_and_loads_the_model_once(app, client):
    catalogue = app.extensions["melodygru"]["catalogue"]
    settings = dict(num_samples=2, temperature=0.9, top_k=20, top_p=0.95)
    r = generate(client, **settings)
    assert r.status_code == 200, r.get_data(as_text=True)
    pieces = r.get_json()["pieces"]
    assert len(pieces) == 2 and pieces[0]["id"] != pieces[1]["id"]
    for piece in pieces:
        check_files(lambda url: client.get(url).data, piece)
        assert piece["seed"] == 1 and piece["temperature"] == 0.9 and piece["top_k"] == 20
    again = generate(client, **settings).get_json()["pieces"]
    assert client.get(again[0]["midi"]).data == client.get(pieces[0]["midi"]).data  # same seed, same piece
    assert catalogue.loads == 1
    listed = client.get("/api/pieces").get_json()["pieces"]
    assert [p["id"] for p in listed[:4]] == [again[1]["id"], again[0]["id"], pieces[1]["id"], pieces[0]["id"]]
    download = client.get(pieces[0]["midi"] + "?download=1")
    assert "attachment" in download.headers["Content-Disposition"]


def test_bars_without_a_length_draw_enough_tokens_for_them(client):
    piece = generate(client, length=None, bars=2, seed=3).get_json()["pieces"][0]
    assert piece["bars"] <= 2 and piece["tokens"] > 32


def test_a_model_is_loaded_again_only_when_its_files_change(models_dir, tmp_path):
    from melodygru.studio.models import Catalogue

    shutil.copytree(models_dir / "tiny", tmp_path / "runs" / "mine")
    catalogue = Catalogue(tmp_path / "runs")
    model = catalogue.find("mine")
    first = catalogue.load(model)
    assert catalogue.load(model) is first and catalogue.loads == 1 and catalogue.is_loaded(model)
    stat = (model.path / "model.keras").stat()
    os.utime(model.path / "model.keras", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # trained further
    assert not catalogue.is_loaded(model)
    assert catalogue.load(model) is not first and catalogue.loads == 2


def test_a_job_reports_its_progress_until_its_pieces_are_there(client):
    r = generate(client, wait=False)
    assert r.status_code == 202
    job = r.get_json()
    assert job["status"] in ("queued", "running", "done") and job["url"] == f"/api/jobs/{job['job']}"
    deadline = time.time() + 60
    while job["status"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.1)
        job = client.get(job["url"] if "url" in job else f"/api/jobs/{job['job']}").get_json()
    assert job["status"] == "done" and len(job["pieces"]) == 1 and job["elapsed_s"] > 0


def test_a_primer_upload_opens_the_pieces(client, tmp_path):
    from helpers import scale_notes, write_midi

    primer = write_midi(tmp_path / "opening.mid", scale_notes(60, 16))
    r = client.post("/api/primer", data={"file": (primer.open("rb"), "opening.mid")})
    assert r.status_code == 201, r.get_data(as_text=True)
    up = r.get_json()
    assert up["notes"] == 16 and up["name"] == "opening.mid"
    piece = generate(client, primer=up["primer"], primer_bars=1).get_json()["pieces"][0]
    notes = [m.note for t in mido.MidiFile(file=io.BytesIO(client.get(piece["midi"]).data)).tracks for m in t
             if m.type == "note_on" and m.velocity > 0]
    assert notes[:8] == [n[2] for n in scale_notes(60, 8)]  # the first bar of the primer, verbatim


BAD_GENERATE = [
    ({"model": "nope"}, 404, "unknown model"),
    ({"model": "../../etc/passwd"}, 404, "unknown model"),
    ({"length": 10**9}, 400, f"1..{MAX_LENGTH}"),
    ({"length": "32"}, 400, "whole number"),
    ({"num_samples": 10**6}, 400, "num_samples"),
    ({"temperature": -1}, 400, "temperature"),
    ({"top_p": 0}, 400, "top_p"),
    ({"seed": True}, 400, "seed"),
    ({"key": "../../etc/passwd"}, 400, "without key tokens"),
    ({"meter": "../../etc/passwd"}, 400, "meter"),
    ({"meter": "../x"}, 400, "not a meter"),
    ({"style": "../../etc/passwd"}, 400, "no style"),
    ({"primer": "../../etc/passwd"}, 400, "primer must be an id"),
    ({"primer": "0123456789abcdef"}, 404, "no primer"),
    ({"path": "/etc/passwd"}, 400, "unknown field"),
    ({"bars": 10**6}, 400, "bars"),
    ({"wait": "no"}, 400, "wait"),
]


@pytest.mark.parametrize("body, status, says", BAD_GENERATE, ids=lambda x: str(x)[:30])
def test_a_bad_generate_request_gets_a_4xx_with_one_line(client, body, status, says):
    assert says in one_line_error(generate(client, **body), status)


@pytest.mark.parametrize("body", [b"", b"not json", b"[" * 200_000, b"\xff\xfe", b"[1, 2]", b"null"])
def test_a_body_that_is_not_a_json_object_gets_a_400(client, body):
    r = client.post("/api/generate", data=body, content_type="application/json")
    assert "JSON" in one_line_error(r, 400)


def test_the_folk_model_refuses_a_path_as_its_key_or_style(client):
    assert "is not a key" in one_line_error(client.post("/api/generate", json={"model": "folk", "key": "../x"}), 400)
    assert "irish" in one_line_error(client.post("/api/generate", json={"model": "folk", "style": "../x"}), 400)


@pytest.mark.parametrize("url", ["/files/../../etc/passwd", "/files/..%2F..%2Fetc%2Fpasswd", "/files/%2Fetc%2Fpasswd",
                                 "/files/passwd", "/files/sample-999.mid", "/api/jobs/..%2F..", "/static/../../setup.py"])
def test_no_path_reads_a_file_outside_the_studio(client, url):
    r = client.get(url)
    assert 400 <= r.status_code < 500 and b"root:" not in r.data and b"setuptools" not in r.data
    one_line_error(r, r.status_code)


def test_uploads_that_are_not_midi_or_too_large_are_refused(models_dir, tmp_path, client):
    assert "not a MIDI file" in one_line_error(client.post("/api/primer", data=b"root:x:0:0:root:/root:/bin/bash\n"), 400)
    junk = {"file": (io.BytesIO(b"MThd" + bytes(200)), "junk.mid")}
    assert "server can read: bad MIDI header" in one_line_error(client.post("/api/primer", data=junk), 400)
    assert "'file'" in one_line_error(client.post("/api/primer", data={"other": "x"}), 400)
    small = create_app(tmp_path / "out", models_dir, max_upload=64 * 1024).test_client()
    big = {"file": (io.BytesIO(b"MThd" + bytes(100 * 1024)), "big.mid")}
    assert "larger than" in one_line_error(small.post("/api/primer", data=big), 413)
    assert small.get("/api/models").status_code == 200
    assert not list((tmp_path / "out").rglob("*.mid"))  # nothing refused is kept


def test_a_primer_that_lasts_too_long_is_refused_and_bars_kept_are_bounded(client, tmp_path):
    """An 80-byte file with a note 4,000 bars after its first would open every sample with more
    than two hours of music (gigabytes of audio): refused at upload; and 0 bars kept (the
    command line's "all of it") is not a studio request."""
    from helpers import write_midi

    from melodygru.studio.app import MAX_PRIMER_SECONDS

    span = write_midi(tmp_path / "span.mid", [(0.0, 1.0, 60, 80), (16000.0, 1.0, 62, 80)])
    says = one_line_error(client.post("/api/primer", data={"file": (span.open("rb"), "span.mid")}), 400)
    assert f"at most {MAX_PRIMER_SECONDS:,.0f} s" in says
    assert "primer_bars" in one_line_error(generate(client, primer_bars=0), 400)


def test_a_piece_over_the_audio_limit_gets_no_audio_and_says_why(tmp_path):
    import numpy as np

    from melodygru.core.events import Note, Piece
    from melodygru.generation.files import Sample, write_samples

    long = Piece([Note(0.0, 1.0, 60), Note(2000.0, 1.0, 62)])  # 1,000 s at 120 bpm
    files = write_samples([Sample(np.zeros(1, int), long, 1, False)], tmp_path, audio=True, max_audio_seconds=900)
    assert files[0].wav is None and "over the limit of 900 s" in files[0].renderer
    assert not list(tmp_path.glob("*.wav")) and (tmp_path / "sample-001.mid").is_file()


def test_a_request_not_addressed_to_localhost_is_refused(client):
    assert "localhost" in one_line_error(client.get("/api/models", headers={"Host": "evil.example"}), 403)
    for host in ("127.0.0.1:8765", "localhost", "127.0.0.2:80", "[::1]:8765"):
        assert client.get("/api/models", headers={"Host": host}).status_code == 200, host
    assert client.get("/api/models", headers={"Host": "localhost.evil.example"}).status_code == 403


def test_serving_beyond_localhost_warns():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert exposure_warning("127.0.0.1", 8765) is None
    assert "beyond localhost" in exposure_warning("0.0.0.0", 8765)


# --------------------------------------------------------------------------- a real server
def fetch(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.read()


def test_twenty_generate_requests_at_once_all_complete_with_valid_files(server):
    def one(i):
        return json.loads(fetch(f"{server}/api/generate", {"model": "tiny", "length": 32, "seed": i}))

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(one, range(20)))
    took = time.perf_counter() - start
    pieces = [a["pieces"][0] for a in answers]
    assert len({p["midi"] for p in pieces}) == 20
    for p in pieces:
        check_files(lambda url: fetch(server + url), p)
    print(f"20 concurrent requests: {took:.1f} s")
    with pytest.raises(urllib.error.HTTPError) as bad:  # and the server still refuses what it should
        fetch(f"{server}/api/generate", {"model": "tiny", "length": 10**9})
    assert bad.value.code == 400


def test_an_upload_of_200_mb_gets_a_413_and_the_server_goes_on(server):
    req = urllib.request.Request(f"{server}/api/primer", b"MThd" + bytes(200 * 1024 * 1024 - 4),
                                 {"Content-Type": "application/octet-stream"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=60)
    assert refused.value.code == 413 and "larger than" in json.loads(refused.value.read())["error"]
    assert json.loads(fetch(f"{server}/api/models"))["models"]


# --------------------------------------------------------------------------- a real browser
def browser():
    """Headless Chromium through Selenium, or a skip (a failure with MELODYGRU_REQUIRE_BROWSER=1)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if not (chromium and driver):
        reason = "the browser test needs selenium, chromium and chromium-driver (apt-get install chromium chromium-driver)"
        pytest.fail(reason) if REQUIRE_BROWSER else pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="melodygru-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options), profile


def test_the_page_generates_plays_and_downloads_in_a_real_browser(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, profile = browser()
    try:
        driver.get(server + "/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: len(Select(d.find_element(By.ID, "model")).options) >= 3)
        model = Select(driver.find_element(By.ID, "model"))
        model.select_by_value("folk")  # a model with keys and styles shows those controls...
        assert driver.find_element(By.ID, "key-row").is_displayed()
        assert driver.find_element(By.ID, "style-row").is_displayed()
        model.select_by_value("tiny")  # ...one without them does not
        assert not driver.find_element(By.ID, "key-row").is_displayed()
        assert not driver.find_element(By.ID, "style-row").is_displayed()
        for name, value in (("length", "48"), ("seed", "7"), ("temperature", "0.9")):
            field = driver.find_element(By.ID, name)
            field.clear()
            field.send_keys(value)
        before = len(driver.find_elements(By.CSS_SELECTOR, "#pieces .piece"))  # the session's pieces so far
        driver.find_element(By.ID, "generate").click()
        WebDriverWait(driver, 120).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#pieces .piece")) > before)
        card = driver.find_element(By.CSS_SELECTOR, "#pieces .piece")
        assert "seed 7" in card.text and "temperature 0.9" in card.text
        audio = card.find_element(By.TAG_NAME, "audio")
        src = audio.get_attribute("src")
        assert src.startswith(server + "/files/") and src.endswith(".wav")
        assert driver.execute_script("return arguments[0].canPlayType('audio/wav')", audio) != ""
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "return arguments[0].readyState >= 1 && arguments[0].duration > 0", audio))  # the browser decoded it
        with wave.open(io.BytesIO(fetch(src))) as w:
            assert w.getnframes() > 0
        roll = card.find_element(By.CSS_SELECTOR, "img.roll")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", roll))
        href = card.find_element(By.CSS_SELECTOR, "a.midi").get_attribute("href")
        midi = mido.MidiFile(file=io.BytesIO(fetch(href)))
        assert any(m.type == "note_on" for t in midi.tracks for m in t)
        assert card.find_element(By.CSS_SELECTOR, "a.musicxml").get_attribute("href").endswith(".musicxml?download=1")
        shot = tmp_path / "studio.png"
        driver.save_screenshot(str(shot))
        assert shot.read_bytes().startswith(PNG)
        driver.refresh()  # the session's pieces stay listed
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#pieces .piece")) > before)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] if hasattr(driver, "get_log") else []
        assert not errors, errors
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------- the command
def test_serve_on_a_port_in_use_is_a_one_line_error(tmp_path):
    import socket

    from click.testing import CliRunner

    from melodygru.cli.app import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = CliRunner().invoke(main, ["serve", "--port", str(port), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "cannot listen on 127.0.0.1" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1


def test_melodygru_serve_beyond_localhost_warns(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from werkzeug.serving import BaseWSGIServer

    from melodygru.cli.app import main

    served = []
    monkeypatch.setattr(BaseWSGIServer, "serve_forever", lambda self, *a, **k: served.append(self.server_port))
    res = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "warning: serving on 0.0.0.0" in res.output and "no login" in res.output
    assert f"melodygru studio on http://0.0.0.0:{served[0]}/" in res.output and served[0] > 0
    res = CliRunner().invoke(main, ["serve", "--port", "0", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0 and "warning" not in res.output and "http://127.0.0.1:" in res.output
