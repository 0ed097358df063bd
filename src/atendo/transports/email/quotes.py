"""Read a reply: the client's new words, their signature, and the quoted history.

``split_reply(text) -> Reply(text, signature, quoted)``; :func:`split_quoted` is the two-part
form ``(text, quoted)``.  Nothing is thrown away: ``text`` + ``signature`` is what the client
wrote (:attr:`Reply.as_written`), ``quoted`` the history the panel shows folded.  A missed quote
costs a few lines on screen, a false cut loses what the client wrote, so:

1. **Hard cut** -- the history starts at the first of these with client text above it (shapes
   in :mod:`~atendo.transports.email.reply_structure`): an attribution line (strong, or weak
   and followed by ``>`` lines), an e-mail header block (with the rule or "Original Message"
   line above it), a separator, or the repeated text of our own last message
   (``own_last_text``).  Everything below is history, ``>``-marked or not.  An attribution
   followed by ``>`` lines *with the client's answers between or below them* is no cut: it is
   an inline or bottom-posted reply (step 2).
2. **``>`` regions** above the cut -- one region (and the attribution that introduces it) is
   history even when the client wrote below it (bottom posting); several regions with the
   client's lines between them are an inline reply, kept whole.
3. **Forward** -- a forward marker ("Begin forwarded message", "---------- Forwarded message
   ---------", "Mensagem encaminhada", …) above any cut stops the search: a forward's content
   is the client's material.
4. **Signature** -- :func:`~atendo.transports.email.reply_signature.signature_start` on what is
   left: the "-- " block, a "Sent from my iPhone" line, a list footer, a sign-off block.
5. If no new words would be left, nothing is cut (and no signature is taken).

:func:`split_quoted_html` splits HTML at the quote container of the common clients (Gmail,
Outlook, Apple Mail, Thunderbird, Yahoo, Zoho, …) *before* it is turned into text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from atendo.transports.email.reply_signature import signature_start
from atendo.transports.email.reply_structure import (
    INVISIBLE,
    attribution_at,
    clean,
    header_block_at,
    header_block_forwards,
    header_key,
    is_forward,
    is_rule,
    separator_kind,
)

__all__ = ["Reply", "split_quoted", "split_quoted_html", "split_reply"]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # the client's new words
    signature: str  # the client's signature or a list footer below them ('' if none)
    quoted: str  # the quoted history ('' if none)
    as_written: str  # text and signature exactly as they stood in the message


def _next_nonblank(cleaned: list[str], idx: int, reach: int = 3) -> int | None:
    for j in range(idx, min(len(cleaned), idx + reach)):
        if cleaned[j]:
            return j
    return None


def _rule_above(cleaned: list[str], idx: int) -> int:
    """Move a cut up over blank lines to a rule or separator line right above it."""
    j = idx - 1
    while j >= 0 and j >= idx - 3 and not cleaned[j]:
        j -= 1
    if j >= 0 and (is_rule(cleaned[j]) or separator_kind(cleaned[j]) is not None):
        return j
    return idx


def _opens_history(cleaned: list[str], idx: int) -> bool:
    """A header block or attribution starts at (or right below) ``idx``."""
    nxt = _next_nonblank(cleaned, idx)
    if nxt is None:
        return False
    if header_key(cleaned[nxt]) is not None and header_block_at(cleaned, nxt) is not None:
        return True
    for end in range(nxt, min(len(cleaned), nxt + 3)):
        found = attribution_at(cleaned, end)
        if found is not None and found[0] == nxt:
            return True
    return False


def _forward_block_below(cleaned: list[str], idx: int) -> bool:
    nxt = _next_nonblank(cleaned, idx)
    if nxt is None or header_key(cleaned[nxt]) is None:
        return False
    end = header_block_at(cleaned, nxt)
    return end is not None and header_block_forwards(cleaned, nxt, end)


def _answers_after(cleaned: list[str], idx: int) -> bool:
    """Below an attribution at ``idx``: ``>`` lines with the client's own lines after them."""
    seen_quote = False
    for j in range(idx, len(cleaned)):
        cur = cleaned[j]
        if not cur:
            continue
        if cur[0] == ">":
            seen_quote = True
            continue
        if not seen_quote:
            return False  # unmarked history right below the attribution
        if cleaned[j - 1].endswith("="):
            continue  # the tail of a quoted line broken by a quoted-printable soft break
        if cur[-1] in ":：" and attribution_at(cleaned, j) is not None:
            return False  # the next (older) attribution: still history
        if header_key(cur) is not None or is_rule(cur) or separator_kind(cur):
            return False
        # the client's answer, unless only a signature or list footer is below the quote
        return signature_start([c for c in cleaned[j:] if c]) != 0
    return False


def _marker_at(cleaned: list[str], i: int) -> int | None:
    """First line of the history if a marker of its start is at line ``i``, else None."""
    cur = cleaned[i]
    first, last = cur[0], cur[-1]
    if first in "-=_~*" and last in "-=_~*":
        if _forward_block_below(cleaned, i + 1):
            return _FORWARD
        kind = separator_kind(cur)
        if kind == "original" or (kind == "dashed" and _opens_history(cleaned, i + 1)):
            return i
        if is_rule(cur) and _opens_history(cleaned, i + 1):
            return i
    if last in ":：-" or last.isalpha():
        found = attribution_at(cleaned, i)
        if found is not None:
            start, strength = found
            nxt = _next_nonblank(cleaned, i + 1)
            quoted_next = nxt is not None and cleaned[nxt][0] == ">"
            if (strength == 2 or quoted_next) and not _answers_after(cleaned, i + 1):
                return start
    if header_key(cur) is not None:
        end = header_block_at(cleaned, i)
        if end is not None:
            return _FORWARD if header_block_forwards(cleaned, i, end) else _rule_above(cleaned, i)
    return None


_FORWARD = -1  # _marker_at: a forwarded message's header block (its content is the client's)


def _hard_cut(cleaned: list[str]) -> int | None:
    """Index of the first line of history below the client's text, if any."""
    text_seen = False
    for i, cur in enumerate(cleaned):
        if not cur or cur[0] == ">":
            continue
        if is_forward(cur):
            return None
        candidate = _marker_at(cleaned, i)
        if candidate == _FORWARD:
            return None
        if candidate is not None:
            # a header block or attribution at the very top is the message itself
            if not text_seen:
                return None
            if any(c and c[0] != ">" for c in cleaned[:candidate]):
                return candidate
        text_seen = True
    return None


def _quote_regions(cleaned: list[str]) -> list[tuple[int, int]]:
    """Regions [start, end) of ``>`` lines; regions separated only by blanks are merged."""
    regions: list[tuple[int, int]] = []
    i = 0
    n = len(cleaned)
    while i < n:
        if not cleaned[i] or cleaned[i][0] != ">":
            i += 1
            continue
        start = i
        while i < n and (not cleaned[i] or cleaned[i][0] == ">"):
            i += 1
        end = i
        while end > start and not cleaned[end - 1]:
            end -= 1
        if regions and not any(cleaned[regions[-1][1] : start]):
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return regions


def _intro_start(cleaned: list[str], start: int) -> int:
    """Include the attribution line(s) that introduce a ``>`` region starting at ``start``."""
    j = start - 1
    while j >= 0 and j >= start - 2 and not cleaned[j]:
        j -= 1
    if j < 0 or not cleaned[j] or cleaned[j][-1] not in ":：":
        return start
    found = attribution_at(cleaned, j)
    if found is not None:
        return found[0]
    # "Marc wrote:" right above the quote, no date needed
    return j if len(cleaned[j]) < 120 and _SHORT_VERB_RE.search(cleaned[j]) else start


_SHORT_VERB_RE = re.compile(
    r"(?:wrote|writes|escreveu|escribió|a écrit|schrieb|ha scritto|schreef|skrev|kirjoitti|"
    r"napisał\(a\)|napisał|napisała|pisze|написал\(а\)|написал|написала|пишет|写道|寫道)"
    r"\s*[:：]$",
    re.IGNORECASE,
)


def _own_text_cut(lines: list[str], cleaned: list[str], own_last_text: str) -> int | None:
    """Where our own last outbound text starts being repeated (unmarked quoting)."""
    probes = [p for line in own_last_text.splitlines() if len(p := clean(line)) >= 20][:3]
    if not probes:
        return None
    for i, cur in enumerate(cleaned):
        if not cur:
            continue
        body = cur.lstrip("> ")
        if any(probe in body for probe in probes) and any(c and c[0] != ">" for c in cleaned[:i]):
            j = i - 1
            while j >= 0 and not cleaned[j]:
                j -= 1
            if j >= 0 and cleaned[j][-1:] in (":", "："):
                found = attribution_at(cleaned, j)
                start = found[0] if found is not None else j
                if any(c and c[0] != ">" for c in cleaned[:start]):
                    return start
            return i
    return None


def _strip_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not clean(lines[start]):
        start += 1
    while end > start and not clean(lines[end - 1]):
        end -= 1
    return lines[start:end]


def _trim(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def split_reply(text: str, *, own_last_text: str | None = None) -> Reply:
    """Split a reply into the client's new words, their signature and the quoted history."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalised.split("\n")
    cleaned = [clean(line) for line in lines]
    cut = _hard_cut(cleaned)
    if own_last_text:
        own = _own_text_cut(lines, cleaned, own_last_text)
        if own is not None and (cut is None or own < cut):
            cut = own
    head = lines if cut is None else lines[:cut]
    head_clean = cleaned if cut is None else cleaned[:cut]
    tail = [] if cut is None else lines[cut:]

    regions = _quote_regions(head_clean)
    new_clean: list[str] | None  # the cleaned new_lines, when at hand
    if len(regions) == 1:
        start, end = regions[0]
        start = _intro_start(head_clean, start)
        above, below = _strip_blank(head[:start]), _strip_blank(head[end:])
        new_lines = above + ([""] if above and below else []) + below
        quoted_lines = head[start:end] + ([""] if tail else []) + tail
        new_clean = None
    else:  # no ">" quoting, or an inline (interleaved) reply: keep it whole
        new_lines, quoted_lines, new_clean = head, tail, head_clean

    written = _trim(new_lines)
    if not written.strip(INVISIBLE + " \n\t"):
        whole = normalised.strip("\n").rstrip()
        return Reply(whole, "", "", whole)
    sig = signature_start(new_lines, new_clean)
    body, signature = (new_lines, []) if sig is None else (new_lines[:sig], new_lines[sig:])
    if not _trim(body).strip(INVISIBLE + " \n\t"):
        body, signature = new_lines, []
    return Reply(_trim(body), _trim(signature), _trim(quoted_lines), written)


def split_quoted(text: str, *, own_last_text: str | None = None) -> tuple[str, str]:
    """``(new_text, quoted_history)`` of :func:`split_reply` (the signature is in neither)."""
    reply = split_reply(text, own_last_text=own_last_text)
    return reply.text, reply.quoted


# --------------------------------------------------------------------------- HTML

# Opening tags of the quote containers mail clients write (the quote starts at the tag).
_HTML_QUOTE_MARKERS = re.compile(
    r"""<(?:div|blockquote|table)\b[^>]*\bclass=["']?[^"'>]*\b(?:x_)?(?:gmail_quote|"""
    r"""gmail_quote_container|yahoo_quoted|ydp[0-9a-f]+yahoo_quoted|moz-cite-prefix|"""
    r"""zmail_extra|protonmail_quote|OutlookMessageHeader|replyHeader|"""
    r"""mailru-quote|quote-block)\b"""
    r"""|<div\b[^>]*\bid=["']?(?:x_)?(?:divRplyFwdMsg|appendonsend|appendonly|"""
    r"""mail-editor-reference-message(?:-container)?|ygmailextra|Zm-_Id_-Sgn1|"""
    r"""isForwardContent|reply-container|OLK_SRC_BODY_SECTION)\b"""
    r"""|<blockquote\b[^>]*\btype=["']?cite"""
    r"""|<hr\b[^>]*\bid=["']?(?:stopSpelling|zwchr|replySplit)""",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"<[^>]*>|&nbsp;|&#160;|\s")
_FORWARD_HTML_RE = re.compile(
    r"forwarded message|begin forwarded|mensagem encaminhada|mensaje reenviado|"
    r"weitergeleitete nachricht|message transféré|messaggio inoltrato|doorgestuurd bericht|"
    r"пересылаемое сообщение|moz-forward-container|isForwardContent",
    re.IGNORECASE,
)


def split_quoted_html(html: str) -> tuple[str, str]:
    """Split HTML at the first quote container of a mail client: ``(new_html, quoted_html)``.

    Outlook's ``#appendonsend`` and ``#divRplyFwdMsg`` (with the rule above), Gmail's
    ``gmail_quote``, Apple Mail's ``<blockquote type="cite">``, Thunderbird's
    ``moz-cite-prefix``, Yahoo's ``yahoo_quoted``, Zoho's ``zmail_extra``, Proton's
    ``protonmail_quote``, Hotmail's ``#stopSpelling``, Zimbra's ``#zwchr``, …  A container
    that opens a *forward* is not history.  The split is textual (at the opening tag), so the
    halves may hold unbalanced tags: run both through
    :func:`~atendo.kit.html.sanitize_html`.  Returns ``(html, "")`` when no
    container is found or nothing would remain above it.
    """
    match = _HTML_QUOTE_MARKERS.search(html)
    if match is None:
        return html, ""
    pos = match.start()
    if _FORWARD_HTML_RE.search(html, pos, pos + 600):
        return html, ""
    head = html[:pos]
    if not _TAG_RE.sub("", head):
        return html, ""
    return head, html[pos:]
