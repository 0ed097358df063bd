"""Shapes that open a reply's quoted history, recognised in any language.

Works on *cleaned* lines (stripped of blanks and invisible characters, see :func:`clean`).
Each recogniser answers "does the history start here, and where exactly":

* **attribution** -- one to three lines that end in a colon (or in a "wrote"-like verb, or
  Zoho's ``---- On … wrote ----``) and carry a date or time and/or an address in ``<…>``/``(…)``:
  "On … wrote:", "Le … a écrit :", "Am … schrieb X:", "ср, 30 апр. 2025 г. в 15:19, X <x@y>:",
  "2025-04-30 15:19 GMT+01:00 X <x@y>:", "11:00 AM, November 17, 2021, X <x@y>:",
  "2025年4月30日(水) 15:19 X <x@y>:".  The *shape* decides (date/time + address + final colon,
  or a leading word + a verb); the localised verbs and leading words are support.
  :func:`attribution_at` returns the first line and whether it is *strong* (a cut on its own)
  or *weak* (a cut only when quoted lines follow).
* **header block** -- two or more "Key: value" lines of an e-mail header (Outlook, Zoho, Yahoo,
  mail.ru, …) in any of the listed languages, bold (``*From:*``) or not, with wrapped values
  allowed; it must hold a sender key and a date/subject/recipient key.
* **separator** -- "-----Original Message-----" and its translations, or any short phrase
  between dashes followed by a header block; a rule (``____``, ``====``, ``-----``) right
  above a header block or an attribution belongs to the history.
* **forward marker** -- "Begin forwarded message", "---------- Forwarded message ---------"
  and translations: what follows is the client's material, never history.

Speed: every recogniser starts with a cheap test (last character, first character, length)
before any regular expression, because it runs on every line of every message.
"""

from __future__ import annotations

import re

__all__ = [
    "INVISIBLE",
    "attribution_at",
    "clean",
    "header_block_at",
    "header_block_forwards",
    "is_forward",
    "is_rule",
    "separator_kind",
]

INVISIBLE = "\ufeff\u200b\u200c\u200d\u200e\u200f\u00a0\u2060"


def clean(line: str) -> str:
    if line.isascii():  # INVISIBLE is all non-ASCII: one strip is the same (and cheaper)
        return line.strip()
    return line.strip().strip(INVISIBLE).strip()


# --------------------------------------------------------------------------- signals

_TIME = r"\d{1,2}[:.h]\d{2}"
_NUM_DATE = r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}"
_DATE_RE = re.compile(
    rf"(?:{_TIME}|{_NUM_DATE}|\b(?:19|20)\d{{2}}\b|\d{{4}}\s*年|\d{{1,2}}\s*月|\d{{4}}년)"
)
_ADDR_RE = re.compile(r"[^\s<>()\[\]]+@[^\s<>()\[\]]+\.[^\s<>()\[\]]+")
# The line ends with an address in <…>, (…), [mailto:…] or bare, then at most a short word
# ("님이 작성", "пишет") before the colon.
_ADDR_END_RE = re.compile(
    r"(?:<[^<>]*@[^<>]*>|\([^()]*@[^()]*\)|\[(?:mailto:)?[^\[\]]*@[^\[\]]*\]|\S+@\S+\.\w+)"
    r"[\s)\]\"'»]*(?:\S{1,12}(?:\s\S{1,12})?)?\s*[:：]$"
)

_VERBS = (
    r"wrote|writes|has written|escreveu|escribió|escribio|a écrit|a ecrit|schrieb|"
    r"hat geschrieben|ha scritto|scrisse|schreef|heeft geschreven|het volgende geschreven|"
    r"skrev|skriver|"
    r"napisał\(a\)|napisała|napisał|napisal|pisze|napsal\(a\)|napsala|napsal|napísal|"
    r"kirjoitti|kirjutas|rašė|rakstīja|написал\(а\)|написала|написал|пишет|написав\(ла\)|"
    r"написав|написала|пише|написа|је написао|je napisao|je napisal|a scris|va escriure|"
    r"yazdı|írta|έγραψε|εγραψε|כתב|كتب|menulis|đã viết|เขียน|写道|寫道|작성|のメッセージ|"
    r"さんは書きました|書きました"
)
_VERB_END_RE = re.compile(rf"(?:{_VERBS})\s*[:：]?$", re.IGNORECASE)
_VERB_ANY_RE = re.compile(rf"(?:^|[\s,)>])(?:{_VERBS})(?:$|[\s:：])", re.IGNORECASE)
_LEADS = (
    r"on|em|no dia|le|am|el|il giorno|il|in data|op|den|dnia|w dniu|på|pe|dne|tanggal|"
    r"vào|el día|on the|в|у|dana|la|kl\.|el dia|na|den"
)
_LEAD_RE = re.compile(rf"^(?:{_LEADS})\b", re.IGNORECASE)
_ZOHO_RE = re.compile(r"^-{2,}\s*(.+?)\s*-{2,}$")


def _has_date(text: str) -> bool:
    return _DATE_RE.search(text) is not None


def _attribution_strength(joined: str) -> int:
    """2: an attribution on its own; 1: one if quoted lines follow; 0: not one."""
    if len(joined) > 400:
        return 0
    zoho = _ZOHO_RE.match(joined)
    if zoho is not None:  # Zoho: "---- On Wed, … Name <x@y> wrote ----"
        inner = zoho.group(1)
        return 2 if _VERB_END_RE.search(inner) and _has_date(inner) else 0
    colon = joined[-1] in ":："
    verb_end = _VERB_END_RE.search(joined) is not None
    if not colon and not verb_end:
        return 0
    dated = _has_date(joined)
    addr = _ADDR_RE.search(joined) is not None
    if verb_end and (dated or addr):
        return 2 if colon or _LEAD_RE.match(joined) else 1
    if colon and dated and _ADDR_END_RE.search(joined):
        return 2  # "dd.mm.yyyy, hh:mm, Name <addr>:" in any language
    if colon and _LEAD_RE.match(joined) and dated and _VERB_ANY_RE.search(joined):
        return 2  # "Am 30.04.2025 um 15:19 schrieb Hans Müller:"
    if colon and len(joined) < 200 and (verb_end or (dated and addr)):
        return 1
    return 0


def _continues(prev: str, cur: str) -> bool:
    """True when ``cur`` may be the wrapped tail of ``prev`` (attribution lines only)."""
    if not prev or not cur or prev[0] == ">" or cur[0] == ">" or prev[-1] in ":：":
        return False
    if prev[-1] in "<,(\"'=" or cur[0] in "<([\"'":
        return True
    if _LEAD_RE.match(prev) and _has_date(prev) and len(prev) < 200:
        return True  # "On Wed, Apr 30, 2025 at 3:19 PM Customer" + "Support <s@x> wrote:"
    first = cur.split(" ", 1)[0]
    return cur[0].islower() or "@" in first or _VERB_END_RE.match(cur) is not None


def _join(lines: list[str]) -> str:
    """Join wrapped lines; a quoted-printable soft break ("w=" + "rote:") joins without a space."""
    out = lines[0]
    for line in lines[1:]:
        out = out[:-1] + line if out.endswith("=") else f"{out} {line}"
    return out


def attribution_at(cleaned: list[str], end: int) -> tuple[int, int] | None:
    """If ``cleaned[end]`` closes an attribution: (its first line, strength 1 or 2)."""
    last = cleaned[end]
    if not last or len(last) > 400:
        return None
    tail = last[-1]
    if tail not in ":：-" and not last[-1].isalpha():
        return None
    if tail == "-" and not last.startswith("--"):
        return None
    best: tuple[int, int] | None = None
    start = end
    for _ in range(3):
        joined = _join(cleaned[start : end + 1])
        strength = _attribution_strength(joined)
        if strength and (best is None or strength >= best[1]):
            best = (start, strength)
        if start == 0 or not _continues(cleaned[start - 1], cleaned[start]):
            break
        start -= 1
    return best


# --------------------------------------------------------------------------- header blocks

_FROM_KEYS = (
    "from",
    "de",
    "de la",
    "van",
    "od",
    "fra",
    "von",
    "da",
    "från",
    "fr",
    "lähettäjä",
    "saatja",
    "от",
    "от кого",
    "від",
    "差出人",
    "发件人",
    "寄件者",
    "寄件人",
    "보낸 사람",
    "kimden",
    "feladó",
    "afzender",
    "remitente",
    "expéditeur",
    "mittente",
    "avsändare",
    "nadawca",
    "odesílatel",
    "από",
    "מאת",
    "من",
    "từ",
    "dari",
    "pošiljatelj",
    "siuntėjas",
    "sūtītājs",
    "sender",
)
_DATE_KEYS = (
    "sent",
    "date",
    "enviado",
    "enviada",
    "enviado em",
    "enviada em",
    "enviado el",
    "data",
    "wysłano",
    "wysłany",
    "verzonden",
    "datum",
    "sendt",
    "gesendet",
    "envoyé",
    "envoyé le",
    "date d'envoi",
    "fecha",
    "inviato",
    "skickat",
    "lähetetty",
    "päivämäärä",
    "отправлено",
    "дата",
    "надіслано",
    "送信日時",
    "日付",
    "发送时间",
    "發送時間",
    "时间",
    "時間",
    "日期",
    "날짜",
    "보낸 날짜",
    "tarih",
    "gönderildi",
    "elküldve",
    "dátum",
    "odesláno",
    "στάλθηκε",
    "ημερομηνία",
    "נשלח",
    "ngày",
    "terkirim",
    "tanggal",
    "trimis",
    "poslano",
    "sent time",
)
_TO_KEYS = (
    "to",
    "cc",
    "bcc",
    "para",
    "cco",
    "do",
    "dw",
    "kopia",
    "aan",
    "til",
    "an",
    "à",
    "a",
    "till",
    "vastaanottaja",
    "kopio",
    "кому",
    "копия",
    "宛先",
    "收件人",
    "抄送",
    "받는 사람",
    "참조",
    "kime",
    "címzett",
    "komu",
    "προς",
    "אל",
    "đến",
    "kepada",
    "către",
    "prejemnik",
    "reply-to",
    "responder a",
    "antwort an",
)
_SUBJECT_KEYS = (
    "subject",
    "assunto",
    "temat",
    "onderwerp",
    "emne",
    "betreff",
    "objet",
    "asunto",
    "oggetto",
    "ämne",
    "ärende",
    "aihe",
    "тема",
    "件名",
    "主题",
    "主旨",
    "제목",
    "konu",
    "tárgy",
    "předmět",
    "θέμα",
    "נושא",
    "tiêu đề",
    "perihal",
    "subiect",
    "zadeva",
)
_KEY_KIND: dict[str, str] = {}
for _kind, _keys in (("to", _TO_KEYS), ("date", _DATE_KEYS), ("subject", _SUBJECT_KEYS)):
    _KEY_KIND.update(dict.fromkeys(_keys, _kind))
_KEY_KIND.update(dict.fromkeys(_FROM_KEYS, "from"))
# "Key: value", "*Key:* value", "**Key:** value", "Key : value" (French); key <= 4 words.
_KEY_LINE_RE = re.compile(r"^\**\s*([^\W\d_][^:：*]{0,24}?)\s*\**\s*[:：]\s*\**(?:\s|$)")


def header_key(line: str) -> str | None:
    """The kind of header ("from", "date", "to", "subject") a cleaned line opens, if any."""
    if ":" not in line[:32] and "：" not in line[:32]:
        return None
    match = _KEY_LINE_RE.match(line)
    if match is None:
        return None
    return _KEY_KIND.get(match.group(1).strip().lower())


def _wrapped_value(prev: str, cur: str) -> bool:
    """``cur`` continues a header value (a wrapped "From:"/"To:" line)."""
    if not cur or cur[0] == ">" or len(cur) > 200:
        return False
    return prev[-1:] in (",", ";", "<") or cur[0] in "<[(" or "@" in cur.split(" ", 1)[0]


def header_block_at(cleaned: list[str], idx: int) -> int | None:
    """End (exclusive) of an e-mail header block starting at ``idx``, or None."""
    kinds: list[str] = []
    j = idx
    while j < len(cleaned) and j - idx < 16:
        kind = header_key(cleaned[j])
        if kind is not None:
            kinds.append(kind)
        elif not (kinds and _wrapped_value(cleaned[j - 1], cleaned[j])):
            break
        j += 1
    distinct = set(kinds)
    if "from" in distinct and ("date" in distinct or "subject" in distinct):
        return j
    return j if len(distinct) >= 3 and kinds[0] in ("from", "date") else None


_FORWARD_SUBJECT_RE = re.compile(
    r"^\**\s*[^:：]{1,24}[:：]\s*\**\s*(?:fw|fwd|wg|tr|rv|enc|vs|vb|pd|doorst|i|трн|пересл)\s*[:：]",
    re.IGNORECASE,
)


def header_block_forwards(cleaned: list[str], idx: int, end: int) -> bool:
    """The header block [idx, end) is that of a forwarded message (its subject is "FW: …")."""
    return any(
        header_key(line) == "subject" and _FORWARD_SUBJECT_RE.match(line) is not None
        for line in cleaned[idx:end]
    )


# --------------------------------------------------------------------------- separators

_FORWARD_WORDS = (
    r"begin forwarded message|forwarded message|forwarded e-?mail|mensagem encaminhada|"
    r"in[ií]cio da mensagem (?:encaminhada|reencaminhada)|mensagem reencaminhada|"
    r"mensaje reenviado|comienzo del mensaje reenviado|inicio del mensaje reenviado|"
    r"weitergeleitete nachricht|anfang der weitergeleiteten (?:nachricht|e-mail)|"
    r"message transféré|message transfere|début du message (?:réexpédié|transféré)|"
    r"messaggio inoltrato|inizio messaggio inoltrato|doorgestuurd bericht|"
    r"begin doorgestuurd bericht|videresendt (?:meddelelse|besked|melding)|"
    r"vidarebefordrat (?:meddelande|mejl)|välitetty viesti|przekazana wiadomość|"
    r"wiadomość przekazana|początek przekazywanej wiadomości|пересылаемое сообщение|"
    r"пересланное сообщение|начало пересылаемого сообщения|переслане повідомлення|"
    r"přeposlaná zpráva|továbbított üzenet|iletilen mesaj|転送されたメッセージ|"
    r"轉寄的郵件|转发的邮件|전달된 메시지|προωθημένο μήνυμα"
)
_FORWARD_RE = re.compile(rf"^[-_=*\s]*(?:{_FORWARD_WORDS})\b", re.IGNORECASE)
_ORIGINAL_WORDS = (
    r"original message|original|mensagem original|mensaje original|ursprüngliche nachricht|"
    r"original-nachricht|originalnachricht|message d'origine|message original|"
    r"messaggio originale|oorspronkelijk bericht|origineel bericht|oprindelig (?:meddelelse|"
    r"besked)|opprinnelig melding|ursprungligt meddelande|originalmeddelande|"
    r"alkuperäinen viesti|wiadomość oryginalna|oryginalna wiadomość|původní zpráva|"
    r"pôvodná správa|eredeti üzenet|orijinal mesaj|исходное сообщение|оригинальное сообщение|"
    r"вихідне повідомлення|原始邮件|原始郵件|元のメッセージ|원본 메시지|αρχικό μήνυμα|"
    r"mesaj original|izvorno sporočilo|reply message|antwort"
)
_DASHED_RE = re.compile(r"^[-=_~*]{2,}\s*([^-=_~*]{2,60}?)\s*[:]?\s*[-=_~*]{2,}$")
_ORIGINAL_RE = re.compile(rf"^(?:{_ORIGINAL_WORDS})$", re.IGNORECASE)
_RULE_RE = re.compile(r"^(?:[-_=*~#]\s?){5,}$")


def is_forward(line: str) -> bool:
    if not line or (line[0] not in "-_=* " and not line[0].isalpha()):
        return False
    return _FORWARD_RE.match(line) is not None


def is_rule(line: str) -> bool:
    return len(line) >= 5 and line[0] in "-_=*~#" and _RULE_RE.match(line) is not None


def separator_kind(line: str) -> str | None:
    """ "original" for an "-----Original Message-----"-like line, "dashed" for another short
    phrase between dashes (a separator when a header block follows), else None."""
    if len(line) < 6 or line[0] not in "-=_~*" or line[-1] not in "-=_~*":
        return None
    match = _DASHED_RE.match(line)
    if match is None:
        return None
    words = match.group(1).strip()
    if _ORIGINAL_RE.match(words):
        return "original"
    lowered = words.lower()
    if any(ch.isdigit() for ch in words) or "pgp" in lowered or len(words.split()) > 5:
        return None
    return "dashed"
