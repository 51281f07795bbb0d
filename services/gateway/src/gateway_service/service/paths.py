"""One reading of the request path, used both to choose the upstream and to forward. No I/O.

The gateway once chose the upstream from the decoded path and forwarded that decoded path to an
HTTP client that removes dot segments: `/api/v1/cart/..%2Forders` was routed as a cart call and
arrived as `/api/v1/orders`, around the flash-sale checks. So the raw path is split into
segments here, each segment is decoded once, and a segment that could change the path's shape
(an encoded `/` or `\\`, `.` or `..`, an empty segment) or carries a control or bidi-override
character is refused. What is forwarded is built from the same segments, encoded again, so
the service receives exactly the path the gateway authorised.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from chassis.errors import ProblemError

# RFC 3986 pchar minus the unreserved characters `quote` keeps anyway.
SEGMENT_SAFE = "!$&'()*+,;=:@"
# A page size with more digits than this is over any maximum (no int built from it).
MAX_SIZE_DIGITS = 9
# Characters that reorder how text is displayed (Trojan Source); never part of an id or a SKU.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


@dataclass(frozen=True)
class Path:
    decoded: str  # for routing and the gateway's own checks
    forwarded: str  # what the service receives: the same segments, percent-encoded


def bad_path(detail: str) -> ProblemError:
    return ProblemError(400, detail, code="bad-path")


def _decode_segment(raw: bytes) -> str:
    try:
        segment = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise bad_path("the path is not UTF-8") from None
    if segment in {".", ".."}:
        raise bad_path("dot segments are not allowed in the path")
    if "/" in segment or "\\" in segment:
        raise bad_path("encoded path separators are not allowed")
    if any(unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS for c in segment):
        raise bad_path("control characters are not allowed in the path")
    return segment


def parse_path(raw_path: bytes) -> Path:
    """The path as segments, or a 400/404 problem. An empty segment (`//`, a trailing `/`) is
    a 404: no route has one, and answering it here means the service never redirects the
    client to its internal address."""
    if not raw_path.startswith(b"/"):
        raise bad_path("the path must start with /")
    raw_segments = raw_path.split(b"/")[1:]
    if any(not raw for raw in raw_segments):
        raise ProblemError(404, "no route for this path", code="not-found")
    segments = [_decode_segment(raw) for raw in raw_segments]
    return Path(
        decoded="/" + "/".join(segments),
        forwarded="/" + "/".join(quote(s, safe=SEGMENT_SAFE) for s in segments),
    )


def page_size(value: str | None) -> int | None:
    """`size` as the services read it, or None when they will refuse it themselves (422).
    `str.isdigit` is true for `¹` and `٣`, which `int` then rejects, so ASCII only. Past
    `MAX_SIZE_DIGITS` digits it is larger than any page (and `int` refuses 4,301 digits)."""
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_SIZE_DIGITS else int(10**MAX_SIZE_DIGITS)


def forwarded_query(raw: bytes) -> str:
    """The query string as received, with anything an HTTP client refuses (raw control bytes,
    spaces, `#`, non-ASCII) percent-encoded; escapes already there are kept, so the service
    decodes the same values the client sent (and refuses the bad ones itself with a 422)."""
    return quote(raw, safe="!$&'()*+,;=:@/?%-._~")
