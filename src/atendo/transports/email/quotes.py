"""Fold quoted history out of a reply: ``split_quoted(text) -> (new_text, quoted_history)``.

The history is *kept* (returned as the second element), never thrown away; the panel shows it
folded.  Detection is line based and deliberately conservative -- a missed quote costs a few
extra lines on screen, a false cut loses what the customer wrote:

1. *Hard cuts* -- everything from the first one on is history, provided real text precedes it:
   an attribution line ("Em qua., 25 de nov. de 2026 às 10:00, Fulano <x@y> escreveu:",
   "On ... wrote:", also wrapped over up to three lines and in a dozen other languages), an
   Outlook-style header block ("De:/Enviado:/Para:/Assunto:", "From:/Sent:/To:/Subject:",
   "Data:", ...) together with the ``____`` or ``-----`` rule above it, an
   "-----Mensagem original-----"/"-----Original Message-----" separator, or the text of our
   own last outbound message (``own_last_text``).
2. *``>`` blocks* before the cut -- a single region of ``>`` lines (plus the attribution that
   introduces it) is history even when the customer wrote below it (bottom posting).  Several
   ``>`` regions interleaved with text are an inline reply and are kept whole.
3. A forward marker ("Begin forwarded message", "Mensagem encaminhada") stops the search: a
   forward's content *is* the message.
4. If nothing would be left, nothing is cut.

``quotequail`` is used as a last resort for reply headers in languages not covered here.
:func:`split_quoted_html` does the same for HTML using the markers mail clients put in the DOM.
"""

from __future__ import annotations

import re

import quotequail

__all__ = ["split_quoted", "split_quoted_html"]

_INVISIBLE = "\ufeff\u200b\u200c\u200d\u200e\u200f\u00a0"

_VERBS = (
    r"wrote|writes|escreveu|escribió|escribio|a écrit|a ecrit|schrieb|ha scritto|scrisse|"
    r"schreef|skrev|skriver|napisał\(a\)|napisała|napisał|napsal|kirjoitti|написал\(а\)|"
    r"написала|написал|yazdı|írta|εγραψε|έγραψε"
)
_LEADS = r"on|em|no dia|a|le|am|el|il|op|den|dnia|w dniu|på|pe|dne|tanggal|vào|el día|on the"
# "Em qua., 25 de nov. de 2026 às 10:00, Fulano <x@y> escreveu:" and friends.
_STRONG_ATTRIBUTION_RE = re.compile(
    rf"^(?:{_LEADS})\b.{{0,400}}?(?:{_VERBS})\s*:\s*$", re.IGNORECASE | re.DOTALL
)
# Locale-free shapes: "... <x@y> escreveu:", "2022年1月1日(金) 9:00 田中太郎 <x@y>:".
_WEAK_VERB_RE = re.compile(rf"(?:{_VERBS})\s*:\s*$", re.IGNORECASE)
_WEAK_ADDR_END_RE = re.compile(r"@[^\s<>]+>\s*(?:\S{1,20}\s*)?:\s*$")
_HAS_DIGIT_OR_ADDR_RE = re.compile(r"\d|@")

_FORWARD_RE = re.compile(
    r"^(?:-{2,}\s*)?(?:begin forwarded message|forwarded message|mensagem encaminhada|"
    r"início da mensagem encaminhada|inicio da mensagem encaminhada|mensaje reenviado|"
    r"weitergeleitete nachricht|message transféré|messaggio inoltrato|doorgestuurd bericht|"
    r"videresendt meddelelse|vidarebefordrat meddelande)\b.*$",
    re.IGNORECASE,
)
_ORIGINAL_RE = re.compile(
    r"^-{2,}\s*(?:original message|original|mensagem original|mensaje original|"
    r"ursprüngliche nachricht|message d'origine|messaggio originale|oorspronkelijk bericht|"
    r"oprindelig meddelelse|opprinnelig melding|ursprungligt meddelande|"
    r"alkuperäinen viesti|wiadomość oryginalna|исходное сообщение|原始邮件|元のメッセージ)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
_RULE_RE = re.compile(r"^[-_=*]{10,}$")

_FROM_KEYS = (
    r"from|de|van|od|fra|von|da|från|fr|lähettäjä|от|от кого|差出人|发件人|寄件者|보낸 사람|"
    r"kimden|feladó|afzender"
)
_OTHER_KEYS = (
    r"sent|date|to|cc|bcc|subject|reply-to|enviado|enviada|enviado em|enviada em|data|para|"
    r"assunto|cco|wysłano|do|temat|dw|verzonden|aan|onderwerp|datum|sendt|til|emne|gesendet|"
    r"an|betreff|envoyé|à|objet|fecha|asunto|inviato|oggetto|a|skickat|till|ämne|ärende|"
    r"lähetetty|vastaanottaja|aihe|отправлено|дата|кому|тема|送信日時|宛先|件名|"
    r"发送时间|收件人|主题|날짜|받는 사람|제목|tarih|kime|konu"
)
_HEADER_LINE_RE = re.compile(
    rf"^\*?\s*(?P<key>{_FROM_KEYS}|{_OTHER_KEYS})\s*\*?\s*:\s*\*?(?:\s|$)", re.IGNORECASE
)
_FROM_KEY_RE = re.compile(rf"^(?:{_FROM_KEYS})$", re.IGNORECASE)


def _clean(line: str) -> str:
    return line.strip().strip(_INVISIBLE).strip()


def _is_quote_line(line: str) -> bool:
    return _clean(line).startswith(">")


def _is_blank(line: str) -> bool:
    return not _clean(line)


def _is_continuation(lines: list[str], idx: int) -> bool:
    """True when ``lines[idx]`` looks like the wrapped tail of the line above it."""
    if idx == 0 or _is_blank(lines[idx - 1]) or _is_quote_line(lines[idx - 1]):
        return False
    cur = _clean(lines[idx])
    prev = _clean(lines[idx - 1])
    if prev.endswith(("<", ",", '"', "(")):
        return True
    first = cur.split(" ", 1)[0]
    return cur[:1].islower() or "@" in first or not cur[:1].isalnum()


def _attribution_at(lines: list[str], end: int) -> tuple[int, bool] | None:
    """If ``lines[end]`` closes an attribution, return (first line, strong?)."""
    last = _clean(lines[end])
    if not last.endswith(":") or len(last) > 400:
        return None
    start = end
    while end - start < 2 and _is_continuation(lines, start):
        start -= 1
    joined = " ".join(_clean(line) for line in lines[start : end + 1])
    if len(joined) > 500:
        return None
    if _STRONG_ATTRIBUTION_RE.match(joined) and _HAS_DIGIT_OR_ADDR_RE.search(joined):
        return start, True
    if (_WEAK_VERB_RE.search(joined) or _WEAK_ADDR_END_RE.search(joined)) and (
        _HAS_DIGIT_OR_ADDR_RE.search(joined)
    ):
        return start, False
    return None


def _header_block_at(lines: list[str], idx: int) -> int | None:
    """Length of an e-mail header block starting at ``idx`` (>= 3 header lines incl. From)."""
    count = 0
    has_from = False
    j = idx
    while j < len(lines) and j - idx < 12:
        cleaned = _clean(lines[j])
        match = _HEADER_LINE_RE.match(cleaned)
        if match is None:
            break
        has_from = has_from or bool(_FROM_KEY_RE.match(match.group("key").strip()))
        count += 1
        j += 1
    if count >= 3 and has_from:
        return j
    return None


def _extend_over_rule(lines: list[str], idx: int) -> int:
    """Move a cut up over blank lines to a rule or "Original Message" line right above it."""
    j = idx - 1
    while j >= 0 and j >= idx - 3 and _is_blank(lines[j]):
        j -= 1
    if j >= 0 and (_RULE_RE.match(_clean(lines[j])) or _ORIGINAL_RE.match(_clean(lines[j]))):
        return j
    return idx


def _next_nonblank(lines: list[str], idx: int) -> int | None:
    for j in range(idx, min(len(lines), idx + 3)):
        if not _is_blank(lines[j]):
            return j
    return None


def _has_text_before(lines: list[str], idx: int) -> bool:
    return any(not _is_blank(line) and not _is_quote_line(line) for line in lines[:idx])


def _hard_cut(lines: list[str]) -> int | None:
    """Index of the first line of history that ends the new text, if any."""
    for i, line in enumerate(lines):
        cleaned = _clean(line)
        if not cleaned or cleaned.startswith(">"):
            continue
        if _FORWARD_RE.match(cleaned):
            return None
        candidate: int | None = None
        if _ORIGINAL_RE.match(cleaned):
            candidate = i
        elif _HEADER_LINE_RE.match(cleaned) and _header_block_at(lines, i) is not None:
            candidate = _extend_over_rule(lines, i)
        elif cleaned.endswith(":"):
            found = _attribution_at(lines, i)
            if found is not None:
                start, strong = found
                nxt = _next_nonblank(lines, i + 1)
                followed_by_quote = nxt is not None and _is_quote_line(lines[nxt])
                if strong or followed_by_quote:
                    candidate = start
        if candidate is not None and _has_text_before(lines, candidate):
            return candidate
    return None


def _quote_regions(lines: list[str]) -> list[tuple[int, int]]:
    """Regions [start, end) of ``>`` lines; regions separated only by blanks are merged."""
    regions: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        if not _is_quote_line(lines[i]):
            i += 1
            continue
        start = i
        while i < len(lines) and (_is_quote_line(lines[i]) or _is_blank(lines[i])):
            i += 1
        end = i
        while end > start and _is_blank(lines[end - 1]):
            end -= 1
        if regions and all(_is_blank(x) for x in lines[regions[-1][1] : start]):
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return regions


def _intro_start(lines: list[str], start: int) -> int:
    """Include the attribution line(s) that introduce a ``>`` region starting at ``start``."""
    j = start - 1
    while j >= 0 and j >= start - 2 and _is_blank(lines[j]):
        j -= 1
    if j < 0:
        return start
    found = _attribution_at(lines, j)
    if found is not None:
        return found[0]
    cleaned = _clean(lines[j])  # "Marc wrote:" right above the quote, no date needed
    return j if len(cleaned) < 200 and _WEAK_VERB_RE.search(cleaned) else start


def _own_text_cut(lines: list[str], own_last_text: str) -> int | None:
    """Where our own last outbound text starts being repeated (unmarked quoting)."""
    probes = [p for line in own_last_text.splitlines() if len(p := _clean(line)) >= 20][:3]
    if not probes:
        return None
    for i, line in enumerate(lines):
        cleaned = _clean(line).lstrip("> ")
        if any(probe in cleaned for probe in probes) and _has_text_before(lines, i):
            j = i - 1
            while j >= 0 and _is_blank(lines[j]):
                j -= 1
            if j >= 0 and _clean(lines[j]).endswith(":") and _has_text_before(lines, j):
                found = _attribution_at(lines, j)
                return found[0] if found is not None else j
            return i
    return None


_QUOTEQUAIL_MAX_LINES = 80
# Only lines shaped like quotequail's reply headers are worth its (slow) scan.
_QUOTEQUAIL_HINT_RE = re.compile(
    r"(?:wrote|schrieb|écrit|escribió|написал\(а\)|skrev|escreveu|schreef|geschreven)\s?:$"
    r"|^\d{4}/\d{1,2}/\d{1,2} .*<.*@.*>$",
    re.IGNORECASE,
)


def _quotequail_cut(lines: list[str]) -> int | None:
    """Ask quotequail for a reply header we do not know (first lines only); ignore forwards."""
    window = lines[:_QUOTEQUAIL_MAX_LINES]
    if not any(_QUOTEQUAIL_HINT_RE.search(line) for line in window):
        return None
    try:  # limit > len(window): quotequail would otherwise "cut" at the limit line
        parts = quotequail.quote("\n".join(window), limit=len(window) + 1, quote_intro_line=True)
    except Exception:
        return None
    if len(parts) != 2:
        return None
    head = parts[0][1]
    idx = head.count("\n") + 1 if head else 0
    if idx >= len(window):
        return None
    intro = _clean(window[idx])
    if _FORWARD_RE.match(intro) or _RULE_RE.match(intro) or not _has_text_before(window, idx):
        return None
    if _is_quote_line(window[idx]):
        return None  # plain ">" quoting is handled by the region logic
    return idx


def _trim(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def split_quoted(text: str, *, own_last_text: str | None = None) -> tuple[str, str]:
    """Split a reply into ``(new_text, quoted_history)``; ``quoted_history`` is '' if none."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalised.split("\n")
    cut = _hard_cut(lines)
    if own_last_text:
        own = _own_text_cut(lines, own_last_text)
        if own is not None and (cut is None or own < cut):
            cut = own
    if cut is None and not _quote_regions(lines):
        cut = _quotequail_cut(lines)
    head = lines if cut is None else lines[:cut]
    tail = [] if cut is None else lines[cut:]

    regions = _quote_regions(head)
    if len(regions) == 1:
        start, end = regions[0]
        start = _intro_start(head, start)
        new_lines = head[:start] + head[end:]
        quoted_lines = head[start:end] + ([""] if tail else []) + tail
    else:  # no ">" quoting, or an inline (interleaved) reply: keep it whole
        new_lines, quoted_lines = head, tail

    new_text = _trim(new_lines)
    if not new_text.strip(_INVISIBLE + " \n\t"):
        return normalised.strip("\n").rstrip(), ""
    return new_text, _trim(quoted_lines)


# --------------------------------------------------------------------------- HTML

_HTML_QUOTE_MARKERS = (
    re.compile(r'<div[^>]*\bclass="[^"]*\bgmail_quote\b', re.IGNORECASE),
    re.compile(r'<blockquote[^>]*\btype="?cite', re.IGNORECASE),
    re.compile(r'<div[^>]*\bid="?(?:divRplyFwdMsg|appendonly|mail-editor-reference-message)',
               re.IGNORECASE),
    re.compile(r'<div[^>]*\bclass="[^"]*\byahoo_quoted\b', re.IGNORECASE),
    re.compile(r'<div[^>]*\bclass="?moz-cite-prefix', re.IGNORECASE),
    re.compile(r'<hr[^>]*\bid="?(?:stopSpelling|zwchr)', re.IGNORECASE),
)  # fmt: skip


def split_quoted_html(html: str) -> tuple[str, str]:
    """Split HTML at the first client quote marker: ``(new_html, quoted_html)``.

    The split is textual (at the marker's opening tag), so the first half may have unclosed
    tags; run both halves through :func:`~atendo.kit.html.sanitize_html`, which
    re-balances them.  Returns ``(html, "")`` when no marker is found or nothing would remain.
    """
    positions = [m.start() for rx in _HTML_QUOTE_MARKERS if (m := rx.search(html)) is not None]
    if not positions:
        return html, ""
    pos = min(positions)
    head = html[:pos]
    if not re.sub(r"<[^>]*>|&nbsp;|\s", "", head):
        return html, ""
    return head, html[pos:]
