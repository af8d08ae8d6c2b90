"""Searching an open index: ranking, title signals, snippets, suggestions, the instant query
(while a word is being typed), completions and the result types the CLI and the web app
share. Nothing here knows Flask or click."""
