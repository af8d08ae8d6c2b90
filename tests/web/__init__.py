"""Tests of the HTTP service (searchsvc.web, serve, the Dockerfile)."""
