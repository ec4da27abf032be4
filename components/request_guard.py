"""The boundary in front of Dash's callback endpoint: a request that is not a callback request
this app can serve gets 400 before Dash parses it, so Dash's own errors on malformed envelopes
(no such output, a client-side output, a body that is not a JSON object, nesting deep enough
to exhaust the parser, fewer or more inputs than the callback has) never become a 500 with a
traceback. Bodies over MAX_BODY get 413, and a script path outside Dash's registered packages
404."""

from __future__ import annotations

import json

from dash import Dash
from dash.exceptions import DependencyException
from flask import abort, request

MAX_BODY = 4 * 1024 * 1024  # bytes; a gene switch sends a few KB
CALLBACK_PATH = "/_dash-update-component"


def check_callback_request(app: Dash) -> None:
    if request.path != CALLBACK_PATH or request.method != "POST":
        return
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError):
        abort(400, "the request body is not JSON")
    if not isinstance(body, dict):
        abort(400, "expected a JSON object")
    output = body.get("output")
    callback = app.callback_map.get(output) if isinstance(output, str) else None
    if callback is None or "callback" not in callback:
        abort(400, "no server callback for that output")
    for key in ("inputs", "state", "changedPropIds"):
        if not isinstance(body.get(key, []), list):
            abort(400, f"'{key}' must be a list")
    for key in ("inputs", "state"):  # Dash indexes them by the callback's own list
        if len(body.get(key, [])) != len(callback.get(key, [])):
            abort(400, f"'{key}' must hold one entry per {key[:5]} of the callback")
    if not isinstance(body.get("outputs"), dict | list):
        abort(400, "'outputs' must name the outputs")


def install(app: Dash) -> None:
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.server.before_request(lambda: check_callback_request(app))
    # Dash's own error for a script path outside its registered packages (e.g. '..'): not found
    app.server.register_error_handler(DependencyException, lambda error: ("not found", 404))
