"""Where the client's signature starts in the new text of a reply (the *client's*, not the
operators' signatures of :mod:`~atendo.transports.email.signatures`).

:func:`signature_start` looks only at the bottom of the text (the last ``_WINDOW`` lines) and
returns the first line of the signature, or None.  A signature is, in order of certainty:

1. the RFC 3676 delimiter ``-- `` (or a bare ``--``) and what follows it (<= 25 lines);
2. a mobile or client line ("Sent from my iPhone", "Enviado do meu iPhone", "Von meinem iPhone
   gesendet", "Get Outlook for iOS", "iPhoneから送信", …: short, at the bottom);
3. a mailing-list or service footer ("To unsubscribe …", "You received this message because
   you are subscribed …", Mailman's "… mailing list" block), with the rule above it;
4. a sign-off ("Regards,", "Atenciosamente,", "Mit freundlichen Grüßen", "С уважением", …)
   followed by a short block of name/title/phone/link lines (1 to 7 lines);
5. a trailing block of short lines after a blank line, two of which are a phone number,
   a link or an address (a contact card without a sign-off).

Never the whole text: the signature must leave some words above it.
"""

from __future__ import annotations

import re

from atendo.transports.email.reply_structure import clean

__all__ = ["signature_start"]

_WINDOW = 30

_MOBILE_RE = re.compile(
    r"^(?:sent (?:from|with|via|using) (?:my )?|sent from |get outlook for |"
    r"obter o outlook para |baixe o outlook para |descargar outlook para |"
    r"obtener outlook para |télécharger outlook pour |outlook für |outlook for |"
    r"enviado (?:do|desde|de|a partir do|pelo|por) (?:meu |mi |o |el )?|"
    r"enviada (?:do|desde|de) (?:meu |mi )?|envoyé (?:de|depuis) (?:mon |ma )?|"
    r"von meinem |gesendet (?:von|mit|vom) (?:meinem |meiner )?|inviato da (?:mio |il mio )?|"
    r"verzonden (?:vanaf|met|van) (?:mijn )?|verstuurd vanaf (?:mijn )?|"
    r"skickat från (?:min )?|skickades från |sendt fra (?:min )?|lähetetty |"
    r"wysłane z (?:mojego )?|wysłano z (?:mojego )?|отправлено с |отправлено из |"
    r"надіслано з |odesláno z |elküldve |iphone.?から送信|iphoneから送信|"
    r"发自我的|從我的|由.*发送|보낸 사람:? ?iphone)",
    re.IGNORECASE,
)
_DEVICE_RE = re.compile(
    r"iphone|ipad|ipod|android|blackberry|samsung|galaxy|huawei|xiaomi|pixel|nokia|"
    r"mobile|móvel|movil|móvil|celular|handy|smartphone|phone|tablet|outlook|mail|gmail|"
    r"yahoo|aol|windows|sparrow|airmail|spark|superhuman|proton|thunderbird|device|"
    r"appareil|gerät|dispositivo|telefon|телефон|устройств|モバイル|手机|手機|휴대폰|\bsi\b",
    re.IGNORECASE,
)
_FOOTER_RE = re.compile(
    r"^(?:to unsubscribe|unsubscribe:|you received this (?:message|email|e-mail) because|"
    r"you are receiving this|you're receiving this|to post to this group|"
    r"to view this discussion|for more options, visit|visit this group at|"
    r"--\s*you received this|para cancelar (?:a )?(?:inscrição|assinatura|subscrição)|"
    r"você (?:está )?receb(?:eu|endo) (?:esta|este)|para deixar de receber|"
    r"pour (?:vous )?désabonner|vous recevez ce message|"
    r"um (?:sich )?(?:von dieser gruppe )?abzumelden|sie erhalten diese nachricht|"
    r"para (?:darte|darse) de baja|recibiste este mensaje|has recibido este mensaje|"
    r"per annullare l'iscrizione|hai ricevuto questo messaggio|"
    r"вы получили это сообщение|чтобы отписаться|"
    r"this (?:e-?mail|message) (?:and any attachments )?(?:is|are|was|may be) "
    r"(?:confidential|intended)|disclaimer:?$|the information contained in this "
    r"(?:communication|e-?mail|message|transmission)|"
    r"manage (?:your )?(?:subscription|notification)|reply to this email directly|"
    r"view it on github|you are receiving this because)",
    re.IGNORECASE,
)
_MAILMAN_RE = re.compile(r"mailing list$|/listinfo/|/mailman/", re.IGNORECASE)
_SIGNOFF_WORDS = (
    r"regards|best regards|kind regards|warm regards|warmest regards|best wishes|"
    r"many thanks|thanks(?: again| a lot| and regards| & regards)?|thank you|thx|cheers|"
    r"best|all the best|sincerely|yours sincerely|yours truly|yours|respectfully|br|"
    r"atenciosamente|att|att\.|atte|atenciosamente|cordialmente|abraços|abraço|abs|"
    r"um abraço|grande abraço|beijos|bjs|obrigad[oa]|muito obrigad[oa]|saudações|"
    r"cumprimentos|melhores cumprimentos|com os melhores cumprimentos|"
    r"cordialement|bien cordialement|salutations|bien à vous|amicalement|merci|"
    r"mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|"
    r"freundliche grüsse|viele grüße|viele grüsse|beste grüße|beste grüsse|liebe grüße|"
    r"liebe grüsse|herzliche grüße|grüße|grüsse|gruß|gruss|lg|mfg|vg|danke|"
    r"saludos|un saludo|saludos cordiales|atentamente|cordiales saludos|gracias|"
    r"muchas gracias|un abrazo|cordiali saluti|distinti saluti|saluti|grazie|"
    r"un caro saluto|met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groeten|"
    r"groetjes|mvg|met groet|med vänlig hälsning|med vänliga hälsningar|vänliga hälsningar|"
    r"hälsningar|mvh|med venlig hilsen|venlig hilsen|hilsen|med vennlig hilsen|"
    r"vennlig hilsen|ystävällisin terveisin|terveisin|parhain terveisin|pozdrawiam|"
    r"z poważaniem|z powazaniem|serdecznie pozdrawiam|pozdrowienia|с уважением|"
    r"с наилучшими пожеланиями|"
    r"спасибо|всего доброго|з повагою|дякую|s pozdravem|s pozdravom|üdvözlettel|"
    r"saygılarımla|teşekkürler|よろしくお願いします|よろしくお願いいたします|"
    r"宜しくお願い致します|敬具|此致|谢谢|감사합니다"
)
_SIGNOFF_RE = re.compile(rf"^(?:{_SIGNOFF_WORDS})[\s,.!:;-]*$", re.IGNORECASE)
_SIGNOFF_NAME_RE = re.compile(
    rf"^(?:{_SIGNOFF_WORDS})\s*[,.!-]\s*[^\W\d_][\w.'-]*(?:\s[^\W\d_][\w.'-]*){{0,2}}$",
    re.IGNORECASE,
)
_CONTACT_RE = re.compile(
    r"(?:\+?\d[\d\s().-]{7,}\d|https?://|www\.|\S+@\S+\.\w+|\|)", re.IGNORECASE
)
_FIELD_RE = re.compile(
    r"^[A-Za-z]+-[A-Za-z-]+\s*:|^(?:received|from|to|date|subject|action|status):", re.IGNORECASE
)
_NAME_RE = re.compile(r"^[^\W\d_][\w.'-]*(?:\s[^\W\d_][\w.'-]*){0,3}$")
_DASH_NAME_RE = re.compile(r"^-\s?[^\W\d_a-z][\w.'-]*(?:\s[^\W\d_][\w.'-]*){0,2}$")


def _is_mobile(line: str) -> bool:
    if len(line) > 70 or len(line.split()) > 8 or _MOBILE_RE.match(line) is None:
        return False
    return _DEVICE_RE.search(line) is not None or "から送信" in line or len(line.split()) <= 4


def _short_block(cleaned: list[str], start: int, *, limit: int, width: int = 80) -> bool:
    lines = [c for c in cleaned[start:] if c]
    return 0 < len(lines) <= limit and all(len(c) <= width for c in lines)


def signature_start(lines: list[str], cleaned: list[str] | None = None) -> int | None:
    """First line of the client's signature at the bottom of ``lines``, or None.

    ``cleaned``: ``[clean(line) for line in lines]`` when the caller has it already.
    """
    if cleaned is None:
        cleaned = [clean(line) for line in lines]
    last = len(cleaned)
    while last > 0 and not cleaned[last - 1]:
        last -= 1
    cleaned = cleaned[:last]
    if not cleaned:
        return None
    first_text = next(i for i, c in enumerate(cleaned) if c)
    low = max(first_text + 1, last - _WINDOW)
    candidates: list[int] = []
    for i in range(low, last):
        cur = cleaned[i]
        if not cur:
            continue
        raw = lines[i].rstrip("\r\n")
        if (cur == "--" or raw == "-- ") and last - i <= 26:
            candidates.append(i)
        elif cur[0] in "-_=" and len(cur) >= 5 and set(cur) <= set("-_= "):
            if i + 1 < last and (_FOOTER_RE.match(cleaned[i + 1]) or _mailman(cleaned, i + 1)):
                candidates.append(i)
        elif _starts_signature(cleaned, i, last):
            candidates.append(i)
    card = _contact_card(cleaned, low, min(candidates, default=last))
    if card is not None:
        candidates.append(card)
    end = min(candidates, default=last)  # "-Abhishek Kona" closing the text (not a list item)
    while end > low and not cleaned[end - 1]:
        end -= 1
    name = end - 1
    if name > low and _DASH_NAME_RE.match(cleaned[name]) and not cleaned[name - 1].startswith("-"):
        candidates.append(name)
    candidates = [c for c in candidates if any(cleaned[first_text:c])]
    return min(candidates) if candidates else None


def _starts_signature(cleaned: list[str], i: int, last: int) -> bool:
    """A footer, a mobile line or a sign-off block starts at line ``i``."""
    cur = cleaned[i]
    if _FOOTER_RE.match(cur) or _mailman(cleaned, i):
        return True
    if _is_mobile(cur) and _short_block(cleaned, i, limit=5):
        return True
    signoff = _SIGNOFF_RE.match(cur) or _SIGNOFF_NAME_RE.match(cur)
    return bool(signoff) and _signoff_block(cleaned, i, last)


def _mailman(cleaned: list[str], i: int) -> bool:
    return (
        len(cleaned[i]) < 120
        and _MAILMAN_RE.search(cleaned[i]) is not None
        and (i + 1 >= len(cleaned) or _MAILMAN_RE.search(" ".join(cleaned[i : i + 3])) is not None)
    )


def _signoff_block(cleaned: list[str], i: int, last: int) -> bool:
    """A sign-off line followed by a short name/contact block up to the end."""
    after = [c for c in cleaned[i + 1 : last] if c]
    if not after:
        return _SIGNOFF_NAME_RE.match(cleaned[i]) is not None and not _SIGNOFF_RE.match(cleaned[i])
    if len(after) > 7 or any(len(c) > 80 for c in after):
        return False
    # the line right after a sign-off is a name (or a contact line), not a sentence
    first = after[0]
    return len(first.split()) <= 6 and not first.endswith(("?", ":")) and first[-1:] != "."


def _contact_card(cleaned: list[str], low: int, last: int) -> int | None:
    """A last paragraph of 2-8 short lines, >= 2 of them phone/link/address lines."""
    start = last
    while start > low and cleaned[start - 1]:
        start -= 1
    block = cleaned[start:last]
    if not 2 <= len(block) <= 8 or start == 0 or any(len(c) > 80 for c in block):
        return None
    if any(_FIELD_RE.match(c) for c in block):
        return None  # "Final-Recipient: …", "Return-Path: …": a report or headers, no card
    hits = sum(1 for c in block if _CONTACT_RE.search(c) and not _is_mobile(c))
    named = any(_NAME_RE.match(c) for c in block)
    return start if hits >= 2 and named else None
