"""Where an HTTP/1.x request ends, told from its bytes as they arrive, so that a worker can
hold a request in memory until it is whole before any thread reads it (see
:mod:`searchsvc.web.worker`): the head up to its empty line, then the body its Content-Length
or chunked framing announces, within gunicorn's limits on the head and ours on the body."""

from __future__ import annotations

from dataclasses import dataclass

from gunicorn.http import message as http_message

BODY_ON_GET_MESSAGE = "a GET or HEAD request must not carry a body"
BAD_CHUNKS_MESSAGE = "the request body's chunked framing is malformed"

_HEX = frozenset(b"0123456789abcdefABCDEF")
# Requests that may carry a body of ``Limits.push_body``: documents pushed (PUT or POST to
# /api/documents, under any path prefix); the app checks the exact address.
PUSH_METHODS = (b"PUT", b"POST")
PUSH_PATH = b"/api/documents"


@dataclass(frozen=True)
class Limits:
    """What a worker holds in memory of one request before it is whole: gunicorn's own limits
    on the head (as its parser computes them from the config) and ours on the body."""

    line: int
    field: int
    head: int
    body: int
    push_body: int = 0  # the body of documents pushed (PUSH_PATH), when larger than ``body``

    @classmethod
    def of(cls, cfg, body: int, push_body: int = 0) -> Limits:
        top_line = getattr(http_message, "MAX_REQUEST_LINE", 8190)
        top_fields = getattr(http_message, "MAX_HEADERS", 32768)
        line = cfg.limit_request_line
        # gunicorn reads 0 as "no limit"; something must bound what is held here.
        line = top_line if line <= 0 or line > top_line else line
        fields = cfg.limit_request_fields
        fields = top_fields if fields <= 0 or fields > top_fields else fields
        field = cfg.limit_request_field_size
        field = field if field > 0 else getattr(http_message, "DEFAULT_MAX_HEADERFIELD_SIZE", 8190)
        # A leading empty line, the request line and its CRLF, then the header section as
        # gunicorn bounds it (Message.max_buffer_headers).
        head = 2 + line + 2 + fields * (field + 2) + 4
        return cls(line=line, field=field, head=head, body=body, push_body=max(body, push_body))


WAIT, READY, REFUSE = "wait", "ready", "refuse"


@dataclass(frozen=True)
class Framing:
    """What to do with a connection's bytes so far: wait for more; give them to a request
    thread (a whole request, or bytes gunicorn's parser refuses without reading more); or
    refuse them at once with ``status`` (``reason`` for the log, ``message`` for the client).
    ``expects_continue``: the client waits for "100 Continue" before sending its body."""

    state: str
    status: int = 0
    reason: str = ""
    message: str = ""
    expects_continue: bool = False


WAITING = Framing(WAIT)
WHOLE = Framing(READY)


class Framer:
    """Says, as the bytes of one HTTP/1.x request arrive, whether they hold all of it: the
    head up to its empty line, then the body its Content-Length or chunked framing announces.

    It decides only where the request ends; gunicorn's parser still reads and checks all of
    it. Where the two could disagree, the Framer says READY when the parser refuses the bytes
    without reading more (a bare LF, a malformed framing header), never when the parser would
    wait for more, so a request thread never waits on the network. The work is incremental:
    each call resumes where the previous one stopped (the buffer only grows).
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.searched = 0  # no end of head before this offset
        self.head_end: int | None = None
        self.length: int | None = None  # a Content-Length body
        self.chunked = False
        self.next_chunk = 0  # chunked: where the next chunk-size line starts
        self.received = 0  # chunked: data bytes of the chunks seen
        self.expects_continue = False
        self.body_limit = limits.body  # this request's: larger for documents pushed

    def check(self, buf: bytes | bytearray) -> Framing:
        """The verdict on ``buf``, the connection's bytes so far."""
        if self.head_end is None:
            verdict = self._head(buf)
            if verdict is not None:
                return verdict
        if self.length is not None:
            if len(buf) >= self.head_end + self.length:
                return WHOLE
            return Framing(WAIT, expects_continue=self.expects_continue)
        if self.chunked:
            return self._chunks(buf)
        return WHOLE

    def _head(self, buf: bytes | bytearray) -> Framing | None:
        """A verdict while the head is incomplete or refused; None once it is whole and the
        body's framing is known."""
        limits = self.limits
        start = 2 if buf[:2] == b"\r\n" else 0  # one empty line before the request is allowed
        eol = buf.find(b"\r\n", start)
        line_end = eol if eol >= 0 else len(buf)
        if buf.find(b"\n", start, line_end) >= 0:
            return WHOLE  # a bare LF: gunicorn answers 400 from these bytes
        if (eol < 0 and len(buf) - start - 2 > limits.line) or eol - start > limits.line:
            return Framing(REFUSE, 414, "request line too long", "")
        if eol < 0:
            return WAITING
        end = buf.find(b"\r\n\r\n", max(eol, self.searched - 3))
        if end < 0:
            self.searched = len(buf)
            if buf.count(b"\n", eol + 2) != buf.count(b"\r\n", eol + 2):
                return WHOLE  # a bare LF in the header section: 400 from these bytes
            if len(buf) > limits.head:
                return Framing(REFUSE, 431, "request header section too large", "")
            return WAITING
        self.head_end = end + 4
        return self._framing(bytes(buf[start:eol]), bytes(buf[eol + 2 : end]))

    def _framing(self, line: bytes, fields: bytes) -> Framing | None:
        """Read the body's framing from the head's fields, or decide from them alone."""
        lengths, codings, expect = [], [], []
        for field in fields.split(b"\r\n") if fields else ():
            name, _, value = field.partition(b":")
            # "Name :" is refused by gunicorn unless strip_header_spaces: then it counts.
            name = name.rstrip(b" \t").lower()
            if name == b"content-length":
                lengths.append(value.strip(b" \t"))
            elif name == b"transfer-encoding":
                codings += [c.strip(b" \t").lower() for c in value.split(b",")]
            elif name == b"expect":
                expect.append(value.strip(b" \t").lower())
        if codings:
            if lengths or codings[-1] != b"chunked":
                return WHOLE  # ambiguous or unsupported framing: gunicorn refuses the head
            self.chunked = True
        elif len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            return WHOLE  # gunicorn refuses these Content-Length fields (400)
        elif lengths:
            if len(lengths[0]) > 18:
                return WHOLE  # past any int64: gunicorn refuses it (400)
            self.length = int(lengths[0])
        method, _, rest = line.partition(b" ")
        target = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        # A GET or HEAD with a body is refused here, except on the documents' collection,
        # which answers POST only: the app says 405 there (with Allow), the more exact answer,
        # once this framer has read the body whole (no byte of it is left to be taken for a
        # request of its own).
        bodiless = method in (b"GET", b"HEAD") and not target.endswith(PUSH_PATH)
        if (self.chunked or self.length) and bodiless:
            return Framing(REFUSE, 400, "body on a GET or HEAD request", BODY_ON_GET_MESSAGE)
        if method in PUSH_METHODS and PUSH_PATH in target:
            self.body_limit = self.limits.push_body
        if (self.length or 0) > self.body_limit:
            return Framing(REFUSE, 413, f"body of {self.length} bytes", "")
        if expect:
            if expect != [b"100-continue"]:
                return WHOLE  # gunicorn answers 417 from the head alone
            self.expects_continue = line.endswith(b"HTTP/1.1")
        self.next_chunk = self.head_end
        return None

    def _chunks(self, buf: bytes | bytearray) -> Framing:
        """Walk the chunks received so far: whole after the last chunk and the trailers."""
        limits = self.limits
        pos = self.next_chunk
        while True:
            if pos - self.head_end > self.body_limit + limits.head:
                return Framing(REFUSE, 413, "chunked body framing too large", "")
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if len(buf) - pos > limits.field:
                    return Framing(REFUSE, 400, "chunk size line too long", BAD_CHUNKS_MESSAGE)
                break
            size = bytes(buf[pos:eol]).split(b";", 1)[0].rstrip(b" \t")
            if not size or not _HEX.issuperset(size):
                return Framing(REFUSE, 400, "invalid chunk size", BAD_CHUNKS_MESSAGE)
            size = int(size, 16)
            if size == 0:
                # The trailer section (often empty) ends with an empty line.
                if buf.find(b"\r\n\r\n", eol) >= 0:
                    return WHOLE
                if len(buf) - eol > limits.head:
                    return Framing(REFUSE, 431, "chunked trailer section too large", "")
                break
            if self.received + size > self.body_limit:
                return Framing(REFUSE, 413, "chunked body over the limit", "")
            if len(buf) < eol + 2 + size + 2:
                break
            if buf[eol + 2 + size : eol + 4 + size] != b"\r\n":
                return Framing(REFUSE, 400, "chunk without its CRLF", BAD_CHUNKS_MESSAGE)
            self.received += size
            pos = eol + 4 + size
        self.next_chunk = pos
        return Framing(WAIT, expects_continue=self.expects_continue)
