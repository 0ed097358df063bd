"""Right-to-left overrides out of names that matter.

``invoice\\u202efdp.exe`` is shown as ``invoiceexe.pdf``: the override (U+202E) reverses what
follows it. File names lose every bidirectional embedding, override and isolate control
(U+202A-U+202E, U+2066-U+2069) before they are shown or offered for download; the panel also
renders names and file names isolated (CSS ``unicode-bidi: isolate``) so that a name written
right to left cannot reorder the text around it.
"""

from __future__ import annotations

import re

_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def without_bidi_controls(text: str) -> str:
    return _CONTROLS.sub("", text)
