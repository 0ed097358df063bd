"""Issue 18: mail HTML keeps only cid:, data: images and absolute http(s) URLs (remote images
behind the operator's click); every other URL form is removed."""

from __future__ import annotations

import pytest

from atendo.kit.html import allow_remote_images, sanitize_html

REMOVED_IMAGES = [
    "//evil.example/pixel.png",  # protocol-relative
    "\\\\evil.example\\pixel.png",  # backslashes, read as // by browsers
    "/\\evil.example/pixel.png",
    " https://evil.example/pixel.png",  # leading space
    "https://evil.example/pi xel.png",
    "\thttps://evil.example/pixel.png",
    "https:evil.example/pixel.png",  # no slashes: relative to the page in some browsers
    "/chats/10/pane",  # the panel itself (it marked dialog 10 read)
    "chats/10/pane",
    "../settings",
    "javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "data:image/svg+xml;base64,PHN2Zz4=",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("src", REMOVED_IMAGES)
def test_every_other_image_url_form_is_removed(src: str) -> None:
    assert sanitize_html(f'<p><img src="{src}" alt="x"></p>') == '<p><img alt="x"></p>'


@pytest.mark.parametrize("href", ["/chats/10/close", "//evil.example/", " https://e.example/"])
def test_relative_and_disguised_links_are_removed(href: str) -> None:
    assert sanitize_html(f'<a href="{href}">x</a>') == (
        '<a rel="noopener noreferrer nofollow" target="_blank">x</a>'
    )


def test_allowed_forms_stay_and_remote_images_wait_for_a_click() -> None:
    html = (
        '<img src="cid:logo@acme"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img src="HTTPS://cdn.example/a.png"><a href="https://acme.example/x">site</a>'
        '<a href="mailto:ana@example.org">mail</a>'
    )
    clean = sanitize_html(html)
    assert clean == (
        '<img src="cid:logo@acme"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img src="" data-remote-src="HTTPS://cdn.example/a.png">'
        '<a href="https://acme.example/x" target="_blank" rel="noopener noreferrer nofollow">'
        "site</a>"
        '<a href="mailto:ana@example.org" target="_blank" rel="noopener noreferrer nofollow">'
        "mail</a>"
    )
    assert '<img src="HTTPS://cdn.example/a.png">' in allow_remote_images(clean)
