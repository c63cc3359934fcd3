"""Reading candidate Lean text without Lean: comments and strings masked, identifiers, forbidden tokens.

The verifier's real judge is Lean itself (see `verifier.py`); this module only
  * finds the name a `formal_statement` declares (`declared_name`, `rename_declaration`): the one
    copy of that rule, used by the verifier, the envs, the dataset readers and the REPL double,
  * rejects early, with a clear reason, text that uses commands able to fake or skip
    the checks (metaprogramming, `#exit`, `sorry`, `unsafe`, `debug.skipKernelTC`, ...),
  * decides conservatively whether a proof is plain enough to share a Lean file with
    other items (no command of its own, nothing that names another item).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT_PART = re.compile(r"[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]", re.UNICODE)
_RAW_START = re.compile(r'r(#*)"')
_CHAR_LIT = re.compile(r"'(?:\\[^'\n]{1,10}|[^'\\\n])'")

# Tokens a candidate may not contain (outside comments and strings).  Each can fake or skip
# the checks that follow the candidate, or is a proof gap on its face.
FORBIDDEN: dict[str, str] = {
    "sorry": "uses sorry",
    "admit": "uses sorry (admit)",
    "sorryAx": "uses sorry (sorryAx)",
    "axiom": "declares an axiom",
    "#exit": "uses #exit (cuts the file short)",
    "#eval": "runs code (#eval)",
    "#eval!": "runs code (#eval!)",
    "#guard_msgs": "swallows messages (#guard_msgs can hide errors)",
    "#check_failure": "turns errors into information (#check_failure)",
    "unsafe": "uses unsafe code",
    "implemented_by": "uses @[implemented_by]",
    "extern": "uses @[extern]",
    "csimp": "uses @[csimp]",
    "import": "uses import",
    "run_cmd": "runs metaprograms (run_cmd)",
    "run_elab": "runs metaprograms (run_elab)",
    "run_meta": "runs metaprograms (run_meta)",
    "run_tac": "runs metaprograms (run_tac)",
    "by_elab": "runs metaprograms (by_elab)",
    "elab": "defines an elaborator",
    "elab_rules": "defines an elaborator",
    "macro": "defines a macro",
    "macro_rules": "defines a macro",
    "syntax": "defines syntax",
    "declare_syntax_cat": "defines syntax",
    "notation": "defines notation",
    "notation3": "defines notation",
    "infix": "defines notation",
    "infixl": "defines notation",
    "infixr": "defines notation",
    "prefix": "defines notation",
    "postfix": "defines notation",
    "initialize": "runs initialization code",
    "builtin_initialize": "runs initialization code",
    "simproc": "defines a simproc (runs code)",
    "dsimproc": "defines a simproc (runs code)",
    "simproc_decl": "defines a simproc (runs code)",
    "dsimproc_decl": "defines a simproc (runs code)",
    "command_elab": "registers an elaborator",
    "term_elab": "registers an elaborator",
    "tactic": "registers a tactic implementation",
    "delab": "registers a delaborator (changes what the checks print)",
    "app_unexpander": "registers an unexpander (changes what the checks print)",
    "app_delab": "registers a delaborator (changes what the checks print)",
    "register_option": "registers options (runs code)",
    "register_simp_attr": "registers attributes (runs code)",
    "env_linter": "registers a linter (runs code)",
}
FORBIDDEN_PREFIXES: dict[str, str] = {
    "debug.": "sets a debug option (e.g. debug.skipKernelTC skips the kernel)",
    "builtin_": "uses a builtin-only command or attribute",
    "Lean.Elab.": "reaches into the elaborator",
}

# Words that start a command of their own.  A proof containing one is checked alone.
COMMAND_WORDS = frozenset("""
theorem lemma def example abbrev instance axiom opaque structure class inductive coinductive
namespace section end open export universe variable attribute mutual private protected
noncomputable partial nonrec local scoped deriving alias include omit irreducible_def where
initialize add_decl_doc compile_inductive set_option
""".split())


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Masked:
    """`text` with comment and string contents replaced by spaces (newlines kept, offsets kept)."""

    text: str
    unterminated_comment: bool = False
    unterminated_string: bool = False


def _blank(s: str) -> str:
    return "".join(c if c == "\n" else " " for c in s)


def mask(text: str, keep_strings: bool = False) -> Masked:
    """Blank out comments (`--`, nested `/- -/`) and string/char literal contents.

    Inside string literals, `{...}` parts stay visible: in an interpolated string they are terms.
    With `keep_strings`, string and char literals stay as they are (only comments are blanked; a
    `--` inside a string is still not a comment).
    """
    out: list[str] = []
    i, n = 0, len(text)
    open_comment = open_string = False
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(_blank(text[i:j]))
            i = j
        elif text.startswith("/-", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            open_comment = open_comment or depth > 0
            out.append(_blank(text[i:j]))
            i = j
        elif c == '"' or (c == "r" and _RAW_START.match(text, i) and not _ident_before(text, i)):
            j, closed = _string_end(text, i)
            open_string = open_string or not closed
            out.append(text[i:j] if keep_strings else _mask_string(text[i:j]))
            i = j
        elif c == "'" and not _ident_before(text, i):
            m = _CHAR_LIT.match(text, i)
            if m:
                out.append(m.group(0) if keep_strings else _blank(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return Masked("".join(out), open_comment, open_string)


def _ident_before(text: str, i: int) -> bool:
    return i > 0 and bool(_IDENT_PART.match(text[i - 1]))


def _string_end(text: str, i: int) -> tuple[int, bool]:
    if text[i] == "r":
        m = _RAW_START.match(text, i)
        assert m is not None
        close = '"' + m.group(1)
        j = text.find(close, m.end())
        return (len(text), False) if j < 0 else (j + len(close), True)
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == '"':
            return j + 1, True
        else:
            j += 1
    return len(text), False


def _mask_string(s: str) -> str:
    out, depth = [], 0
    for c in s:
        if c == "{":
            depth += 1
            out.append(c)
        elif c == "}":
            depth = max(0, depth - 1)
            out.append(c)
        else:
            out.append(c if depth or c == "\n" else " ")
    return "".join(out)


_TOKEN = re.compile(
    r"#[A-Za-z_][\w!]*"                        # #commands
    r"|@\["                                    # attribute lists
    r"|(?:«[^»]*»|[^\W\d][\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]*|_[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]*)"
    r"(?:\.(?:«[^»]*»|[^\W\d][\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]*|_[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]*))*",
    re.UNICODE,
)


def tokens(masked: str) -> list[Token]:
    """Identifiers (dotted, «quoted»), `#commands` and `@[` of already-masked text."""
    out = []
    for m in _TOKEN.finditer(masked):
        if m.start() > 0 and _IDENT_PART.match(masked[m.start() - 1]) and not m.group(0).startswith("#"):
            continue  # the tail of a number or of something the regex split (e.g. `2x`)
        out.append(Token(m.group(0), m.start(), m.end()))
    return out


def normalize_name(name: str) -> str:
    """`_root_.«foo»` -> `foo`: the name as Lean resolves it for matching purposes."""
    parts = [p[1:-1] if p.startswith("«") and p.endswith("»") else p for p in _split_name(name)]
    if parts and parts[0] == "_root_":
        parts = parts[1:]
    return ".".join(parts)


def _split_name(name: str) -> list[str]:
    return re.findall(r"«[^»]*»|[^.]+", name)


def forbidden_reason(text: str) -> str | None:
    """Why `text` may not be a candidate, or None.  Looks only outside comments and strings."""
    m = mask(text)
    if m.unterminated_comment:
        return "unterminated comment `/-` (would hide the checks after it)"
    for tok in tokens(m.text):
        name = normalize_name(tok.text)
        for word in (tok.text, name):
            if word in FORBIDDEN:
                return f"forbidden token `{word}`: {FORBIDDEN[word]}"
        for prefix, why in FORBIDDEN_PREFIXES.items():
            if name.startswith(prefix):
                return f"forbidden token `{tok.text}`: {why}"
    return None


@dataclass(frozen=True)
class Declared:
    """What a `formal_statement` declares: the keyword, the name and where the name sits.

    This is the project's one reading of "which name does this statement declare" (the verifier,
    the REPL env, the term env, the dataset readers and the REPL double all use it).  For an
    `example` (only with `allow_example`) the name is "" and `start == end` is just after the keyword.
    """

    keyword: str  # "theorem", "lemma" or "example"
    name: str
    start: int
    end: int
    modifiers: str  # the text before the keyword, comments masked (attributes, private, ...)
    keyword_start: int = 0

    @property
    def only_modifiers_before(self) -> bool:
        """Nothing but attributes (`@[simp]`), doc comments and `private`/`protected`/... before the keyword."""
        return only_modifiers(self.modifiers)


_MODIFIERS = re.compile(r"(?:\s|@\[[^\]]*\]|\b(?:private|protected|nonrec|noncomputable)\b)*")


def only_modifiers(masked: str) -> bool:
    """Is `masked` (comments already blanked) only attributes and declaration modifiers?"""
    return _MODIFIERS.fullmatch(masked) is not None


def declared_name(statement: str, *, allow_example: bool = False) -> Declared:
    """The `theorem`/`lemma` (or, with `allow_example`, `example`) a statement declares, and its
    name; ValueError if there is none."""
    m = mask(statement)
    toks = tokens(m.text)
    for k, tok in enumerate(toks):
        if allow_example and tok.text == "example":
            return Declared("example", "", tok.end, tok.end, m.text[:tok.start], tok.start)
        if tok.text in ("theorem", "lemma") and k + 1 < len(toks):
            nxt = toks[k + 1]
            between = m.text[tok.end:nxt.start]
            if between.strip():
                break
            return Declared(tok.text, nxt.text, nxt.start, nxt.end, m.text[:tok.start], tok.start)
    raise ValueError("formal_statement declares no `theorem NAME` or `lemma NAME`")


def starts_declaration(text: str) -> Declared | None:
    """The theorem or lemma that `text` begins with (after attributes, doc comments and modifiers
    such as `private`), or None when `text` starts with anything else."""
    try:
        d = declared_name(text)
    except ValueError:
        return None
    return d if d.only_modifiers_before else None


def rename_declaration(statement: str, name: str, keyword: str | None = None) -> str:
    """`statement` declaring `name` instead of its own name (an `example` becomes `theorem name`),
    with `keyword` in place of its own keyword when given (e.g. "theorem" for a `lemma`)."""
    d = declared_name(statement, allow_example=True)
    kw_end = d.keyword_start + len(d.keyword)
    if d.keyword == "example":
        return statement[: d.keyword_start] + (keyword or "theorem") + " " + name + statement[kw_end:]
    return statement[: d.keyword_start] + (keyword or d.keyword) + statement[kw_end: d.start] + name + statement[d.end:]


def split_statement_end(statement: str) -> tuple[str, bool]:
    """(`statement` up to and including its final `:=`, whether a trailing `by` was dropped).

    ValueError if the statement does not end in `:=` or `:= by`.
    """
    s = statement.rstrip()
    masked = mask(s).text.rstrip()
    if masked.endswith("by") and not _IDENT_PART.match(masked[-3:-2] or " "):
        core = s[: len(masked) - 2].rstrip()
        if core.endswith(":="):
            return core, True
    if masked.endswith(":="):
        return s[: len(masked)], False
    raise ValueError("formal_statement must end in `:=` or `:= by`")


class NameIndex:
    """The target names of a group of items, to ask cheaply whether a text names one of them.

    Conservative on purpose: `a.helper` counts as naming `helper`, `aux` as naming `helper.aux`.
    """

    def __init__(self, names: set[str]) -> None:
        self.keys: dict[str, set[str]] = {}
        for name in names:
            parts = _split_name(name)
            for k in range(len(parts)):  # the name itself and each dotted tail of it
                self.keys.setdefault(".".join(parts[k:]), set()).add(name)

    def named_in(self, text: str, ignore: str = "") -> set[str]:
        """The names (other than `ignore`) that `text` mentions, outside comments and strings."""
        found: set[str] = set()
        for tok in tokens(mask(text).text):
            parts = _split_name(normalize_name(tok.text))
            for k in range(1, len(parts) + 1):  # every prefix (a namespace) and every tail of the token
                found |= self.keys.get(".".join(parts[:k]), set()) | self.keys.get(".".join(parts[k - 1:]), set())
        found.discard(ignore)
        return found


def mentions_any(text: str, names: set[str]) -> bool:
    """Does `text` name one of `names`, something inside it, or a dotted tail of it?"""
    return bool(names) and bool(NameIndex(names).named_in(text))


def plain_proof(proof: str) -> bool:
    """True when `proof` is only a term or a tactic block: no command word, no line at column 0.

    Deliberately conservative: anything that might start a command of its own makes the
    item be checked alone, so that it cannot change another item's environment.
    """
    m = mask(proof)
    if m.unterminated_comment or m.unterminated_string:
        return False
    text = m.text
    for line in text.split("\n")[1:]:
        if line[:1].strip():
            return False
    return not any(tok.text in COMMAND_WORDS or tok.text.startswith(("#", "@[")) for tok in tokens(text))
