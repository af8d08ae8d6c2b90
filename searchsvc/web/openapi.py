"""The OpenAPI 3.1 description of the JSON API (served at ``/api/openapi.json``).

A test checks it against the app's routes and validates real responses with its schemas.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from searchsvc.engine.results import SORTS
from searchsvc.index.schema import DATE_PATTERN, LEAP_YEAR_PATTERN, MONTH_DAY_PATTERN, YEAR_PATTERN
from searchsvc.settings import (
    MAX_COMPLETIONS,
    MAX_DOCUMENT_ID_CHARS,
    MAX_HEADER_FIELD_BYTES,
    MAX_HEADER_FIELDS,
    MAX_PER_PAGE,
    MAX_PREFIX_TERMS,
    MAX_PUSH_BYTES,
    MAX_PUSH_DOCUMENTS,
    MAX_PUSH_WAIT_S,
    MAX_PUSHED_SOURCE_CHARS,
    MAX_PUSHED_TITLE_CHARS,
    MAX_PUSHED_URL_CHARS,
    MAX_QUERY_CHARS,
    MAX_QUERY_STRING_BYTES,
    MAX_REQUEST_LINE_BYTES,
    MAX_RESULT_WINDOW,
    MAX_SIMILAR,
    REQUEST_READ_TIMEOUT_S,
    SEARCH_TIME_LIMIT,
)

NULLABLE_STRING = {"type": ["string", "null"]}
WAIT_PATTERN = r"^(([0-9]|[12][0-9])([.][0-9]{1,3})?|30([.]0{1,3})?)?$"  # web.documents's


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


def _stats_rows(description: str, **more: dict) -> dict:
    """A list of queries with their counts in /api/stats."""
    return {
        "type": "array",
        "description": description,
        "items": {
            "type": "object",
            "required": ["query", "count", *more],
            "properties": {
                "query": {"type": "string"},
                "count": {"type": "integer", "minimum": 1},
                **more,
            },
        },
    }


QUERY_PARAM = {
    "name": "q",
    "in": "query",
    "required": False,
    "description": (
        'The query: words (all must match), "exact phrase", -excluded, a OR b, prefix*, '
        "title:word. Empty means no hits."
    ),
    "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS, "default": ""},
}

SCHEMAS = {
    "Hit": {
        "type": "object",
        "required": ["id", "title", "title_html", "score", "snippet"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "title_html": {
                "type": "string",
                "description": "The title as HTML: <mark> around matched words, the rest escaped.",
            },
            "score": {"type": "number"},
            "snippet": {
                "type": "string",
                "description": "HTML: <mark> around matched words, everything else escaped.",
            },
            "url": NULLABLE_STRING,
            "date": NULLABLE_STRING,
            "source": NULLABLE_STRING,
        },
    },
    "SearchResult": {
        "type": "object",
        "required": [
            "query",
            "understood",
            "total",
            "page",
            "per_page",
            "took_ms",
            "hits",
            "suggestion",
            "years",
            "every_word",
            "filler",
        ],
        "properties": {
            "query": {"type": "string"},
            "understood": {
                "type": "string",
                "description": (
                    "The query as parsed, written back in the query language: what was "
                    'searched (`"twitter paris` with its quote unclosed is `twitter paris`).'
                ),
            },
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "pages": {"type": "integer", "minimum": 0},
            "took_ms": {"type": "number", "minimum": 0},
            "hits": {"type": "array", "items": _ref("Hit")},
            "suggestion": {
                "type": ["string", "null"],
                "description": "A corrected query that finds more, when words look misspelt.",
            },
            "notice": {
                "type": ["string", "null"],
                "enum": ["stop_words_only", "beyond_window", None],
                "description": (
                    "stop_words_only: the query had only words too common to search. "
                    f"beyond_window: results this page would show lie past the first "
                    f"{MAX_RESULT_WINDOW}, which cannot be paged to (the page holds those "
                    "before, or none)."
                ),
            },
            "relaxed": {
                "type": "boolean",
                "description": "No document had all the words: these are the ones with the most.",
            },
            "approximate": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Query words that matched nothing and were matched by close words.",
            },
            "also": {
                "type": "array",
                "items": {"type": "string"},
                "description": (
                    "Synonyms searched besides the words typed (SEARCHSVC_SYNONYMS), as the "
                    "synonyms file writes them; documents with the words typed come first."
                ),
            },
            "every_word": {
                "type": "integer",
                "minimum": 0,
                "description": (
                    "How many of the results hold every word the query requires (filler "
                    "words such as « comment » or « sous » are not required). They come "
                    "first; the results after them hold only some of the words, ranked by "
                    "how much of the query's meaning they hold."
                ),
            },
            "filler": {
                "type": "array",
                "items": {"type": "string"},
                "description": (
                    "Words of the query taken as filler, as typed: question words, and "
                    "words most documents of the index hold. Never required."
                ),
            },
            "sort": {"type": "string", "enum": list(SORTS)},
            "filters": {
                "type": "object",
                "description": "The filters applied (source, date_from, date_to), if any.",
                "additionalProperties": {"type": "string"},
            },
            "facets": {
                "type": "object",
                "description": "Documents per source among all the results, most first.",
                "additionalProperties": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["value", "count"],
                        "properties": {
                            "value": {"type": "string"},
                            "count": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
            "years": {
                "type": "array",
                "description": "Results per year of their date, newest first (none undated).",
                "items": {
                    "type": "object",
                    "required": ["value", "count"],
                    "properties": {
                        "value": {"type": "string", "pattern": "^[0-9]{4}$"},
                        "count": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
    },
    "Similar": {
        "type": "object",
        "required": ["id", "hits"],
        "properties": {"id": {"type": "string"}, "hits": {"type": "array", "items": _ref("Hit")}},
    },
    "Document": {
        "type": "object",
        "required": ["id", "title"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "body": {
                "type": "string",
                "description": "Absent, with path, when SEARCHSVC_PRIVATE_TEXTS is on.",
            },
            "path": NULLABLE_STRING,
            "url": NULLABLE_STRING,
            "date": NULLABLE_STRING,
            "source": NULLABLE_STRING,
        },
    },
    "Suggestions": {
        "type": "object",
        "required": ["query", "suggestions"],
        "properties": {
            "query": {"type": "string"},
            "suggestions": {
                "type": "array",
                "maxItems": MAX_COMPLETIONS,
                "items": {"type": "string"},
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "documents", "index_version"],
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "documents": {"type": "integer", "minimum": 0},
            "generation": NULLABLE_STRING,
            "index_version": NULLABLE_STRING,
            "updated": NULLABLE_STRING,
        },
    },
    "Stats": {
        "type": "object",
        "required": [
            "since",
            "until",
            "searches",
            "by_kind",
            "top_queries",
            "no_results",
            "corrected",
            "latency_ms",
            "recording",
        ],
        "properties": {
            "since": {"type": "string", "description": "Start of the period (UTC, ISO 8601)."},
            "until": {"type": "string", "description": "End of the period: now."},
            "searches": {"type": "integer", "minimum": 0},
            "by_kind": {
                "type": "object",
                "description": "Searches made through the API, the page, its instant search.",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            "top_queries": _stats_rows(
                "The most frequent queries (case and spaces aside), with their results.",
                results={"type": "integer", "minimum": 0},
            ),
            "no_results": _stats_rows("The most frequent queries that found nothing."),
            "corrected": _stats_rows(
                "The queries did-you-mean corrected most often, and to what.",
                suggestion={"type": "string"},
            ),
            "latency_ms": {
                "type": "object",
                "description": "Percentiles of the searches' times (null without searches).",
                "additionalProperties": {"type": ["number", "null"]},
            },
            "recording": {
                "type": "boolean",
                "description": "Whether this server records searches (SEARCHSVC_ANALYTICS).",
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "enum": [
                            "bad_request",
                            "not_found",
                            "method_not_allowed",
                            "payload_too_large",
                            "uri_too_long",
                            "internal",
                            "index_unavailable",
                            "query_too_expensive",
                            "overloaded",
                            "index_damaged",
                            # A byte range past the end of a static file.
                            "range_not_satisfiable",
                            # Answered by the HTTP server itself (searchsvc.web.worker).
                            "request_header_fields_too_large",
                            "request_timeout",
                            "forbidden",
                            "expectation_failed",
                            "not_implemented",
                            # /api/stats and /metrics (the admin key, the analytics store).
                            "unauthorized",
                            "analytics_unavailable",
                            # The document writes (searchsvc.web.documents).
                            "unsupported_media_type",
                            "journal_behind",
                            "insufficient_storage",
                        ],
                    },
                    "message": {"type": "string"},
                },
            }
        },
    },
}

# Errors any endpoint may answer with; 400 (a malformed request), 414 (the request line) and
# 431 come from the HTTP server, before the request reaches the endpoint.
MALFORMED = "the HTTP request itself is malformed (its request line or a header)"
COMMON_ERRORS = {
    "400": _error(f"bad_request: {MALFORMED}."),
    "405": _error("Method not allowed (only GET and HEAD are)."),
    "408": _error(
        f"request_timeout: the request was not received whole within "
        f"{REQUEST_READ_TIMEOUT_S:g} s of its first byte; the connection is closed."
    ),
    "413": _error("The request carries a body larger than the service accepts."),
    "414": _error(
        f"The query string is over {MAX_QUERY_STRING_BYTES} bytes, or the request line over "
        f"{MAX_REQUEST_LINE_BYTES}."
    ),
    "431": _error(
        f"request_header_fields_too_large: the request has more than {MAX_HEADER_FIELDS} header "
        f"fields, or one over {MAX_HEADER_FIELD_BYTES} bytes."
    ),
}
UNAVAILABLE = {
    "503": _error(
        "index_unavailable: no usable index (it was never built or needs a rebuild). "
        "index_damaged: a file of the live index no longer matches the SHA-256 recorded when "
        "it was written; `searchsvc index` rebuilds it."
    )
}
# What the endpoints behind the in-flight limiter (all but /healthz and this description) add.
SHED = {
    "503": {
        **_error(
            "index_unavailable: no usable index (it was never built or needs a rebuild). "
            "index_damaged: a file of the live index no longer matches its recorded SHA-256. "
            "overloaded: the worker already runs and queues as many requests as it may; "
            "the request was not run, retry after Retry-After seconds."
        ),
        "headers": {
            "Retry-After": {
                "description": "With overloaded: seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}


def _responses(ok: dict, errors: dict) -> dict:
    """An endpoint's responses: its own, then the common errors; an endpoint's own 400 also
    says that a malformed request gets it."""
    responses = {"200": ok, **COMMON_ERRORS, **errors}
    if "400" in errors:
        own = errors["400"]
        description = f"{own['description']} bad_request also when {MALFORMED}."
        responses["400"] = {**own, "description": description}
    return dict(sorted(responses.items()))


def _get(summary: str, params: list[dict], ok: dict, errors: dict, op_id: str) -> dict:
    return {
        "get": {
            "operationId": op_id,
            "summary": summary,
            "parameters": params,
            "responses": _responses(ok, errors),
        }
    }


def _int_param(name: str, default: int, maximum: int, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description + " Digits only.",
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    }


def _str_param(name: str, description: str, **schema) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _version() -> str:
    try:
        return version("searchsvc")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0"


def build_spec() -> dict:
    """The OpenAPI document."""
    bad_request = {"400": _error("A parameter is invalid; the message says which and why.")}
    search_errors = {
        "400": _error(
            "bad_request: a parameter is invalid, or the query too long or with too many "
            f"terms. query_too_expensive: the query's prefixes match over {MAX_PREFIX_TERMS} "
            f"words, or matching took over {SEARCH_TIME_LIMIT:g} s. The message says which."
        ),
        **SHED,
    }
    spec = {
        "openapi": "3.1.0",
        "info": {
            "title": "searchsvc",
            "version": _version(),
            "description": (
                "Full-text search over French articles. Pages of the origins listed in "
                "SEARCHSVC_ALLOWED_ORIGINS may call /api/search, /api/suggest, "
                "/api/documents and this description from a browser (CORS, GET, without "
                "credentials; preflight answered and cached); other origins get no CORS "
                "headers."
            ),
        },
        "paths": {
            "/api/search": _get(
                "Search: ranked hits with highlighted snippets, one page at a time.",
                [
                    QUERY_PARAM,
                    _int_param(
                        "page",
                        1,
                        MAX_RESULT_WINDOW,
                        f"Page number, from 1. Only the first {MAX_RESULT_WINDOW} results "
                        "can be paged to: a page past them is empty, with the notice "
                        "beyond_window.",
                    ),
                    _int_param("per_page", 10, MAX_PER_PAGE, "Hits per page."),
                    {
                        "name": "typing",
                        "in": "query",
                        "required": False,
                        "description": (
                            "1: the query is still being typed (a search box as you type): "
                            "its last word stands for itself or one of its most frequent "
                            "completions, and is not corrected. 0 or empty: a search."
                        ),
                        "schema": {"type": "string", "enum": ["1", "0", ""], "default": ""},
                    },
                    _str_param(
                        "source",
                        "Only documents from this source (its name, in any case).",
                        maxLength=MAX_QUERY_CHARS,
                    ),
                    _str_param(
                        "date_from",
                        "Only documents dated on or after this day, month or year (2012, "
                        "2012-06, 2012-06-30; a date that does not exist is refused).",
                        pattern=DATE_PATTERN,
                    ),
                    _str_param(
                        "date_to",
                        "Only documents dated on or before it (all of a month or year named).",
                        pattern=DATE_PATTERN,
                    ),
                    {
                        "name": "sort",
                        "in": "query",
                        "required": False,
                        "description": (
                            "relevance (default) or date (newest first); empty, as the "
                            "filters, means the default."
                        ),
                        "schema": {
                            "type": "string",
                            "enum": [*SORTS, ""],
                            "default": "relevance",
                        },
                    },
                ],
                _json(_ref("SearchResult"), "A page of results."),
                search_errors,
                "search",
            ),
            "/api/documents/{id}": _get(
                "A stored document: its full text and metadata.",
                [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "description": "The document's id, as in a hit.",
                        "schema": {"type": "string"},
                    }
                ],
                _json(_ref("Document"), "The document."),
                {"404": _error("No document has this id."), **SHED},
                "getDocument",
            ),
            "/api/documents/{id}/similar": _get(
                "Documents like this one, by their key terms (more like this).",
                [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "description": "The document's id, as in a hit.",
                        "schema": {"type": "string"},
                    },
                    _int_param("limit", 5, MAX_SIMILAR, "Most documents."),
                ],
                _json(_ref("Similar"), "Up to `limit` documents, most alike first."),
                {"404": _error("No document has this id."), **bad_request, **SHED},
                "similarDocuments",
            ),
            "/api/suggest": _get(
                "Completions of the last word typed (accent-insensitive), for autocomplete.",
                [
                    {**QUERY_PARAM, "description": "What has been typed so far."},
                    _int_param("limit", MAX_COMPLETIONS, MAX_COMPLETIONS, "Most completions."),
                ],
                _json(_ref("Suggestions"), "Up to `limit` completions, most frequent first."),
                {**bad_request, **SHED},
                "suggest",
            ),
            "/healthz": _get(
                "Health: 200 when a usable index is live.",
                [],
                _json(_ref("Health"), "The service is ready."),
                UNAVAILABLE,
                "health",
            ),
            "/api/openapi.json": _get(
                "This description.",
                [],
                _json({"type": "object"}, "The OpenAPI document."),
                {},
                "openapi",
            ),
            "/api/stats": {
                "get": {
                    **_get(
                        "Search analytics: top queries, queries with no result, queries "
                        "corrected by did-you-mean, latency percentiles. Needs the admin key "
                        "(SEARCHSVC_ADMIN_KEY), sent as Authorization: Bearer <key>.",
                        [
                            _str_param(
                                "since",
                                "From this UTC day (2026-12-01) or this long ago (7d, 12h); "
                                "empty or absent: everything the retention keeps.",
                                pattern=f"^(\\s*|{YEAR_PATTERN}-{MONTH_DAY_PATTERN}|{LEAP_YEAR_PATTERN}-02-29|[0-9]{{1,5}}[dh])$",
                            )
                        ],
                        _json(_ref("Stats"), "What people searched for."),
                        {
                            **bad_request,
                            "401": _error(
                                "unauthorized: the request does not carry the admin key "
                                "(Authorization: Bearer <key>)."
                            ),
                            "403": _error(
                                "forbidden: no admin key is set on the server "
                                "(SEARCHSVC_ADMIN_KEY), so the statistics are off."
                            ),
                            "503": {
                                **SHED["503"],
                                "description": SHED["503"]["description"]
                                + " analytics_unavailable: the analytics store cannot be read.",
                            },
                        },
                        "stats",
                    )["get"],
                    # No ``security`` requirement: with no key set on the server the answer
                    # is 403 whatever is sent, which a declared scheme says should be 401.
                }
            },
            "/metrics": {
                "get": {
                    **_get(
                        "Prometheus metrics, in Prometheus' text format: requests by "
                        "endpoint and status, their durations, requests shed, the live "
                        "index. Asks for the admin key (Authorization: Bearer) when one is "
                        "set on the server; open when none is.",
                        [],
                        {
                            "description": "Every metric, in Prometheus' text format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        {
                            "401": _error(
                                "unauthorized: an admin key is set and the request does not "
                                "carry it."
                            )
                        },
                        "metrics",
                    )["get"],
                }
            },
        },
        "components": {
            "schemas": {**SCHEMAS, "Task": WRITE_SCHEMAS["Task"]},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
    for path, operations in write_paths().items():
        spec["paths"][path] = {**spec["paths"].get(path, {}), **operations}
    return spec


# -- the write side (searchsvc.web.documents) ------------------------------------------------

SECURITY_SCHEMES = {
    "adminKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "SEARCHSVC_ADMIN_KEY (or SEARCHSVC_ADMIN_KEY_FILE): writes and tasks.",
    },
    "searchKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "SEARCHSVC_SEARCH_KEY, when set: every read needs it (or the admin key); "
        "unset, reads are open.",
    },
}

_DOCUMENT_FIELDS = {
    "title": {
        "type": ["string", "null"],
        "maxLength": MAX_PUSHED_TITLE_CHARS,
        "description": "Absent: the body's first sentence.",
    },
    "body": {"type": "string", "minLength": 1, "description": "The text searched."},
    "url": {
        "type": ["string", "null"],
        "maxLength": MAX_PUSHED_URL_CHARS,
        "description": "An absolute http or https address.",
    },
    "date": {
        "type": ["string", "null"],
        "description": "An ISO date (2024-08-03, 2024-08, 2024) or timestamp "
        "(2024-08-03T14:00:00+02:00, its day kept).",
    },
    "source": {"type": ["string", "null"], "maxLength": MAX_PUSHED_SOURCE_CHARS},
}
_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_DOCUMENT_ID_CHARS}

WRITE_SCHEMAS = {
    "NewDocument": {
        "type": "object",
        "required": ["body"],
        "additionalProperties": False,
        "properties": {"id": {**_ID_SCHEMA, "description": "Absent, or the address's id."}}
        | _DOCUMENT_FIELDS,
    },
    "Task": {
        "type": "object",
        "required": [
            "id",
            "status",
            "enqueued_at",
            "started_at",
            "finished_at",
            "received",
            "applied",
            "errors",
            "links",
        ],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "status": {
                "type": "string",
                "enum": ["enqueued", "processing", "succeeded", "failed"],
                "description": "succeeded: the changes are searchable (some documents may be "
                "listed in errors); failed: every document was refused.",
            },
            "enqueued_at": {"type": "string"},
            "started_at": NULLABLE_STRING,
            "finished_at": NULLABLE_STRING,
            "received": {"type": "integer", "minimum": 0},
            "applied": {"type": "integer", "minimum": 0},
            "errors": {
                "type": "array",
                "description": "The documents refused, with the reason.",
                "items": {
                    "type": "object",
                    "required": ["reason"],
                    "properties": {
                        "index": {"type": "integer", "description": "Its place in the batch."},
                        "id": NULLABLE_STRING,
                        "reason": {"type": "string"},
                    },
                },
            },
            "links": {
                "type": "object",
                "required": ["self"],
                "properties": {"self": {"type": "string"}},
            },
        },
    },
}

_WAIT_PARAM = {
    "name": "wait",
    "in": "query",
    "required": False,
    "description": f"Seconds (0 to {MAX_PUSH_WAIT_S:g}) to wait for the change to be "
    "searchable before answering; the task says whether it is.",
    "schema": {"type": "string", "pattern": WAIT_PATTERN},
}
_WRITE_ERRORS = {
    "401": _error("unauthorized: the request does not carry the admin key."),
    "403": _error(
        "forbidden: no admin key is set on the server (SEARCHSVC_ADMIN_KEY), so writes are off; "
        "the message says how to turn them on."
    ),
    "503": {
        **_error(
            "journal_behind: too many changes wait to be applied; nothing of this request "
            "was recorded. Retry after Retry-After seconds."
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
    "507": _error(
        "insufficient_storage: the journal cannot be written (a full disk); nothing of this "
        "request was recorded, nothing recorded before is lost."
    ),
}
_ACCEPTED = {"202": _json(_ref("Task"), "The change is durable; the task says what became of it.")}


def _write(summary: str, op_id: str, params: list[dict], body: dict | None, errors: dict) -> dict:
    """One write operation: 202 with the task, or a documented error."""
    op = {
        "operationId": op_id,
        "summary": summary,
        "parameters": [*params, _WAIT_PARAM],
        # No ``security`` requirement, as for /api/stats: with no key set on the server the
        # answer is 403 whatever is sent, where a declared scheme says 401. The schemes are
        # listed under components for clients and documentation.
        "responses": dict(
            sorted({**COMMON_ERRORS, **_WRITE_ERRORS, **errors, **_ACCEPTED}.items())
        ),
    }
    op["responses"].pop("200", None)
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    return op


def write_paths() -> dict:
    """The write side's paths: documents pushed and deleted, and their tasks."""
    from searchsvc.ingest.pushed import BODY_PATTERN, DATE_PATTERN, ID_PATTERN, URL_PATTERN

    fields = {
        **_DOCUMENT_FIELDS,
        "body": {**_DOCUMENT_FIELDS["body"], "pattern": BODY_PATTERN},
        "url": {**_DOCUMENT_FIELDS["url"], "pattern": URL_PATTERN},
        "date": {**_DOCUMENT_FIELDS["date"], "pattern": DATE_PATTERN},
    }
    id_schema = {**_ID_SCHEMA, "pattern": ID_PATTERN}
    new_document = {**WRITE_SCHEMAS["NewDocument"], "properties": fields}
    id_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "The document's id (no control character, no space at either end).",
        "schema": id_schema,
    }
    bad_body = {
        "400": _error(
            "bad_request: malformed JSON (the message names the line and column), a document "
            "refused (the message says why), or a bad parameter."
        ),
        "413": _error(
            f"payload_too_large: over {MAX_PUSH_BYTES:,} bytes or {MAX_PUSH_DOCUMENTS:,} documents."
        ),
    }
    # Any item is taken: a document that breaks BatchDocument is refused alone, listed in
    # the task with its reason, and the others applied (the request is still 202).
    batch = {
        "type": "array",
        "items": {
            "description": "A document: the fields of putDocument's body, with its id "
            "(a string as in the address, or a whole number); refused alone otherwise."
        },
        "minItems": 1,
    }
    batch["maxItems"] = MAX_PUSH_DOCUMENTS
    task_id = {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
    task_ok = _json(_ref("Task"), "The task as it stands (or once finished, with wait).")
    return {
        "/api/documents/{id}": {
            "put": _write(
                "Put one document under this id (replacing it). Needs the admin key.",
                "putDocument",
                [id_param],
                {"application/json": {"schema": new_document}},
                bad_body,
            ),
            "delete": _write(
                "Delete the document of this id (none: no error). Needs the admin key.",
                "deleteDocument",
                [id_param],
                None,
                {"400": _error("bad_request: the id or a parameter is invalid.")},
            ),
        },
        "/api/documents": {
            "post": _write(
                "Put many documents: a JSON array, or NDJSON (one document a line). Needs the "
                "admin key. Documents refused are listed in the task; the others are applied.",
                "pushDocuments",
                [],
                {
                    "application/json": {"schema": batch},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
                {**bad_body, "415": _error("unsupported_media_type: neither JSON nor NDJSON.")},
            )
        },
        "/api/tasks/{task_id}": {
            "get": {
                "operationId": "getTask",
                "summary": "What became of a write. Needs the admin key.",
                "parameters": [task_id, _WAIT_PARAM],
                "responses": dict(
                    sorted(
                        {
                            **COMMON_ERRORS,
                            **{k: v for k, v in _WRITE_ERRORS.items() if k in ("401", "403")},
                            "400": _error("bad_request: wait is not a number from 0 to 30."),
                            "404": _error("No task has this id (finished ones are pruned)."),
                            "200": task_ok,
                        }.items()
                    )
                ),
            }
        },
    }
