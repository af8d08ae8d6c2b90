"""A small corpus for partial matches (issue 30): a question, the document that answers it,
documents holding some of its words, and one holding none."""

QUESTION = "comment afficher le chemin absolu d'un fichier sous linux"

DOCS = {
    # Every content word (afficher through « affiche », chemin, absolu, fichier, linux).
    "realpath.txt": (
        "Chemin absolu d'un fichier sous Linux\n\n"
        "La commande realpath affiche le chemin absolu d'un fichier donné.\n"
    ),
    # The question's filler and one content word: what a strict AND of every word found.
    "sauvegarde.txt": (
        "Comment faire une sauvegarde sous Linux\n\n"
        "Comment faire ? Sous Linux, rsync copie tout, mais comment le configurer ?\n"
    ),
    # Two content words of the query, both rarer than « linux »: more of its meaning.
    "racine.txt": ("Le chemin absolu\n\nUn chemin absolu commence par la racine du système.\n"),
    # The two words of the phrase, apart.
    "apart.txt": ("Valeur absolue\n\nLe résultat est absolu ; le chemin vers la gare est long.\n"),
    "cuisine.txt": "Recette du gâteau\n\nBeurre, farine, sucre et œufs.\n",
}
