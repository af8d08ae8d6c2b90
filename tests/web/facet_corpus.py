"""A small corpus whose documents have sources and dates, for the filters of the search page.

Seven sources (two of them ending alike: ``reseau.html`` and ``reseau.pdf``), all holding
"réseau", and dates over seven years, so that the source and year filters show five values
then "plus…"; a menu path glued in the text (``ConfigurationAfficher``) and a compound
(*mot-clé*) for completions. The seed corpus (``corpus/``) has neither sources nor dates.
"""

from __future__ import annotations

import json
from pathlib import Path

from searchsvc.ingest.indexer import reindex

SOURCES = {
    "handbook": "debian-handbook/usr/share/doc/fr/reseau.html",
    "handbook-pdf": "debian-handbook/usr/share/doc/fr/reseau.pdf",
    "man": "manpages-fr:man8/ip",
    "lyx": "lyx-common/usr/share/lyx/doc/fr/UserGuide.lyx",
    "web": "https://www.example.org/articles/reseaux",
    "gimp": "gimp-help-fr/usr/share/gimp/help/fr/filters.html",
    "plain": "Journal du réseau",
}

DOCS = [
    (
        "net-1",
        "Configuration du réseau",
        "handbook",
        "2008-03-01",
        "La configuration du réseau se fait dans le fichier interfaces. Le mot de passe "
        "du routeur reste secret.",
    ),
    (
        "net-2",
        "Configuration réseau avancée",
        "handbook",
        "2009-05-12",
        "Une configuration réseau avancée utilise des ponts et des VLAN pour le réseau local.",
    ),
    (
        "net-3",
        "Le réseau sans fil",
        "handbook-pdf",
        "2010-01-20",
        "Le réseau sans fil demande une clé et un mot de passe solide.",
    ),
    (
        "net-4",
        "Commande ip",
        "man",
        "2011-07-04",
        "La commande ip sert à afficher et modifier la configuration du réseau : routes, adresses.",
    ),
    (
        "net-5",
        "Réseaux et partage",
        "lyx",
        "2012-09-30",
        "Partager un document sur le réseau de l'entreprise ? Rien de plus simple !",
    ),
    (
        "net-6",
        "Les réseaux sociaux",
        "web",
        "2013-02-14",
        "Les réseaux sociaux changent la configuration de nos échanges.",
    ),
    (
        "net-7",
        "Filtres de réseau",
        "gimp",
        "2014-11-11",
        "Ce filtre dessine un réseau de lignes sur l'image.",
    ),
    (
        "net-8",
        "Chronique du réseau",
        "plain",
        "2014-12-01",
        "Une chronique du réseau, semaine après semaine.",
    ),
    (
        "pass-1",
        "Changer de mot de passe",
        "man",
        None,
        "Pour changer de mot de passe, tapez passwd puis le nouveau mot de passe.",
    ),
    (
        "pass-2",
        "Mots de passe et sécurité",
        "handbook",
        "2012-03-03",
        "Un bon mot de passe est long ; un mot de passe court se devine vite.",
    ),
    (
        "pass-3",
        "Passerelle par défaut",
        "handbook",
        None,
        "La passerelle par défaut relie le réseau local à Internet.",
    ),
    (
        "misc-1",
        "Paramètres de page",
        "lyx",
        "2011-01-01",
        "Les paramètres de page règlent les marges du document.",
    ),
    (
        "menu-1",
        "Le menu Affichage",
        "lyx",
        None,
        "Choisissez ConfigurationAfficher la barre d'outils pour afficher les outils. "
        "Un mot-clé suffit pour les retrouver.",
    ),
]


def write_corpus(folder: Path) -> Path:
    """Write the corpus as one JSON Lines file in ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "docs.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, title, source, date, body in DOCS:
            doc = {"id": doc_id, "title": title, "body": body, "source": SOURCES[source]}
            if date:
                doc["date"] = date
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return folder


def build_index(root: Path) -> Path:
    """Index the corpus into ``root``/index (the corpus goes to ``root``/corpus)."""
    corpus = write_corpus(root / "corpus")
    index = root / "index"
    reindex(corpus, index, full=True)
    return index
