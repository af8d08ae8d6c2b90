"""The ``searchsvc`` command line: a thin layer over the core (index, search, serve)."""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path

import click

from searchsvc import errors
from searchsvc.cli.progress import IndexProgress
from searchsvc.engine.results import SORTS, Filters
from searchsvc.engine.search import SearchEngine
from searchsvc.errors import QueryError
from searchsvc.index import storage
from searchsvc.ingest.corpus.documents import SkipKind, Skipped
from searchsvc.ingest.indexer import check_index, reindex
from searchsvc.query.language import understood_if_different
from searchsvc.query.synonyms import Synonyms
from searchsvc.settings import (
    MAX_DELETED_SHARE,
    MAX_PER_PAGE,
    MAX_RESULT_WINDOW,
    MIN_GUARDED_DELETIONS,
    PORTS,
    Settings,
)

# Exit status of `index` when it finished but skipped some files.
EXIT_SKIPPED = 3

# How `index` introduces each kind of report on stderr: only "skipped" lines make it exit 3.
_REPORTED_AS = {
    SkipKind.FAULT: "skipped",
    SkipKind.REFUSED: "skipped",
    SkipKind.HIDDEN: "ignored",
    SkipKind.DROPPED: "warning",
}


def _settings() -> Settings:
    """The SEARCHSVC_* settings, or exit 1 with the one line saying which one is wrong."""
    try:
        return Settings.from_env()
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def _synonyms(settings: Settings) -> Synonyms | None:
    """The synonyms file of ``SEARCHSVC_SYNONYMS``, or exit 1 with the one line saying what
    is wrong with it (the file and the line)."""
    if settings.synonyms is None:
        return None
    synonyms = Synonyms(settings.synonyms)
    if synonyms.error:
        raise click.ClickException(synonyms.error)
    return synonyms


def _fancy(stream) -> bool:
    """Colours and live progress only for a person at a terminal, never in CI."""
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


# The --index option every command shares.
index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Index folder (default: $SEARCHSVC_INDEX or ./index).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="searchsvc")
def main() -> None:
    """Full-text search for French text: build an index, search it, serve it."""


@main.command("index")
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=None,
    help="Corpus folder, or one corpus file such as a .jsonl.gz "
    "(default: $SEARCHSVC_CORPUS or ./corpus).",
)
@index_option
@click.option(
    "--full",
    is_flag=True,
    help="Rebuild from scratch beside the live index, then switch atomically.",
)
@click.option("--no-wait", is_flag=True, help="Fail at once if another reindex is running.")
@click.option(
    "--allow-deletions",
    is_flag=True,
    help="Delete from the index however many documents the corpus no longer holds "
    f"(without it, a run deleting more than {MAX_DELETED_SHARE:.0%} of the index, "
    f"{MIN_GUARDED_DELETIONS} documents or more, stops and changes nothing).",
)
@click.option(
    "--follow-outside-links",
    is_flag=True,
    help="Read files and folders that links in the corpus lead to outside it "
    "(without it, they are reported and skipped).",
)
def index_command(
    corpus: Path | None,
    index_dir: Path | None,
    full: bool,
    no_wait: bool,
    allow_deletions: bool,
    follow_outside_links: bool,
) -> None:
    """Index the corpus: only new and changed documents unless --full.

    Shows its progress (a bar at a terminal, a line every few seconds elsewhere), then one
    summary line. Exits 0 when every file was indexed, 3 when some were skipped (each is
    reported; hidden files and dropped urls are reported but are not failures), 1 on an
    error (one line; the live index is unchanged), a run that would delete more than half
    of the index without --allow-deletions included.
    """
    settings = _settings()
    corpus = corpus or settings.corpus
    index_dir = index_dir or settings.index
    progress = IndexProgress(sys.stderr, live=_fancy(sys.stderr))

    def say(text: str) -> None:
        progress.interrupt()
        click.echo(text, err=True)

    def on_skip(problem: Skipped) -> None:
        where = f"{problem.path}:{problem.line}" if problem.line else problem.path
        say(f"{_REPORTED_AS[problem.kind]} {where}: {problem.reason}")

    try:
        report = reindex(
            corpus,
            index_dir,
            full=full,
            on_skip=on_skip,
            progress=progress,
            wait=not no_wait,
            on_wait=lambda: say(f"waiting for another `searchsvc index` writing {index_dir}…"),
            on_notice=say,
            allow_deletions=allow_deletions,
            follow_outside_links=follow_outside_links,
        )
    except errors.TooManyDeletionsError as e:
        raise click.ClickException(
            f"{e}; to delete them all the same, run it again with --allow-deletions"
        ) from None
    except (FileNotFoundError, ValueError, errors.IndexStateError) as e:
        raise click.ClickException(_one_line(e)) from None
    finally:
        progress.close()
    click.echo(report.summary())
    if report.skipped:
        sys.exit(EXIT_SKIPPED)


def _one_line(e: Exception) -> str:
    """An error's message for people: an OS error's own words and path, not its repr."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return str(e)


@main.command("check")
@index_option
def check_command(index_dir: Path | None) -> None:
    """Check every file of the live index against its SHA-256.

    Exits 0 when the index is whole, 1 when a file is missing, changed or unlisted, or the
    document count does not match (then `searchsvc index` rebuilds it in full).
    """
    index_dir = index_dir or _settings().index
    try:
        report = check_index(index_dir)
    except errors.IndexStateError as e:
        raise click.ClickException(str(e)) from None
    for problem in report.problems:
        click.echo(f"damaged: {report.generation}/{problem}", err=True)
    click.echo(report.summary())
    if report.problems:
        sys.exit(1)


@main.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--page",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Page of results to show, from 1.",
)
@click.option(
    "--per-page",
    type=click.IntRange(1, MAX_PER_PAGE),
    default=10,
    show_default=True,
    help=f"Results per page (at most {MAX_PER_PAGE}).",
)
@click.option("--source", default=None, help="Only documents from this source.")
@click.option(
    "--date-from", default=None, metavar="DATE", help="Only documents dated from DATE (2012-06)."
)
@click.option(
    "--date-to",
    default=None,
    metavar="DATE",
    help="Only documents dated up to DATE, all of it (2013 is up to 2013-12-31).",
)
@click.option(
    "--sort",
    default="relevance",
    show_default=True,
    metavar="|".join(SORTS),
    help="Order of the results: by relevance, or by date (newest first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@index_option
def search_command(
    query: tuple[str, ...],
    page: int,
    per_page: int,
    source: str | None,
    date_from: str | None,
    date_to: str | None,
    sort: str,
    as_json: bool,
    index_dir: Path | None,
) -> None:
    """Search the index and print ranked results with highlighted snippets.

    --source, --date-from, --date-to and --sort are the API's source, date_from, date_to and
    sort: the same checks, the same message (and exit status 1) for a value they refuse.
    """
    settings = _settings()
    engine = SearchEngine(index_dir or settings.index, synonyms=_synonyms(settings))
    try:
        # An empty value means no filter, as an empty parameter does in the API.
        filters = Filters(source or None, date_from or None, date_to or None)
        result = engine.search(
            " ".join(query), page=page, per_page=per_page, filters=filters, sort=sort
        )
    except (QueryError, errors.IndexStateError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        engine.close()
    if as_json:
        # The API's /api/search shape: one function for both.
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(_render_text(result, color=_fancy(sys.stdout)))


@main.command("stats")
@click.option(
    "--since",
    default=None,
    metavar="DAY|SPAN",
    help="From this UTC day (2026-12-01) or this long ago (7d, 12h); default: all kept.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@index_option
def stats_command(since: str | None, as_json: bool, index_dir: Path | None) -> None:
    """Print what people searched for through the server.

    The top queries, those with no result, those did-you-mean corrected most often, and the
    latency percentiles (what GET /api/stats answers), from the analytics kept beside the
    index.
    """
    import sqlite3

    from searchsvc.analytics import AnalyticsStore, analytics_path, parse_since

    settings = _settings()
    path = analytics_path(index_dir or settings.index)
    store = AnalyticsStore(path, settings.analytics_days)
    try:
        data = store.stats(parse_since(since) if since else None)
    except QueryError as e:
        raise click.ClickException(str(e)) from None
    except sqlite3.Error as e:
        raise click.ClickException(f"{path} cannot be read: {e}") from None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(_render_stats(data, recorded=path.exists()))


def _render_stats(data: dict, recorded: bool) -> str:
    """The statistics as text for a terminal."""
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in data["by_kind"].items())
    lines = [f"{data['searches']:,} searches from {data['since']} to {data['until']} ({kinds})"]
    if not recorded:
        lines.append("(no analytics recorded beside this index yet)")
    latency = data["latency_ms"]
    if latency["p50"] is not None:
        shown = " · ".join(f"{name} {value:.1f}" for name, value in latency.items())
        lines.append(f"latency (ms): {shown}")
    sections = [
        ("top queries", data["top_queries"], lambda r: f"{r['query']}  ({r['results']:,} results)"),
        ("queries with no result", data["no_results"], lambda r: r["query"]),
        (
            "corrected by did-you-mean",
            data["corrected"],
            lambda r: f"{r['query']} → {r['suggestion']}",
        ),
    ]
    for title, rows, show in sections:
        lines += ["", f"{title}:"]
        lines += [f"  {row['count']:>7,}  {show(row)}" for row in rows] or ["  (none)"]
    return "\n".join(lines)


@main.command("serve")
@click.option(
    "--host", default=None, help="Address to listen on (default: $SEARCHSVC_HOST or 127.0.0.1)."
)
@click.option(
    "--port",
    type=click.IntRange(*PORTS),
    default=None,
    help="Port to listen on (default: $SEARCHSVC_PORT or 8000).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="gunicorn worker processes (default: $SEARCHSVC_WORKERS or 2).",
)
@index_option
def serve_command(
    host: str | None, port: int | None, workers: int | None, index_dir: Path | None
) -> None:
    """Serve the search page and JSON API with gunicorn until stopped."""
    from searchsvc.web.serve import serve

    settings = _settings()
    index_dir = index_dir or settings.index
    _synonyms(settings)  # a bad file stops here, not in each worker's log
    if storage.current_name(index_dir) is None:
        click.echo(f"warning: no index in {index_dir} yet; run `searchsvc index`", err=True)
    serve(
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=workers or settings.workers,
        index_dir=index_dir,
    )


_MARK_RE = re.compile(r"<mark>(.*?)</mark>")


def _terminal_snippet(snippet: str, color: bool) -> str:
    """Turn a snippet's HTML into terminal text: bold yellow or [brackets] for matches."""
    marked = _MARK_RE.sub(
        (lambda m: click.style(m.group(1), fg="yellow", bold=True))
        if color
        else (lambda m: f"[{m.group(1)}]"),
        snippet,
    )
    return html.unescape(marked)


def _render_text(result, color: bool) -> str:
    lines = [
        f"{result.total} résultat{'s' if result.total > 1 else ''} "
        f"({result.took_ms:.1f} ms) — page {result.page}/{max(result.pages, 1)}"
    ]
    understood = understood_if_different(result.query, result.understood)
    if understood:
        lines.append(f"Recherche de : {understood}")
    if result.also:
        lines.append(f"Recherche aussi : {', '.join(result.also)}")
    if result.suggestion:
        lines.append(f"Vouliez-vous dire : {result.suggestion}")
    if result.relaxed:
        lines.append(
            "Aucun document ne contient tous les mots : voici ceux qui en contiennent le plus."
        )
    elif result.every_word is not None and 0 < result.every_word < result.total:
        n = result.every_word
        lines.append(
            f"{n} document{'s' if n > 1 else ''} contien{'nent' if n > 1 else 't'} tous les "
            "mots ; les suivants n'en contiennent qu'une partie."
        )
    if result.filler:
        lines.append(f"Mots non exigés : {', '.join(f'« {w} »' for w in result.filler)}.")
    if result.approximate:
        words = ", ".join(f"« {w} »" for w in result.approximate)
        lines.append(f"Aucun document ne contient {words} : résultats pour des mots proches.")
    if result.notice == "stop_words_only":
        lines.append("La recherche ne contient que des mots trop courants.")
    if result.notice == "beyond_window":
        window = f"{MAX_RESULT_WINDOW:,}".replace(",", "\u202f")
        lines.append(
            f"Seuls les {window} premiers résultats se parcourent : précisez la recherche."
        )
    first = (result.page - 1) * result.per_page
    for rank, hit in enumerate(result.hits, first + 1):
        title = click.style(hit.title, bold=True) if color else hit.title
        lines += ["", f"{rank}. {title}  ({hit.id}, score {hit.score:.2f})"]
        if hit.date or hit.source:  # what --sort date and the filters go by
            lines.append("   " + " · ".join(v for v in (hit.date, hit.source) if v))
        lines.append("   " + _terminal_snippet(hit.snippet, color))
    return "\n".join(lines)
