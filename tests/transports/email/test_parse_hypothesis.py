"""parse_message never raises, whatever MIME (or non-MIME) bytes it is fed."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atendo.kit.html import html_to_text, sanitize_html
from atendo.transports.email.parse import ParsedMail, parse_message
from atendo.transports.email.quotes import split_quoted, split_quoted_html

CHARSETS = [
    "utf-8", "utf8", "us-ascii", "iso-8859-1", "windows-1252", "koi8-r", "gb2312", "big5",
    "iso-2022-jp", "shift_jis", "ks_c_5601-1987", "iso-8859-8-i", "unicode-1-1-utf-7",
    "x-unknown", "rot13", "base64", "undefined", "utf-16", "bogus\u00e9", "", "\"utf-8\"",
    "utf-8''", "utf-8*pt",
]  # fmt: skip
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
CTYPES = [
    "text/plain", "text/html", "text/rfc822-headers", "message/rfc822",
    "message/delivery-status", "image/png", "application/octet-stream", "multipart/mixed",
    "multipart/alternative", "multipart/related", "multipart/report", "text/x-weird", "",
    "garbage",
]  # fmt: skip
HEADER_NAMES = [
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To",
    "References", "Return-Path", "Auto-Submitted", "Precedence", "X-Failed-Recipients",
    "Content-Disposition", "Content-ID", "X-Autoreply",
]  # fmt: skip

header_bytes = st.binary(max_size=80).filter(lambda b: b"\n" not in b and b"\r" not in b)
encoded_word = st.builds(
    lambda cs, enc, body: f"=?{cs}?{enc}?{body}?=".encode(errors="surrogateescape"),
    st.sampled_from(CHARSETS),
    st.sampled_from(["B", "Q", "b", "q", "X"]),
    st.text(alphabet="ABCDEFGHabcdef0123456789=+/_", max_size=20),
)
header_value = st.one_of(header_bytes, encoded_word, st.text(max_size=60).map(str.encode))


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(HEADER_NAMES)).encode()
        lines.append(name + b": " + draw(header_value))
    return b"\n".join(lines)


@st.composite
def content_headers(draw: st.DrawFn, ctype: str, boundary: str) -> bytes:
    params = f'; charset="{draw(st.sampled_from(CHARSETS))}"'
    if ctype.startswith("multipart/"):
        params += f'; boundary="{boundary}"'
        if draw(st.booleans()):
            params += "; report-type=delivery-status"
    if draw(st.booleans()):
        params += f"; name*=utf-8''{draw(st.text(max_size=10))}"
    disp = draw(st.sampled_from(["", "inline", "attachment", "attachment; filename="]))
    out = f"Content-Type: {ctype}{params}\nContent-Transfer-Encoding: "
    out += draw(st.sampled_from(ENCODINGS))
    if disp:
        out += f"\nContent-Disposition: {disp}{draw(st.text(max_size=10))}"
    if draw(st.booleans()):
        out += f"\nContent-ID: <{draw(st.text(max_size=10))}>"
    return out.encode(errors="surrogateescape")


@st.composite
def mime_entity(draw: st.DrawFn, depth: int = 0) -> bytes:
    ctype = draw(st.sampled_from(CTYPES))
    boundary = draw(st.text(alphabet="abc-_=.'()+,/:?", min_size=1, max_size=12))
    head = draw(headers()) + b"\n" + draw(content_headers(ctype, boundary))
    if ctype.startswith("multipart/") and depth < 3:
        parts = draw(st.lists(mime_entity(depth + 1), max_size=3))
        sep = f"\n--{boundary}\n".encode()
        body = sep + sep.join(parts)
        if draw(st.booleans()):
            body += f"\n--{boundary}--\n".encode()
    elif ctype == "message/rfc822" and depth < 3:
        body = draw(mime_entity(depth + 1))
    else:
        body = draw(st.binary(max_size=200))
    return head + b"\n\n" + body


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    raw = draw(mime_entity())
    if draw(st.booleans()):  # truncate anywhere
        raw = raw[: draw(st.integers(0, len(raw)))]
    newline = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    return raw.replace(b"\n", newline)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_random_mime_never_raises(raw: bytes) -> None:
    mail = parse_message(raw)
    assert isinstance(mail, ParsedMail)
    assert "\x00" not in mail.text
    mail.text.encode("utf-8")  # no lone surrogates: storable as UTF-8 text
    mail.subject.encode("utf-8")
    for attachment in mail.attachments:
        assert "/" not in attachment.filename and attachment.filename
        attachment.filename.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(parse_message(raw), ParsedMail)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_text_helpers_never_raise(text: str) -> None:
    new, quoted = split_quoted(text)
    assert new.strip() or not text.strip()
    assert not quoted or new.strip()  # history is only split off when new text remains
    split_quoted(text, own_last_text=text[: len(text) // 2])
    split_quoted_html(text)
    html_to_text(text)
    assert "<script" not in sanitize_html(text).lower()
