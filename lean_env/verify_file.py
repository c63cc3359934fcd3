"""One Lean file that checks one or several candidates, and the reading of Lean's answer.

Layout (line numbers are known for every part, so each message is attributed by position):

    <header>
    axiom verifySorry_<nonce>.{u} (α : Sort u) : α          -- only the references use it
    <reference i: the statement renamed to `<name>_vref_<nonce>_i`, proved by verifySorry>   (all refs first)
    #check_failure @<name>                                   -- the name must not exist yet
    section S / namespace N_i                                -- a fresh scope per candidate
    <candidate i>
    end S / end N_i                                          -- fails if the candidate left a scope open
    #check @<ref i>     (pp.all)                             -- the reference type
    #check @<target i>  (pp.all)                             -- the candidate's type
    #print <target i>   (pp.proofs false)                    -- its kind: must be a `theorem`
    #print axioms <target i>
    #print axioms verifySorry_<nonce>                        -- the sentinel: the file ran to the end

References come before every candidate, so no candidate can change how a statement elaborates.
Check outputs are taken only from the lines of our own commands; a candidate that cuts the
file short (#exit, an unterminated comment) leaves them missing and is rejected.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from lean_env.alpha import same_up_to_binder_names
from lean_env.process import LeanMessage, LeanRun
from lean_env.verify_text import declared_name, rename_declaration, split_statement_end

PP_ALL = (
    "set_option pp.all true in set_option pp.deepTerms true in set_option pp.maxSteps 100000000 in "
    "set_option format.width 1000000 in "
)


@dataclass(frozen=True)
class Entry:
    """A candidate ready to be placed: `target` is the name the statement declares."""

    target: str
    statement: str
    candidate: str


@dataclass
class Slot:
    """Where one entry's parts sit in the file (1-based line numbers, inclusive ranges)."""

    target: str              # the name the checks use (namespaced in a batch)
    ref_name: str
    ref: tuple[int, int]
    cand: tuple[int, int]
    precheck: int
    end: int
    ref_check: int
    target_check: int
    kind_check: int
    axioms_check: int


@dataclass
class CheckFile:
    source: str
    slots: list[Slot]
    sentinel: int
    sorry_name: str
    header_end: int
    nonce: str = ""
    probes: dict[str, int] = field(default_factory=dict)  # allowed axiom -> the line that probes it
    regions: list[tuple[int, int, int]] = field(default_factory=list)  # (first, last, slot index)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str) -> tuple[int, int]:
        parts = text.split("\n")
        first = len(self.lines) + 1
        self.lines.extend(parts)
        return first, len(self.lines)

    def one(self, text: str) -> int:
        return self.add(text)[0]


def rename_statement(statement: str, new_suffix: str) -> tuple[str, str]:
    """(the statement declaring `<name><suffix>` and proved by nothing yet, the new name)."""
    name = declared_name(statement).name
    new = name[:-1] + new_suffix + "»" if name.endswith("»") else name + new_suffix
    return rename_declaration(statement, new), new


def reference_text(statement: str, suffix: str, sorry_name: str) -> tuple[str, str]:
    """The statement under a fresh name, with `:= by` made `:=`, proved by the sorry axiom."""
    core, _ = split_statement_end(statement)
    renamed, new = rename_statement(core, suffix)
    return f"{renamed} {sorry_name} _", new


def build_file(header: str, entries: Sequence[Entry], *, batch: bool, nonce: str | None = None,
               allowed_axioms: Sequence[str] = ()) -> CheckFile:
    """Lay out `entries` in one file; `batch=True` puts each candidate in its own fresh namespace.

    Each allowed axiom is probed before any candidate, so that a candidate cannot declare an
    axiom of that name (where the header lacks it) and pass the axiom check with it.
    """
    nonce = nonce or secrets.token_hex(6)
    sorry_name = f"verifySorry_{nonce}"
    out = _Lines()
    header_end = out.add(header.rstrip("\n"))[1] if header.strip() else 0
    out.add("")
    out.one(f"axiom {sorry_name}.{{u_vrf}} (α : Sort u_vrf) : α")
    refs = []
    for i, e in enumerate(entries):
        text, ref_name = reference_text(e.statement, f"_vref_{nonce}_{i}", sorry_name)
        out.add("")
        refs.append((out.add(text), ref_name))
    out.add("")
    probes = {ax: out.one(f"#print axioms {ax}") for ax in allowed_axioms}
    slots = []
    regions = [(line, line, -1) for line in probes.values()]  # answers there are read, never counted as errors
    for i, e in enumerate(entries):
        out.add("")
        precheck = out.one(f"#check_failure @{e.target}")  # the name must not exist yet
        if batch:
            scope = f"VerifyItem_{nonce}_{i}"
            target = f"{scope}.{e.target}"
            out.one(f"namespace {scope}")
        else:
            scope = f"VerifySection_{nonce}"
            target = e.target
            out.one(f"section {scope}")
        cand = out.add(e.candidate)
        end = out.one(f"\nend {scope}") + 1
        (ref_lines, ref_name) = refs[i]
        slot = Slot(
            target=target, ref_name=ref_name, ref=ref_lines, cand=cand, precheck=precheck, end=end,
            ref_check=out.one(f"{PP_ALL}#check @{ref_name}"),
            target_check=out.one(f"{PP_ALL}#check @{target}"),
            kind_check=out.one(f"set_option pp.proofs false in #print {target}"),
            axioms_check=out.one(f"#print axioms {target}"),
        )
        slots.append(slot)
        regions.append((ref_lines[0], ref_lines[1], i))
        regions.append((precheck, slot.axioms_check, i))
    out.add("")
    sentinel = out.one(f"#print axioms {sorry_name}")
    return CheckFile("\n".join(out.lines) + "\n", slots, sentinel, sorry_name, header_end,
                     regions=regions, nonce=nonce, probes=probes)


# ---------------------------------------------------------------------------------------------
# Reading Lean's answer


@dataclass
class Judgement:
    verdict: str       # "proved" | "rejected" | "error"
    reason: str
    messages: list[dict]


def _at(msgs: Sequence[LeanMessage], line: int) -> list[LeanMessage]:
    return [m for m in msgs if m.pos.line == line]


def _in(msgs: Sequence[LeanMessage], lines: tuple[int, int]) -> list[LeanMessage]:
    return [m for m in msgs if lines[0] <= m.pos.line <= lines[1]]


def _info(msgs: Sequence[LeanMessage], line: int) -> str | None:
    for m in _at(msgs, line):
        if m.severity == "information":
            return m.data
    return None


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def signature(data: str) -> tuple[str, str] | None:
    """`@foo.{u, v} : T` -> ('u, v', T with whitespace normalized); None if unreadable."""
    head, sep, typ = data.partition(" : ")
    if not sep:
        return None
    m = re.search(r"\.\{([^{}]*)\}$", head)
    return (m.group(1).replace(" ", "") if m else "", " ".join(typ.split()))


_KIND_WORDS = {"theorem", "def", "axiom", "opaque", "instance", "abbrev", "inductive", "constructor",
               "recursor", "quot", "structure", "class", "unsafe", "partial", "private", "protected",
               "noncomputable"}


def declaration_kind(print_data: str) -> set[str]:
    """The keywords before the name in `#print NAME` (e.g. {'unsafe', 'def'} or {'theorem'})."""
    first = print_data.split("\n", 1)[0]
    first = re.sub(r"@\[[^\]]*\]", " ", first)
    return {w for w in first.split(" : ", 1)[0].split() if w in _KIND_WORDS}


def axioms_of(print_data: str) -> list[str] | None:
    if "does not depend on any axioms" in print_data:
        return []
    m = re.search(r"depends on axioms:\s*\[(.*)\]", print_data, re.S)
    if not m:
        return None
    return [a.strip() for a in m.group(1).replace("\n", " ").split(",") if a.strip()]


def relative_messages(msgs: Sequence[LeanMessage], cand: tuple[int, int]) -> list[dict]:
    """The candidate's own messages, with line numbers counted from the candidate's first line."""
    out = []
    for m in _in(msgs, cand):
        d = m.to_dict()
        d["line"] = m.pos.line - cand[0] + 1
        out.append(d)
    return out


def _is_sorry(m: LeanMessage) -> bool:
    return m.kind == "hasSorry" or "declaration uses 'sorry'" in m.data or "declaration uses `sorry`" in m.data


def judge(cf: CheckFile, run: LeanRun, index: int, allowed_axioms: Sequence[str], *, batch: bool) -> Judgement:
    """The verdict for slot `index` of `cf` from Lean's messages.  In a batch only 'proved' is final.

    Reasons and messages name our scopes without their random nonce, so they are reproducible.
    """
    j = _judge(cf, run, index, allowed_axioms, batch=batch)
    if cf.nonce:
        j.reason = _scrub(j.reason, cf.nonce)
        j.messages = [{k: _scrub(v, cf.nonce) if isinstance(v, str) else v for k, v in m.items()}
                      for m in j.messages]
    return j


def _scrub(text: str, nonce: str) -> str:
    text = text.replace("\u0332", "")  # Lean underlines suggested edits letter by letter
    text = re.sub(rf"VerifyItem_{nonce}_\d+\.", "", text)
    return re.sub(rf"_{nonce}(_\d+)?", "", text)


def _judge(cf: CheckFile, run: LeanRun, index: int, allowed_axioms: Sequence[str], *, batch: bool) -> Judgement:
    slot = cf.slots[index]
    msgs = run.messages
    own = relative_messages(msgs, slot.cand)

    def rejected(reason: str) -> Judgement:
        return Judgement("rejected", reason, own)

    def error(reason: str, extra: Sequence[LeanMessage] = ()) -> Judgement:
        return Judgement("error", reason, own + [m.to_dict() for m in extra])

    header_errors = [m for m in msgs if m.severity == "error" and m.pos.line <= cf.header_end + 2]
    if header_errors:
        return error(f"the header does not elaborate: {_short(header_errors[0].data)}", header_errors[:3])
    ref_errors = [m for m in _in(msgs, slot.ref) if m.severity == "error"]
    if ref_errors:
        return error(f"the formal_statement does not elaborate: {_short(ref_errors[0].data)}", ref_errors[:3])
    pre = _at(msgs, slot.precheck)
    if any(m.severity == "error" for m in pre):
        return error(f"the name `{slot.target}` already exists before the candidate (header or an open namespace)")
    if not pre:
        return error("lean gave no answer to the checks before the candidate (not a working `lean --json`?)")
    cand_msgs = _in(msgs, slot.cand)
    cand_errors = [m for m in cand_msgs if m.severity == "error"]
    if cand_errors:
        return rejected(f"Lean error: {_short(cand_errors[0].data)}")
    if any(_is_sorry(m) for m in cand_msgs):
        return rejected("uses sorry")
    if any("'exit'" in m.data or "`exit`" in m.data for m in cand_msgs):
        return rejected("the file was cut short (#exit): the checks after the candidate did not run")
    end_errors = [m for m in _at(msgs, slot.end) if m.severity == "error"]
    if end_errors:
        return rejected(f"the candidate changed the scope structure (`end` failed): {_short(end_errors[0].data)}")
    sentinel_seen = _info(msgs, cf.sentinel) is not None
    ref_sig = _info(msgs, slot.ref_check)
    if not sentinel_seen or ref_sig is None:
        late = [m for m in msgs if m.severity == "error" and m.pos.line > slot.cand[1]]
        why = f" ({_short(late[0].data, 120)})" if late else ""
        return rejected("the file was cut short (#exit or an unterminated comment?): "
                        f"the checks after the candidate did not run{why}")
    target_errors = [m for m in _at(msgs, slot.target_check) if m.severity == "error"]
    target_sig = _info(msgs, slot.target_check)
    if target_errors or target_sig is None:
        detail = _short(target_errors[0].data, 160) if target_errors else "no output"
        return rejected(f"the candidate does not declare `{slot.target}` ({detail})")
    kind_data = _info(msgs, slot.kind_check) or ""
    kind = declaration_kind(kind_data)
    if "theorem" not in kind or kind & {"unsafe", "partial"}:
        shown = " ".join(sorted(kind)) or _short(kind_data, 80)
        return rejected(f"`{slot.target}` is not a theorem (it is: {shown})")
    want, got = signature(ref_sig), signature(target_sig)
    if want is None or got is None:
        return error(f"could not read the types: {_short(ref_sig, 120)} / {_short(target_sig, 120)}")
    if "⋯" in want[1] or "⋯" in got[1]:
        return rejected("the statement's type is too large to compare in full (pretty-printer elided it)")
    if want[0] != got[0] or not same_up_to_binder_names(want[1], got[1]):
        return rejected(f"the type of `{slot.target}` differs from the formal_statement: "
                        f"expected `{_short(want[1], 200)}`{_univ(want[0])}, got `{_short(got[1], 200)}`{_univ(got[0])}")
    axioms = axioms_of(_info(msgs, slot.axioms_check) or "")
    if axioms is None:
        return rejected(f"`#print axioms {slot.target}` gave no readable answer")
    if "sorryAx" in axioms:
        return rejected("uses sorry (sorryAx in its axioms)")
    bad = [a for a in axioms if a not in allowed_axioms]
    if bad:
        return rejected(f"depends on axioms that are not allowed: {', '.join(bad)}")
    forged = [a for a in axioms if a not in cf.probes or _info(msgs, cf.probes[a]) is None]
    if forged:
        return rejected(f"depends on `{', '.join(forged)}`, which did not exist before the candidate "
                        "(an axiom it declared under an allowed name)")
    # errors in other items' parts (and in the axiom probes) are theirs; anything else counts
    stray = [m for m in msgs if m.severity == "error"
             and not any(a <= m.pos.line <= b for (a, b, k) in cf.regions if k != index)]
    if stray:
        return rejected(f"Lean error outside the candidate: {_short(stray[0].data)}")
    if not batch and run.returncode != 0 and not any(m.severity == "error" for m in msgs):
        return rejected(f"lean exited with code {run.returncode} without saying why")
    return Judgement("proved", "proved", own)


def _univ(levels: str) -> str:
    return f" with universes {{{levels}}}" if levels else ""
