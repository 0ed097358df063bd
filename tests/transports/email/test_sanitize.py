"""The sanitiser renders hostile HTML inert; remote images wait for the operator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atendo.kit.html import (
    allow_remote_images,
    html_to_text,
    sanitize_html,
    text_to_html,
)
from atendo.transports.email.parse import parse_message
from tests.conftest import CORPUS

_DANGER = re.compile(r"<script|<iframe|<object|<embed|<form|<style|\son\w+\s*=|javascript:", re.I)

XSS_VECTORS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<a href=\"jav&#x09;ascript:alert('XSS');\">x</a>",
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    "<svg/onload=alert(1)>",
    "<body onload=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    '<div style="background-image: url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    '<form action="https://evil"><input name=p><button>go</button></form>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<<script>script>alert(1)<</script>/script>",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    "<!--[if gte mso 9]><script>alert(1)</script><![endif]-->",
    '<img src="x" data-remote-src="javascript:alert(1)">',
]


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_classic_xss_vectors_are_inert(vector: str) -> None:
    cleaned = sanitize_html(vector)
    assert not _DANGER.search(cleaned), cleaned
    assert not _DANGER.search(allow_remote_images(cleaned))


def test_mail_layout_survives() -> None:
    html = (
        '<table width="600" bgcolor="#ffffff"><tr><td colspan="2" align="center" '
        'style="color:#333;font-size:14px;position:absolute;background:url(https://x/y)">'
        '<font color="red" face="Arial">Olá</font></td></tr></table>'
        '<a href="https://example.com" target="_self">link</a><a href="mailto:a@b">m</a>'
        '<a href="tel:+5511999990000">t</a><img src="cid:abc@def" alt="logo">'
    )
    cleaned = sanitize_html(html)
    assert '<td colspan="2" align="center" style="color:#333;font-size:14px">' in cleaned
    assert '<font color="red" face="Arial">' in cleaned
    assert 'href="https://example.com" target="_blank"' in cleaned
    assert 'rel="noopener noreferrer nofollow"' in cleaned
    assert 'href="mailto:a@b"' in cleaned and 'href="tel:+5511999990000"' in cleaned
    assert '<img src="cid:abc@def" alt="logo">' in cleaned
    assert "position" not in cleaned and "url(" not in cleaned


def test_remote_images_blocked_then_allowed() -> None:
    cleaned = sanitize_html('<p><img src="https://t.example/p.gif" width="1"></p>')
    assert cleaned == '<p><img src="" data-remote-src="https://t.example/p.gif" width="1"></p>'
    assert allow_remote_images(cleaned) == '<p><img src="https://t.example/p.gif" width="1"></p>'


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body><p>Hello&nbsp;&amp; bye</p>"
        "<div>Line<br>two</div><script>evil()</script><blockquote>quoted</blockquote>"
        "<ul><li>a</li><li>b</li></ul></body></html>"
    )
    assert html_to_text(html) == "Hello & bye\nLine\ntwo\n> quoted\n- a\n- b"
    assert html_to_text("<p>unclosed <b>tags") == "unclosed tags"


def test_text_to_html() -> None:
    out = text_to_html("Olá <cliente>,\n\nVeja https://example.com/a?b=1&c=2.\nAté")
    assert out.startswith("<p>Olá &lt;cliente&gt;,</p>")
    assert '<a href="https://example.com/a?b=1&amp;c=2"' in out
    assert "2</a>.<br>" in out
    assert text_to_html("  \n ") == ""


def _html_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    files = list((CORPUS / "spamscope-mail-parser").rglob("mail_*"))
    files += list(CORPUS.rglob("*.html"))
    return sorted(p for p in files if p.is_file())


@pytest.mark.parametrize(
    "path", _html_files() or [None], ids=lambda p: p.name if p else "corpus-missing"
)
def test_corpus_spam_html_is_inert(path: Path | None, corpus_dir: Path) -> None:
    assert path is not None
    raw = path.read_bytes()
    html = parse_message(raw).html if path.suffix != ".html" else sanitize_html(raw.decode())
    if html:
        assert not _DANGER.search(html), _DANGER.search(html)
        assert not re.search(r"<img[^>]*\ssrc=\"https?:", html, re.I)
