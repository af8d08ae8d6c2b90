"""Which library extracts a French news page's article best: trafilatura, readability-lxml or
jusText, measured on pages made here (issue 28).

Builds ``--pages`` French news-like pages (default 12) in five layouts: HTML5 with
``<nav>``/``<aside>``/``<footer>``, a ``<div>`` soup with the same chrome under other names,
an article with boilerplate inside it (newsletter box, "À lire aussi", share buttons), a short
article (two paragraphs) under heavy chrome, and a bare page (the article alone, to see that
nothing of it is lost when there is no chrome to remove). The chrome is what sites write:
menus, a cookie banner ("Nous utilisons des cookies… Accepter"), "Abonnez-vous", "Les plus lus"
headlines, related links, comments, a legal footer.

For each library it measures, per page: the share of the article's sentences kept, the share
of boilerplate blocks leaked (a block leaks when one of its phrases is in the output), and the
time per page (median of ``--repeat`` runs). A library that is not installed is reported as
such. The candidates are not searchsvc's dependencies: install them apart, e.g.
``python3 -m venv /tmp/hx && /tmp/hx/bin/pip install trafilatura readability-lxml justext``,
then ``/tmp/hx/bin/python bench/html_extraction.py``.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SENTENCES = [
    "Le conseil municipal a adopté mardi soir le budget de la ville pour l'année prochaine.",
    "Les élus de l'opposition ont dénoncé une hausse des impôts locaux jugée excessive.",
    "Selon le maire, cette augmentation doit financer la rénovation des écoles du quartier nord.",
    "Plus de trois mille coureurs ont pris le départ du marathon dimanche matin sous la pluie.",
    "Le vainqueur a bouclé les quarante-deux kilomètres en un peu plus de deux heures dix.",
    "Les organisateurs se félicitent d'une participation record malgré la météo capricieuse.",
    "La sécheresse qui frappe le département depuis juin inquiète les agriculteurs.",
    "Les restrictions d'eau ont été renforcées par la préfecture pour la troisième fois.",
    "Certains exploitants envisagent déjà de réduire leurs surfaces de maïs l'an prochain.",
    "Le musée des beaux-arts rouvre ses portes après deux ans de travaux de rénovation.",
    "La nouvelle aile accueille une collection de peintures flamandes jamais exposée.",
    "Le directeur espère attirer cent mille visiteurs d'ici la fin de la saison.",
    "La ligne de tramway entre la gare et l'université sera prolongée de quatre stations.",
    "Les travaux commenceront au printemps et devraient durer près de trois ans.",
    "Les commerçants du centre-ville craignent une baisse de fréquentation pendant le chantier.",
    "Une entreprise de logiciels a annoncé la création de deux cents emplois dans la région.",
    "Le nouveau site sera installé sur une ancienne friche industrielle au bord du canal.",
    "La présidente de la région salue un signal fort pour l'attractivité du territoire.",
    "Le festival de musique a accueilli plus de quarante mille spectateurs en trois jours.",
    "Les concerts du samedi soir ont été interrompus par un violent orage vers minuit.",
    "Les bénévoles ont travaillé toute la nuit pour remettre les scènes en état.",
    "L'hôpital départemental manque de médecins urgentistes depuis le début de l'été.",
    "Le service des urgences a dû fermer plusieurs nuits faute de personnel suffisant.",
    "L'agence régionale de santé promet des renforts avant la rentrée de septembre.",
    "Le club de football local a obtenu sa montée en deuxième division après un match nul.",
    "Les supporters ont envahi la place de la mairie pour fêter l'événement jusqu'à l'aube.",
    "L'entraîneur a rendu hommage à ses joueurs pour leur constance tout au long de la saison.",
    "Une étude publiée jeudi montre que la qualité de l'air s'est améliorée en dix ans.",
    "Les concentrations de dioxyde d'azote ont baissé d'un tiers près des grands axes.",
    "Les chercheurs appellent toutefois à poursuivre les efforts sur le chauffage au bois.",
    "Le tribunal a condamné l'ancien directeur de l'office de tourisme à un an avec sursis.",
    "Il était poursuivi pour avoir détourné des fonds destinés à la promotion de la ville.",
    "Son avocat a annoncé son intention de faire appel de la décision dès la semaine prochaine.",
    "La bibliothèque municipale prolonge ses horaires d'ouverture le dimanche après-midi.",
    "Cette mesure répond à une demande ancienne des étudiants et des familles du quartier.",
    "Un troisième poste de bibliothécaire sera créé pour assurer ces nouvelles permanences.",
]

# Boilerplate blocks: (name, phrases that must not reach the index, HTML of the block).
NAV = (
    "menu",
    ["Mon compte", "Tous les podcasts"],
    '<nav class="menu"><ul><li><a href="/">Accueil</a></li><li><a href="/politique">Politique'
    '</a></li><li><a href="/sport">Sport</a></li><li><a href="/compte">Mon compte</a></li>'
    '<li><a href="/podcasts">Tous les podcasts</a></li></ul></nav>',
)
COOKIES = (
    "cookies",
    ["Nous utilisons des cookies", "Paramétrer les cookies"],
    '<div class="cookie-banner" id="cookies"><p>Nous utilisons des cookies pour mesurer '
    "l'audience et vous proposer des publicités adaptées à vos centres d'intérêt. En "
    "poursuivant votre navigation, vous acceptez leur utilisation.</p><button>Accepter"
    '</button><a href="/cookies">Paramétrer les cookies</a></div>',
)
SUBSCRIBE = (
    "abonnement",
    ["Abonnez-vous", "premier mois offert"],
    '<div class="paywall"><p>Abonnez-vous pour lire la suite de nos articles : le premier '
    "mois offert, puis 9,99 euros par mois, sans engagement de durée.</p></div>",
)
MOST_READ = (
    "les plus lus",
    ["Les plus lus", "disparition du lac", "retraites complémentaires"],
    '<aside class="sidebar"><h3>Les plus lus</h3><ol><li><a href="/a1">Enquête sur la '
    'disparition du lac de montagne qui inquiète les habitants</a></li><li><a href="/a2">'
    "Ce que change la réforme des retraites complémentaires pour les salariés du privé</a>"
    "</li></ol></aside>",
)
RELATED = (
    "à lire aussi",
    ["À lire aussi", "élevage des escargots"],
    '<div class="related"><p><strong>À lire aussi :</strong> <a href="/r1">Le renouveau de '
    "l'élevage des escargots dans les vallées du sud du département</a></p></div>",
)
SHARE = (
    "partage",
    ["Partager sur Facebook", "Copier le lien"],
    '<div class="share"><a href="#">Partager sur Facebook</a> <a href="#">Partager sur X</a> '
    '<a href="#">Copier le lien</a></div>',
)
COMMENTS = (
    "commentaires",
    ["Réagir à cet article", "Connectez-vous pour commenter"],
    '<section class="comments" id="comments"><h3>Réagir à cet article</h3><p>'
    "Connectez-vous pour commenter et rejoindre la discussion avec nos lecteurs.</p></section>",
)
FOOTER = (
    "pied de page",
    ["Mentions légales", "Tous droits réservés"],
    '<footer><ul><li><a href="/mentions">Mentions légales</a></li><li><a href="/cgv">'
    "Conditions générales de vente</a></li></ul><p>© 2024 Le Quotidien du Val — Tous droits "
    "réservés. Reproduction interdite sans autorisation.</p></footer>",
)
NEWSLETTER = (
    "newsletter",
    ["Recevez chaque matin", "Je m'inscris"],
    "<div class=\"newsletter-box\"><p>Recevez chaque matin l'essentiel de l'actualité de votre "
    "région directement dans votre boîte aux lettres électronique.</p><button>Je m'inscris"
    "</button></div>",
)
CHROME = [NAV, COOKIES, SUBSCRIBE, MOST_READ, RELATED, SHARE, COMMENTS, FOOTER, NEWSLETTER]
LAYOUTS = ("html5", "div soup", "chrome inside", "short", "bare")


@dataclass
class Page:
    """One page made for the measure: its HTML, the article's sentences, the chrome's blocks."""

    layout: str
    html: str
    sentences: list[str]
    chrome: list[tuple[str, list[str], str]]


def make_page(n: int, layout: str, rng: random.Random) -> Page:
    """A French news page: an article of sentences drawn from SENTENCES in a given layout."""
    paragraphs_n = 2 if layout == "short" else rng.randint(3, 6)
    pool = rng.sample(SENTENCES, k=min(len(SENTENCES), paragraphs_n * 3))
    paragraphs = [pool[i * 3 : i * 3 + 3] for i in range(paragraphs_n)]
    sentences = [s for p in paragraphs for s in p]
    title = f"Article {n} : {paragraphs[0][0].rstrip('.')}"
    ps = [f"<p>{html.escape(' '.join(p))}</p>" for p in paragraphs]
    if layout in ("html5", "chrome inside", "bare") and len(ps) > 2:
        # A subheading is part of the article: it must be kept, as its own passage.
        heading = f"Ce qu'il faut retenir de l'épisode {n}"
        ps.insert(2, f"<h2>{heading}</h2>")
        sentences = [*sentences, heading]
    head = (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)} | Le Quotidien du Val</title></head><body>"
    )
    if layout == "bare":
        body = f"<h1>{html.escape(title)}</h1>{''.join(ps)}"
        return Page(layout, f"{head}{body}</body></html>", sentences, [])
    if layout == "html5":
        chrome = [COOKIES, NAV, SHARE, MOST_READ, RELATED, COMMENTS, FOOTER]
        body = (
            f"{COOKIES[2]}<header><div class='logo'>Le Quotidien du Val</div>{NAV[2]}</header>"
            f"<main><article><h1>{html.escape(title)}</h1>{SHARE[2]}{''.join(ps)}</article>"
            f"{MOST_READ[2]}{RELATED[2]}{COMMENTS[2]}</main>{FOOTER[2]}"
        )
    elif layout == "div soup":
        chrome = [NAV, COOKIES, SUBSCRIBE, MOST_READ, FOOTER]
        soup = {
            "<nav": "<div id='menu'",
            "</nav>": "</div>",
            "<aside": "<div id='colonne'",
            "</aside>": "</div>",
            "<footer>": "<div id='pied'>",
            "</footer>": "</div>",
        }

        def divs(block: str) -> str:
            for old, new in soup.items():
                block = block.replace(old, new)
            return block

        body = (
            f"<div id='haut'>{divs(NAV[2])}</div>{COOKIES[2]}<div class='contenu'>"
            f"<div class='titre'><h1>{html.escape(title)}</h1></div><div class='texte'>"
            f"{''.join(ps)}</div>{SUBSCRIBE[2]}</div>{divs(MOST_READ[2])}{divs(FOOTER[2])}"
        )
    elif layout == "chrome inside":
        chrome = [NAV, NEWSLETTER, RELATED, SHARE, FOOTER]
        middle = len(ps) // 2
        inner = [*ps[:middle], NEWSLETTER[2], RELATED[2], *ps[middle:], SHARE[2]]
        body = (
            f"{NAV[2]}<article><h1>{html.escape(title)}</h1>{''.join(inner)}</article>{FOOTER[2]}"
        )
    else:  # short
        chrome = list(CHROME)
        body = (
            f"{COOKIES[2]}<header>{NAV[2]}</header><main><article><h1>{html.escape(title)}"
            f"</h1>{''.join(ps)}{SUBSCRIBE[2]}{SHARE[2]}</article>{NEWSLETTER[2]}"
            f"{MOST_READ[2]}{RELATED[2]}{COMMENTS[2]}</main>{FOOTER[2]}"
        )
    return Page(layout, f"{head}{body}</body></html>", sentences, chrome)


def make_pages(count: int, seed: int) -> list[Page]:
    rng = random.Random(seed)
    return [make_page(n, LAYOUTS[n % len(LAYOUTS)], rng) for n in range(count)]


# -- the candidates --------------------------------------------------------------------------


def _trafilatura() -> Callable[[str], str]:
    import trafilatura

    def extract(page: str) -> str:
        return trafilatura.extract(page, include_comments=False, include_tables=True) or ""

    return extract


def _readability() -> Callable[[str], str]:
    import lxml.html
    from readability import Document

    def extract(page: str) -> str:
        summary = Document(page).summary(html_partial=True)
        return lxml.html.fromstring(summary).text_content() if summary.strip() else ""

    return extract


def _justext() -> Callable[[str], str]:
    import justext

    stoplist = justext.get_stoplist("French")

    def extract(page: str) -> str:
        paragraphs = justext.justext(page.encode("utf-8"), stoplist, encoding="utf-8")
        return "\n\n".join(p.text for p in paragraphs if not p.is_boilerplate)

    return extract


def _searchsvc() -> Callable[[str], str]:
    """What searchsvc keeps: the chosen library behind its removal of chrome by tag, role,
    class and id (searchsvc.ingest.html)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from searchsvc.ingest.html import read_html

    def extract(page: str) -> str:
        found = read_html(page)
        return f"{found.title or ''}\n\n{found.body}"

    return extract


CANDIDATES = {
    "trafilatura": _trafilatura,
    "readability-lxml": _readability,
    "justext": _justext,
    "searchsvc (justext)": _searchsvc,
}


def _comparable(text: str) -> str:
    """``text`` as compared with what a page should keep: one space for each run of white
    space, trimmed, case folded."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def measure(extract: Callable[[str], str], pages: list[Page], repeat: int) -> dict:
    """Shares kept and leaked (overall and by layout) and the median time per page."""
    kept = total = leaked = blocks = 0
    by_layout: dict[str, list[float]] = {}
    leaks: dict[str, int] = {}
    times = []
    for page in pages:
        spent = []
        for _ in range(repeat):
            started = time.perf_counter()
            out = extract(page.html)
            spent.append(time.perf_counter() - started)
        times.append(statistics.median(spent))
        flat = _comparable(out)
        page_kept = sum(_comparable(s) in flat for s in page.sentences)
        page_leaked = 0
        for name, phrases, _html in page.chrome:
            if any(_comparable(p) in flat for p in phrases):
                page_leaked += 1
                leaks[name] = leaks.get(name, 0) + 1
        kept += page_kept
        total += len(page.sentences)
        leaked += page_leaked
        blocks += len(page.chrome)
        by_layout.setdefault(page.layout, []).append(page_kept / len(page.sentences))
    return {
        "kept": kept / total,
        "leaked": leaked / blocks if blocks else 0.0,
        "ms": statistics.median(times) * 1000,
        "worst": {layout: min(shares) for layout, shares in by_layout.items()},
        "leaks": leaks,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=12)
    p.add_argument("--repeat", type=int, default=5, help="runs per page (median time)")
    p.add_argument("--seed", type=int, default=28)
    args = p.parse_args(argv)
    pages = make_pages(args.pages, args.seed)
    sentences = sum(len(pg.sentences) for pg in pages)
    blocks = sum(len(pg.chrome) for pg in pages)
    print(
        f"{len(pages)} pages ({', '.join(LAYOUTS)}), {sentences} article sentences, "
        f"{blocks} boilerplate blocks; median of {args.repeat} runs per page\n"
    )
    header = f"{'library':<20} {'article kept':>12} {'chrome leaked':>13} {'ms/page':>8}  "
    print(header + "worst page kept, by layout")
    for name, load in CANDIDATES.items():
        try:
            extract = load()
        except ImportError as exc:
            print(f"{name:<20} not installed ({exc})")
            continue
        r = measure(extract, pages, args.repeat)
        worst = ", ".join(f"{k} {v:.0%}" for k, v in r["worst"].items())
        print(f"{name:<20} {r['kept']:>12.1%} {r['leaked']:>13.1%} {r['ms']:>8.2f}  {worst}")
        leaks = ", ".join(f"{k} ×{v}" for k, v in sorted(r["leaks"].items())) or "none"
        print(f"{'':<20} leaked: {leaks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
