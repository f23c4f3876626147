"""The studio's Flask application: the page (package data under `static/`) and the JSON API it
uses (README, "Studio"). Every refusal is a JSON object {"error": "one line"} with a 4xx status;
nothing a request sends becomes part of a path.
"""


from __future__ import annotations

import json
import secrets
import sys
import traceback
from pathlib import Path

from flask import Flask, jsonify, request, send_file
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..core.atomic import atomic_write_bytes
from ..core.errors import MelodyGRUError
from ..generation.generate import DEFAULT_CHECKPOINT
from .jobs import JobQueue
from .models import Catalogue
from .pieces import Library, Outputs, make_pieces, piece_row
from .request import RequestError, check_controls, is_loopback, parse_generate

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD = 4 * 1024 * 1024  # bytes of a request body: a primer MIDI file is a few KiB
MAX_PRIMER_MB = 2.0
MAX_PRIMER_SECONDS = 600.0  # ten minutes: its opening and every sample continuing it are rendered as audio
WAIT_S = 900  # a waiting POST /api/generate answers 202 with its job id after this long


def create_app(out_dir, models_dir=None, max_upload: int = MAX_UPLOAD, outputs: Outputs = Outputs(),
               check_host: bool = True, shipped=None, log=None) -> Flask:
    """The studio as a WSGI application.

    Args:
        out_dir: the folder every piece and uploaded primer is written to (created).
        models_dir: a folder whose run directories are offered besides the shipped models.
        max_upload: the largest request body in bytes (larger: 413).
        outputs: the files every piece gets besides MIDI.
        check_host: answer only requests addressed to this machine by a loopback name (so a web
            page elsewhere cannot reach a studio on localhost through DNS rebinding); off when the
            server is exposed beyond localhost.
        shipped: the folder of shipped run directories (default: checkpoints/).
        log: called with a line for each job and internal error (default: stderr).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    primers = out_dir / "primers"
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    catalogue = Catalogue(models_dir, **({"shipped": Path(shipped)} if shipped is not None else {}))
    library = Library(out_dir)

    def run(job):
        model = catalogue.find(job.request.model)
        if not catalogue.is_loaded(model):
            job.stage = "loading the model"
        checkpoint = catalogue.load(model)
        files, report = make_pieces(checkpoint, job.request.settings(), job.primer, out_dir, outputs,
                                    stage=lambda text: setattr(job, "stage", text))
        rows = [piece_row(f, model.name, report, outputs) for f in files]
        library.add(rows)
        log(f"job {job.id}: {len(rows)} piece(s) of {model.name}, seed {report.get('seed')}, "
            f"{report.get('decode_seconds')} s sampling")
        return rows, report

    jobs = JobQueue(run, log)
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=int(max_upload))
    app.json.sort_keys = False  # a piece row reads in its own order: id, files, numbers
    app.url_map.merge_slashes = False  # '/files//etc/passwd' is refused as it is, not redirected to another name
    app.extensions["melodygru"] = {"catalogue": catalogue, "jobs": jobs, "library": library}

    @app.before_request
    def only_this_machine():
        if check_host and not _loopback_host(request.host):
            return _error(f"this studio answers only on localhost, not as {request.host[:60]!r}", 403)
        return None

    @app.errorhandler(RequestError)
    def refused(e):
        return _error(str(e), e.status)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e):
        return _error(f"the request is larger than this server takes ({max_upload:,} bytes)", 413)

    @app.errorhandler(HTTPException)
    def http_error(e):
        where = request.path if len(request.path) <= 80 else request.path[:77] + "..."
        return _error(f"{e.name}: {request.method} {where}", e.code or 500)

    @app.errorhandler(Exception)
    def crashed(e):
        log(f"internal error: {type(e).__name__}: {e}\n{traceback.format_exc()}")
        return _error(f"internal error: {type(e).__name__}", 500)

    @app.get("/")
    def page():
        return send_file(STATIC / "index.html", mimetype="text/html", max_age=0)

    @app.get("/api/models")
    def models():
        found = catalogue.models()
        default = DEFAULT_CHECKPOINT.name if DEFAULT_CHECKPOINT.name in found else next(iter(found), None)
        return jsonify(models=[catalogue.about(m) for m in found.values()], default=default)

    @app.post("/api/generate")
    def generate():
        try:  # json.loads, not get_json: a body nested 10^5 deep is a RecursionError, refused all the same
            body = json.loads(request.get_data(cache=False))
        except (ValueError, RecursionError):
            raise RequestError("the body must be JSON, e.g. {\"model\": \"bach\", \"length\": 256}") from None
        req = parse_generate(body, DEFAULT_CHECKPOINT.name)
        model = catalogue.find(req.model)
        about = catalogue.about(model)
        if "error" in about:
            raise RequestError(f"model {model.name} cannot be used: {about['error']}", 500)
        try:
            check_controls(req, model.name, about["controls"])
        except MelodyGRUError as e:
            raise RequestError(str(e)) from None
        primer = None
        if req.primer is not None:
            primer = primers / f"{req.primer}.mid"  # the id is 16 hex digits (checked): never a path
            if not primer.is_file():
                raise RequestError(f"no primer {req.primer}: upload one with POST /api/primer", 404)
        job = jobs.submit(req, primer)
        if not req.wait:
            return jsonify({**jobs.describe(job), "url": f"/api/jobs/{job.id}"}), 202
        if not job.done.wait(WAIT_S):
            return jsonify({**jobs.describe(job), "url": f"/api/jobs/{job.id}"}), 202
        if job.status != "done":
            return jsonify(error=job.error, job=job.id), job.http_status
        return jsonify(jobs.describe(job))

    @app.get("/api/jobs/<job_id>")
    def job_status(job_id):
        job = jobs.get(job_id)
        return jsonify(jobs.describe(job))

    @app.get("/api/pieces")
    def pieces():
        return jsonify(pieces=library.pieces())

    @app.post("/api/primer")
    def primer_upload():
        upload = request.files.get("file")
        if upload is not None:
            data, name = upload.read(), upload.filename or "upload"
        elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            raise RequestError("send the primer as the form field 'file'")
        else:
            data, name = request.get_data(), request.args.get("name", "upload")
        return jsonify(_store_primer(data, str(name), primers)), 201

    @app.get("/files/<path:name>")
    def files(name):
        path, mimetype = library.file(name)
        download = request.args.get("download") not in (None, "", "0")
        return send_file(path, mimetype=mimetype, as_attachment=download, download_name=path.name, max_age=0,
                         conditional=True)

    return app


def _loopback_host(host: str) -> bool:
    """Whether a Host header names this machine by a loopback name or address (a port may follow)."""
    name = host.partition("]")[0] + "]" if host.startswith("[") else host.rpartition(":")[0] if ":" in host else host
    return is_loopback(name)


def _error(message: str, status: int):
    response = jsonify(error=" ".join(str(message).split()))
    response.status_code = status
    return response


def _store_primer(data: bytes, name: str, folder: Path) -> dict:
    """Keep an uploaded primer under a fresh id once it reads as a MIDI file with notes.

    Raises:
        RequestError: (400) not a MIDI file, or one with no notes; (413) too large for a primer.
    """
    from ..io.readers import read_file
    from ..io.writers import seconds

    if len(data) > MAX_PRIMER_MB * 1024 * 1024:
        raise RequestError(f"a primer must be at most {MAX_PRIMER_MB:g} MiB, got {len(data):,} bytes", 413)
    if not data.startswith(b"MThd"):
        raise RequestError("the upload is not a MIDI file (it does not start with 'MThd')")
    primer_id = secrets.token_hex(8)
    path = folder / f"{primer_id}.mid"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    try:
        pieces = read_file(path, max_file_mb=MAX_PRIMER_MB)
        notes = max((len(p.notes) for p in pieces), default=0)
        if not notes:
            raise RequestError("the MIDI file has no notes to continue")
        lasts = max(seconds(p) for p in pieces)
        if lasts > MAX_PRIMER_SECONDS:
            raise RequestError(f"a primer may last at most {MAX_PRIMER_SECONDS:,.0f} s, this one lasts {lasts:,.0f} s")
    except RequestError:
        path.unlink(missing_ok=True)
        raise
    except MelodyGRUError as e:
        path.unlink(missing_ok=True)
        raise RequestError(f"the upload is not a MIDI file this server can read: {e}") from None
    shown = "".join(c for c in Path(name).name if c.isprintable())[:80] or "upload"
    return {"primer": primer_id, "name": shown, "notes": notes, "bytes": len(data)}
