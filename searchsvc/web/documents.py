"""The write side of the API: documents pushed over HTTP, and the tasks that say what became of
them.

``PUT /api/documents/<id>`` puts one document, ``POST /api/documents`` many (a JSON array, or
NDJSON by its Content-Type), ``DELETE /api/documents/<id>`` deletes one. Each needs the admin
key and answers 202 with its task once the change is durable in the index's journal
(:class:`searchsvc.ingest.journal.Journal`), not once it is searchable: the writer applies the
journal within a second, and ``GET /api/tasks/<id>`` (or ``wait=`` seconds on any of them)
says when it is. Documents are checked by :mod:`searchsvc.ingest.pushed`.
"""

from __future__ import annotations

import re
import threading

from flask import Blueprint, Flask, current_app, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from searchsvc.errors import Kind, QueryError
from searchsvc.ingest.journal import DELETE, PUT, Change, Journal, Task
from searchsvc.ingest.pushed import (
    TooManyDocuments,
    check_batch,
    check_document,
    check_id,
    parse_batch,
    parse_one,
)
from searchsvc.settings import (
    JOURNAL_TASKS_KEPT_S,
    MAX_PUSH_BYTES,
    MAX_PUSH_WAIT_S,
    MAX_WAITING_WRITES,
)
from searchsvc.web.admin import refuse_unless_admin
from searchsvc.web.errors import json_error
from searchsvc.web.openapi import WAIT_PATTERN

bp = Blueprint("documents", __name__, url_prefix="/api")

_JOURNAL_KEY = "searchsvc.journal"
_WAITERS_KEY = "searchsvc.push_waiters"
_journal_lock = threading.Lock()

# What the 403 of a server without an admin key says.
NO_WRITE_KEY = (
    "document writes are off on this server: set SEARCHSVC_ADMIN_KEY (16 characters or more), "
    "or SEARCHSVC_ADMIN_KEY_FILE, where `searchsvc serve` runs and restart it, then send the key "
    "as 'Authorization: Bearer <key>'"
)
# Content types of a POST's body: a JSON array (also without a Content-Type), or NDJSON.
JSON_TYPES = frozenset({"application/json", ""})
NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
    }
)
# ``wait``: seconds from 0 to MAX_PUSH_WAIT_S (30), a whole or decimal number; empty: none
# (the OpenAPI document gives the same pattern).
_WAIT_RE = re.compile(WAIT_PATTERN)
# Task ids are SQLite row ids: a larger number names no task (and would not fit a query).
MAX_TASK_ID = 2**63 - 1


class TooLarge(RequestEntityTooLarge):
    """413 saying which limit the request broke (answered by :mod:`searchsvc.web.errors`)."""

    def __init__(self, message: str):
        super().__init__()
        self.api_message = message


def init_app(app: Flask) -> None:
    """Serve the document writes and their tasks; each worker opens the journal on its first
    write (a forked worker its own connection)."""
    app.extensions[_WAITERS_KEY] = threading.BoundedSemaphore(MAX_WAITING_WRITES)
    app.register_blueprint(bp)


def journal() -> Journal:
    """This app's journal of the index folder, opened once (JournalDiskFullError: a 507)."""
    app = current_app
    found = app.extensions.get(_JOURNAL_KEY)
    if found is None:
        with _journal_lock:
            found = app.extensions.get(_JOURNAL_KEY)
            if found is None:
                found = app.extensions[_JOURNAL_KEY] = Journal(app.config["INDEX_DIR"])
    return found


def close_journal(app: Flask) -> None:
    """Close the app's journal, if it opened one (a test app, a worker about to exit)."""
    found = app.extensions.pop(_JOURNAL_KEY, None)
    if found is not None:
        found.close()


def _wait_param() -> float:
    """The ``wait`` parameter: seconds to wait for the change to be searchable, 0 when absent
    or empty; a 400 unless a number from 0 to ``MAX_PUSH_WAIT_S``."""
    raw = request.args.get("wait", "")
    if _WAIT_RE.fullmatch(raw) is None or float(raw or 0) > MAX_PUSH_WAIT_S:
        raise QueryError(
            f"wait must be a number of seconds from 0 to {MAX_PUSH_WAIT_S:g}",
            kind=Kind.BAD_LIMIT,
            field="wait",
            limit=int(MAX_PUSH_WAIT_S),
        )
    return float(raw or 0)


def _task_json(task: Task) -> dict:
    """A task as the API answers it, with the link to follow it."""
    body = task.to_json()
    body["links"] = {"self": url_for("documents.task", task_id=task.id)}
    return body


def _waited(task: Task, seconds: float) -> Task:
    """``task`` once finished, or as it stands after ``seconds`` (at once when this worker
    already has as many writes waiting as it may hold threads for)."""
    if seconds <= 0 or task.status in ("succeeded", "failed"):
        return task
    waiters: threading.BoundedSemaphore = current_app.extensions[_WAITERS_KEY]
    if not waiters.acquire(blocking=False):
        return task
    try:
        return journal().wait(task.id, seconds) or task
    finally:
        waiters.release()


def _accepted(changes: list[Change], refused: list[dict]):
    """Journal the changes (durable when this returns), then answer 202 with the task."""
    wait = _wait_param()  # a bad ``wait`` is refused before anything is recorded
    task = journal().submit(changes, refused=refused)
    task = _waited(task, wait)
    location = url_for("documents.task", task_id=task.id)
    return _task_json(task), 202, {"Location": location, "Cache-Control": "no-store"}


def _body() -> bytes:
    """The request body, within ``MAX_PUSH_BYTES`` (413 past it)."""
    request.max_content_length = MAX_PUSH_BYTES
    length = request.content_length
    if length is not None and length > MAX_PUSH_BYTES:
        raise TooLarge(f"the request body is over {MAX_PUSH_BYTES:,} bytes; send fewer documents")
    return request.get_data(cache=False)


def _path_id(doc_id: str) -> str:
    """The id an address names, or a 400 saying why it is none."""
    try:
        return check_id(doc_id)
    except ValueError as e:
        raise QueryError(str(e).replace("field 'id'", "the id"), field="id") from None


@bp.put("/documents/<doc_id>")
def put_document(doc_id: str):
    """Put one document under ``doc_id`` (replacing what it held): 400 with the reason when it
    is refused, else 202 with its task."""
    refused = refuse_unless_admin(no_key=NO_WRITE_KEY)
    if refused is not None:
        return refused
    doc_id = _path_id(doc_id)
    value = parse_one(_body())
    try:
        document = check_document(value, doc_id)
    except ValueError as e:
        raise QueryError(f"the document is refused: {e}", field="body") from None
    return _accepted([Change(PUT, document.id, _stored(document))], [])


def _stored(document) -> dict:
    """A checked document's fields as the journal keeps them (its id is the change's)."""
    fields = document.fields()
    del fields["id"]
    return fields


@bp.post("/documents")
def post_documents():
    """Put many documents (a JSON array, or NDJSON): 202 with the task, which lists those
    refused with their reason; the others are applied in their order."""
    refused = refuse_unless_admin(no_key=NO_WRITE_KEY)
    if refused is not None:
        return refused
    kind = (request.mimetype or "").lower()
    if kind not in JSON_TYPES and kind not in NDJSON_TYPES:
        raise UnsupportedMediaType()
    try:
        values = parse_batch(_body(), ndjson=kind in NDJSON_TYPES)
    except TooManyDocuments as e:
        raise TooLarge(str(e)) from None
    accepted, rejected = check_batch(values)
    changes = [Change(PUT, doc.id, _stored(doc)) for doc in accepted]
    errors = [{"index": r.index, "id": r.id, "reason": r.reason} for r in rejected]
    return _accepted(changes, errors)


@bp.delete("/documents/<doc_id>")
def delete_document(doc_id: str):
    """Delete the document ``doc_id`` (an id that names none is no error): 202 with the task."""
    refused = refuse_unless_admin(no_key=NO_WRITE_KEY)
    if refused is not None:
        return refused
    return _accepted([Change(DELETE, _path_id(doc_id))], [])


@bp.get("/tasks/<int:task_id>")
def task(task_id: int):
    """What became of a write: ``enqueued``, ``processing``, ``succeeded`` or ``failed``, with
    the documents refused; ``wait`` seconds for it to finish. 404 for an unknown task (or one
    finished long ago, and pruned)."""
    refused = refuse_unless_admin(no_key=NO_WRITE_KEY)
    if refused is not None:
        return refused
    wait = _wait_param()
    found = journal().task(task_id) if task_id <= MAX_TASK_ID else None
    if found is None:
        days = JOURNAL_TASKS_KEPT_S // 86400
        return json_error(404, f"no task has this id (finished tasks are kept {days} days)")
    found = _waited(found, wait)
    return _task_json(found), 200, {"Cache-Control": "no-store"}
