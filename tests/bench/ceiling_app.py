"""The ceiling for tests.bench.pages: a bare Flask app that returns a pre-built page.

``GET /<size>`` answers with ``size`` bytes of HTML, built once per size and kept, so a
request costs only what Flask and gunicorn cost. ``POST /<size>`` reads the form (as a
post does) and answers 303 with a body of ``size`` bytes. Served by the same gunicorn
settings as Hearth: ``gunicorn tests.bench.ceiling_app:app``.
"""

from __future__ import annotations

from flask import Flask, Response, request

app = Flask(__name__)
_PAGES: dict[int, bytes] = {}
_MAX = 16 * 1024 * 1024


def _page(size: int) -> bytes:
    page = _PAGES.get(size)
    if page is None:
        head = b"<!doctype html><html><head><title>ceiling</title></head><body><p>"
        tail = b"</p></body></html>"
        filler = max(0, size - len(head) - len(tail))
        page = (head + b"x" * filler + tail)[: max(size, 0)] if size else b""
        _PAGES[size] = page
    return page


@app.route("/<int:size>", methods=["GET", "POST"])
def ceiling(size: int):
    if size > _MAX:
        return Response(status=404)
    if request.method == "POST":
        request.form.get("body")
        return Response(
            _page(size),
            status=303,
            headers={"Location": "/0"},
            content_type="text/html; charset=utf-8",
        )
    return Response(_page(size), content_type="text/html; charset=utf-8")
