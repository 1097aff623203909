"""Names from other people, shown as text: run names, study names, folder names, refusal reasons.

On a shared server a run's name is typed by a stranger (Rename), and a run folder's files may be
crafted; Streamlit renders Markdown in ``st.markdown``, captions, notices, toasts, the sidebar and
widget labels, so a name like ``![b](http://host/beacon.png)`` would make every other viewer's
browser fetch an image or show a link. :func:`shown` is the one way a page puts such a name
into Markdown: every ASCII punctuation mark but ``-`` is backslash-escaped (CommonMark lets any
of them be escaped; this also covers Streamlit's ``:color[...]`` and ``$math$``), a bare URL or
e-mail address is kept from becoming a link, control and format characters become spaces, and
the length is capped. Options of a selectbox or multiselect and cells of a dataframe are plain
text already and need only :func:`capped`.
"""

from __future__ import annotations

import re
import unicodedata

MAX_SHOWN_CHARS = 80  # a run name the app makes is at most ~60 characters; longer ones are cut with "…"
# every ASCII punctuation character but "-", which is Markdown only at a line's start (and a name is
# never shown there: it is one line, inside a sentence)
_PUNCTUATION = re.compile(r"([!-,./:-@\[-`{-~])")


def capped(name: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``name`` as one line of plain text: control and format characters (newlines, bidi overrides,
    zero-width marks) become spaces, and at most ``limit`` characters are kept ("…" marks a cut)."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(name)[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_code(name: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``name`` as a Markdown code span: shown exactly as it is (capped), nothing in it rendered;
    a backtick in it, which would end the span, is shown as a quote."""
    return "`" + capped(name, limit).replace("`", "'") + "`"


# GitHub-flavoured Markdown turns a bare "http://...", "www...." or "a@b.c" into a link even when
# its punctuation is escaped: a zero-width space after "://", "www." and "@" keeps it text
_AUTOLINK = re.compile(r"(://|(?i:www)\.|@)")
_ZERO_WIDTH_SPACE = "\u200b"


def shown(name: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``name`` ready to put into Markdown as literal text (see the module docstring)."""
    text = _AUTOLINK.sub(lambda match: match.group(1) + _ZERO_WIDTH_SPACE, capped(name, limit))
    return _PUNCTUATION.sub(r"\\\1", text)
