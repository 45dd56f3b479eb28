"""Text clean-up shared by every source (pure): whitespace, Unicode, LaTeX, URLs, author lists.

LaTeX: titles and abstracts from arXiv carry TeX (``Schr\\"odinger``, ``$\\alpha$-smooth``,
``\\emph{x}``). ``latex_to_unicode`` converts the common constructs to Unicode for display and
search, and leaves anything it does not know untouched; callers keep the original when it changed.
pylatexenc does this fully but was too slow for bulk loads and raised on real abstracts
(docs/benchmarks.md).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# C0/C1 control characters other than whitespace, bidi overrides, lone surrogates and the
# noncharacters U+FFFE/U+FFFF: never meaningful here, and XML (Atom feeds) forbids several.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


class RecordError(ValueError):
    """A record that cannot be stored; the message says which field is wrong."""


def record_problem(exc: Exception) -> str:
    """The message to report for a record that failed, whatever the exception."""
    if isinstance(exc, RecordError):
        return str(exc)
    return f"unusable value ({type(exc).__name__}: {exc})"[:300]


def clean_text(value: Any, *, limit: int | None = None) -> str:
    """NFC text with control characters removed and whitespace runs collapsed to one space."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"expected text, got {type(value).__name__}")
    # Fast paths matter: a bulk load cleans every string (str.split beats a regex).
    text = value
    if not text.isascii():
        # Controls out first: one between a letter and its accent would keep them apart in NFC.
        text = unicodedata.normalize("NFC", _CONTROL.sub("", text))
    elif not text.isprintable():
        text = _CONTROL.sub("", text)
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        raise RecordError(f"text of {len(text)} characters is longer than the limit of {limit}")
    return text


def clean_url(value: Any) -> str | None:
    """An http(s) URL, or None: nothing else may become a link (no ``javascript:``)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if (
        url.lower().startswith(("https://", "http://"))
        and len(url) <= 500
        and url.isprintable()  # no NUL, control, bidi override or whitespace but the space
        and " " not in url
    ):
        return url
    return None


def clean_avatar_url(value: Any) -> str | None:
    """Hugging Face gives its own avatars as site-relative paths; make them absolute."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return clean_url(f"https://huggingface.co{value}")
    return clean_url(value)


_AUTHOR_SEPARATORS = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")


def split_authors(value: str) -> list[str]:
    """Split arXiv's author string ("A, B and C", "A, B, and C") into names."""
    return [name for name in _AUTHOR_SEPARATORS.split(value) if name]


# --- LaTeX ---------------------------------------------------------------------------------

_COMBINING = {
    '"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303",
    "=": "\u0304", ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327",
}  # fmt: skip
_ACCENT = re.compile(r"\{?\\([\"'`^~=.]|[uvHc](?=[\s{]))\s*(?:\{\s*([A-Za-z])\s*\}|([A-Za-z]))\}?")
_LETTERS = {
    "ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ",
    "aa": "å", "AA": "Å", "l": "ł", "L": "Ł", "i": "ı",
}  # fmt: skip
_LETTER = re.compile(
    r"\{\\(ss|o|O|ae|AE|oe|OE|aa|AA|l|L|i)\}|\\(ss|o|O|ae|AE|oe|OE|aa|AA|l|L|i)\b(?:\{\}|\s)?"
)
_ESCAPES = re.compile(r"\\([%&_#$])")
_STYLE = re.compile(
    r"\\(?:emph|textbf|textit|texttt|textsc|textrm|textsf|text|mathrm|mathbf|mathit|mathsf|"
    r"mathtt|mathcal|mathbb|boldsymbol|bm|operatorname|url|mbox)\s*\{([^{}]*)\}"
)
_GROUP_STYLE = re.compile(r"\{\\(?:em|bf|it|tt|sc|rm)\s+([^{}]*)\}")
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "times": "×", "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼", "simeq": "≃",
    "infty": "∞", "pm": "±", "mp": "∓", "to": "→", "rightarrow": "→", "leftarrow": "←",
    "Rightarrow": "⇒", "Leftarrow": "⇐", "leftrightarrow": "↔", "mapsto": "↦", "in": "∈",
    "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩", "forall": "∀",
    "exists": "∃", "partial": "∂", "nabla": "∇", "sum": "∑", "prod": "∏", "int": "∫",
    "sqrt": "√", "ell": "ℓ", "circ": "∘", "star": "⋆", "ast": "∗", "propto": "∝",
    "equiv": "≡", "gg": "≫", "ll": "≪", "langle": "⟨", "rangle": "⟩", "emptyset": "∅",
    "prime": "′", "degree": "°", "%": "%", "log": "log", "exp": "exp", "max": "max",
    "min": "min", "sin": "sin", "cos": "cos", "lim": "lim", "arg": "arg", "det": "det",
    "mathbb{R}": "ℝ", "mathbb{N}": "ℕ", "mathbb{Z}": "ℤ", "mathbb{E}": "𝔼", ",": " ", ";": " ",
    "!": "", "quad": " ", "qquad": " ", "left": "", "right": "", "big": "", "Big": "",
}  # fmt: skip
_BLACKBOARD = re.compile(r"\\mathbb\s*\{([RNZE])\}")
_SYMBOL = re.compile(r"\\([A-Za-z]+|[,;!])(?![A-Za-z])")
_SUPERSCRIPTS = str.maketrans("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ")
_SUBSCRIPTS = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SCRIPT = re.compile(r"([\^_])(?:\{([0-9+\-=()ni]{1,4})\}|([0-9]))")
_INLINE_MATH = re.compile(r"(?<!\\)\$([^$]{1,200})\$")
_TEX_HINT = re.compile(r"[\\$~{]")


def _script(match: re.Match[str]) -> str:
    body = match[2] or match[3]
    table = _SUPERSCRIPTS if match[1] == "^" else _SUBSCRIPTS
    converted = body.translate(table)
    # Leave it alone when a character has no Unicode super/subscript form.
    return converted if all(c != o for c, o in zip(converted, body, strict=True)) else match[0]


def _math(match: re.Match[str]) -> str:
    body = _BLACKBOARD.sub(lambda m: _SYMBOLS[f"mathbb{{{m[1]}}}"], match[1])
    body = _STYLE.sub(r"\1", body)
    body = _SYMBOL.sub(lambda m: _SYMBOLS.get(m[1], m[0]), body)
    body = _SCRIPT.sub(_script, body)
    if "\\" in body:
        return match[0]  # something we do not know: keep the math as written
    return body


def _accent(match: re.Match[str]) -> str:
    letter = match[2] or match[3]
    return unicodedata.normalize("NFC", letter + _COMBINING[match[1]])


def latex_to_unicode(text: str) -> str:
    """Convert common LaTeX in ``text`` to Unicode; unknown constructs stay as they are."""
    if not _TEX_HINT.search(text):
        return text
    text = _ACCENT.sub(_accent, text)
    text = _BLACKBOARD.sub(lambda m: _SYMBOLS[f"mathbb{{{m[1]}}}"], text)
    text = _LETTER.sub(lambda m: _LETTERS[m[1] or m[2]], text)
    for _ in range(3):  # nested \emph{\textbf{x}}
        styled = _GROUP_STYLE.sub(r"\1", _STYLE.sub(r"\1", text))
        if styled == text:
            break
        text = styled
    text = _INLINE_MATH.sub(_math, text)
    text = _ESCAPES.sub(r"\1", text)
    return text.replace("~", "\u00a0") if "~" in text and "://" not in text else text
