"""studio: `melodygru serve`, a local web page and JSON API over generation: the models it offers
(`models`: the shipped run directories and those under a folder, each loaded once and kept), the
checks on what a request asks for (`request`), the jobs that generate off the request threads, on
one worker thread for all models (`jobs`), which files a piece gets and the names the server may hand out
(`pieces`), the Flask application (`app`) and the server that runs it (`server`). The page itself
(HTML, JS, CSS) is package data under `static/`: nothing is fetched from elsewhere.

May import core, io, tokens, analysis, model and generation; only cli imports studio. Flask is
imported only by `app` and `server` (the `web` extra).
"""
