# searchsvc: the search page and JSON API under gunicorn, with the index of corpus/ built in.
#
#   docker build -t searchsvc .
#   docker run --rm -p 8000:8000 -v searchsvc-index:/data/index searchsvc
#       -> http://127.0.0.1:8000 (the named volume keeps the index; it starts as the image's)
#   docker run --rm -v searchsvc-index:/data/index -v "$PWD/corpus:/app/corpus:ro" \
#       searchsvc searchsvc index --full
#       -> rebuilds the index from a corpus folder; the running service picks it up by itself
#
# The steps are those of `make run` (install, `searchsvc index`, `searchsvc serve`).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEARCHSVC_CORPUS=/app/corpus \
    SEARCHSVC_INDEX=/data/index \
    SEARCHSVC_HOST=0.0.0.0 \
    SEARCHSVC_PORT=8000

WORKDIR /app

RUN groupadd --system --gid 10001 searchsvc \
    && useradd --system --uid 10001 --gid searchsvc --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin searchsvc \
    && mkdir -p /data/index \
    && chown searchsvc:searchsvc /data/index

# The versions `make run` installs: constraints.txt pins pip, the dependencies and the build
# backend (see `make lock`).
COPY pyproject.toml README.md constraints.txt ./
COPY searchsvc ./searchsvc
RUN pip install --no-cache-dir --constraint constraints.txt pip \
    && pip install --no-cache-dir --constraint constraints.txt \
        --build-constraint constraints.txt .

COPY corpus ./corpus

USER 10001:10001
# Exit status 3 means some files were skipped (each is reported): the index is still built.
RUN searchsvc index || [ $? -eq 3 ]

VOLUME ["/data/index"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SEARCHSVC_PORT', '8000') + '/healthz', timeout=4)"]

CMD ["searchsvc", "serve"]
