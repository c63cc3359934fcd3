"""Evaluation datasets: every source of theorems becomes a list of `Theorem`s.

    load_dataset("minif2f:valid")              the JSONL form in ../shared/data/minif2f (or $MINIF2F_DIR)
    load_dataset("minif2f-lean:DIR[:valid]")   a checkout of a miniF2F-lean4 repository (its .lean files)
    load_dataset("leandojo:FILE.json")         a LeanDojo benchmark file (a JSON list of traced theorems)
    load_dataset("leandojo:FILE.jsonl[:test]") LeanDojo-based miniF2F rows {full_name, statement, url, commit, ...}
    load_dataset("proofnet:FILE[:valid]")      ProofNet in DeepSeek-Prover's JSONL form (header, informal_prefix, ...)
    load_dataset("putnambench:DIR")            a PutnamBench checkout (its lean4/src/*.lean, one problem a file)
    load_dataset("logic:valid")                the real-Lean logic benchmark (eval.logic.load_split)
    load_dataset("logic:train+extra")          splits joined by '+' (extra, extra_varied: extra training theorems)
    load_dataset("scripted:WORLD.json")        the theorems of a scripted world (tests, demos)
    load_dataset("jsonl:FILE[:test]") or a path   any JSONL of theorems ({"name", "header", "formal_statement"});
                                               DeepSeek's/Goedel's minif2f.jsonl: one split by its `split` field

Data is read where it lies, never copied into the repository.  A bad file or row raises
ValueError (or FileNotFoundError) naming the file and the row.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.jsonl import load_theorems, read_json
from core.types import Theorem
from lean_env.verify_text import Declared, mask, only_modifiers, rename_declaration, starts_declaration

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
MINIF2F_SPLITS = ("valid", "test")
LOGIC_SPLITS = ("train", "valid", "test", "extra", "extra_varied")  # extra*: training theorems beside the splits


# ---------------------------------------------------------------- entry point

def load_dataset(spec: str) -> list[Theorem]:
    """The theorems named by `spec` (see the module docstring), in a stable order, names unique."""
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in _LOADERS:
        return _load_path(Path(spec))
    if not arg:
        raise ValueError(f"dataset {spec!r}: nothing after '{kind}:'")
    return _LOADERS[kind](arg)


def minif2f_dir() -> Path:
    """$MINIF2F_DIR, else $PROVER_SHARED/data/minif2f, else ../shared/data/minif2f next to the repo."""
    if os.environ.get("MINIF2F_DIR"):
        return Path(os.environ["MINIF2F_DIR"])
    shared = Path(os.environ.get("PROVER_SHARED", REPO.parent / "shared"))
    return shared / "data" / "minif2f"


def load_minif2f(split: str) -> list[Theorem]:
    if split not in MINIF2F_SPLITS:
        raise ValueError(f"minif2f split must be one of {', '.join(MINIF2F_SPLITS)}, got {split!r}")
    path = minif2f_dir() / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"miniF2F {split} split not found at {path} (set MINIF2F_DIR to its folder)")
    return load_jsonl(path)


def load_jsonl(path: str | Path) -> list[Theorem]:
    theorems = load_theorems(path)
    _check_unique(theorems, str(path))
    return theorems


def _load_jsonl_spec(arg: str) -> list[Theorem]:
    """`jsonl:FILE`, or `jsonl:FILE:valid|test` for the rows of one split (their `split` field), as in
    DeepSeek-Prover's and Goedel-Prover's `datasets/minif2f.jsonl` (both splits in one file)."""
    path, split = _path_and_split(arg)
    theorems = load_jsonl(path)
    if split is None:
        return theorems
    theorems = [t for t in theorems if t.extra.get("split") == split]
    if not theorems:
        raise ValueError(f"{path}: no theorem has split {split!r}")
    return theorems


def load_logic(split: str) -> list[Theorem]:
    """One split, or several joined by '+' (`logic:train+extra`), in that order."""
    parts = split.split("+")
    for part in parts:
        if part not in LOGIC_SPLITS:
            raise ValueError(f"logic split must be one of {', '.join(LOGIC_SPLITS)} (or several joined by '+'), "
                             f"got {part!r}")
    from eval.logic import load_split

    theorems = [t for part in parts for t in load_split(part)]
    if len(parts) > 1:
        _check_unique(theorems, f"logic:{split}")
    return theorems


def load_scripted(path: str) -> list[Theorem]:
    from doubles.scripted import ScriptedWorld

    theorems = [t.theorem() for t in ScriptedWorld.load(path).theorems]
    _check_unique(theorems, path)
    return theorems


def _load_path(p: Path) -> list[Theorem]:
    if p.is_dir():
        return load_minif2f_lean(p)
    if not p.exists():
        raise FileNotFoundError(
            f"dataset {str(p)!r} is neither a known spec (minif2f:, minif2f-lean:, leandojo:, proofnet:, "
            "putnambench:, logic:, jsonl:, scripted:) "
            "nor an existing file or folder")
    if p.suffix == ".json":
        return load_leandojo(p)
    if p.suffix == ".lean":
        theorems = parse_lean_file(p)
        _check_unique(theorems, str(p))
        return theorems
    return load_jsonl(p)


def _load_minif2f_lean_spec(arg: str) -> list[Theorem]:
    root, sep, split = arg.rpartition(":")
    if sep and split.lower() in MINIF2F_SPLITS:
        return load_minif2f_lean(Path(root), split=split.lower())
    return load_minif2f_lean(Path(arg))


def _check_unique(theorems: Iterable[Theorem], where: str) -> None:
    seen: set[str] = set()
    for t in theorems:
        if t.name in seen:
            raise ValueError(f"{where}: theorem name {t.name!r} appears more than once")
        seen.add(t.name)


# ---------------------------------------------------------------- Lean source files

# A new top-level command starts at column 0 with one of these words (or an attribute / doc comment).
_COMMAND = re.compile(
    r"^(?:@\[|/--|#|(?:theorem|lemma|example|def|abbrev|instance|structure|inductive|class|axiom|opaque|"
    r"end|namespace|section|open|set_option|variable|universe|noncomputable|private|protected|attribute|"
    r"macro|syntax|notation|local|scoped|import|mutual)\b)",
    re.MULTILINE,
)
_OPEN = "([{⟨⦃"
_CLOSE = ")]}⟩⦄"


def _top_level_assign(blank: str, start: int, end: int) -> int:
    """Index of the first `:=` at bracket depth 0 in blank[start:end], or -1."""
    depth = 0
    for i in range(start, end):
        c = blank[i]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        elif c == ":" and depth == 0 and blank.startswith(":=", i):
            return i
    return -1


def _theorem_chunks(blank: str) -> list[tuple[int, int, Declared]]:
    """(start, end, declaration) of every theorem/lemma command of a masked file: the text from a
    command start at column 0 to the next one.  Attribute lines above a theorem belong to it."""
    starts = [m.start() for m in _COMMAND.finditer(blank)] + [len(blank)]
    out: list[tuple[int, int, Declared]] = []
    begin: int | None = None
    for here, nxt in zip(starts, starts[1:], strict=False):
        begin = here if begin is None else begin
        piece = blank[begin:nxt]
        if only_modifiers(piece):  # `@[simp]` on a line of its own: part of the next command
            continue
        decl = starts_declaration(piece)
        if decl is not None:
            out.append((begin, nxt, decl))
        begin = None
    return out


def _clean_header(text: str) -> str:
    """A header chunk without comments and without runs of blank lines."""
    lines = [ln.rstrip() for ln in mask(text, keep_strings=True).text.splitlines()]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def parse_lean_source(text: str, where: str, split: str | None = None) -> list[Theorem]:
    """The theorems stated in one Lean file.  Each `Theorem.header` is everything the file says before
    it (imports, options, opens), comments dropped; `formal_statement` ends in `:= by` (or `:=` for a
    term proof); a proof other than `sorry` is kept in `extra["proof"]`."""
    blank = mask(text).text  # comments and literals blanked, offsets kept
    theorems: list[Theorem] = []
    header = ""
    cursor = 0
    for begin, end, decl in _theorem_chunks(blank):
        line = text.count("\n", 0, begin) + 1
        chunk = _clean_header(text[cursor:begin])
        lines = chunk.rstrip("\n").splitlines()
        if lines and lines[-1].endswith(" in"):  # `open Foo in` scopes this theorem only
            header += "\n".join(lines[:-1]) + "\n" if lines[:-1] else ""
            this_header = header + lines[-1] + "\n"
        else:
            header += chunk
            this_header = header
        cursor = end
        assign = _top_level_assign(blank, begin, end)
        if assign < 0:
            raise ValueError(f"{where}:{line}: theorem {decl.name!r} has no top-level ':=' "
                             "(only `theorem NAME ... := proof` declarations are supported)")
        # Mathlib's `lemma` is `theorem` to Lean core
        statement = rename_declaration(text[begin:assign].rstrip(), decl.name, keyword="theorem")
        proof = text[assign + 2:end].strip()
        tactic = proof.startswith("by") and (len(proof) == 2 or not (proof[2].isalnum() or proof[2] == "_"))
        formal = statement + (" := by" if tactic else " :=")
        body = proof[2:].strip() if tactic else proof
        extra: dict[str, Any] = {"source": f"{where}:{line}"}
        if split:
            extra["split"] = split
        if body and body != "sorry":
            extra["proof"] = body
        theorems.append(Theorem(decl.name, this_header, formal, extra))
    return theorems


def parse_lean_file(path: str | Path, split: str | None = None) -> list[Theorem]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 text ({e.reason})") from None
    return parse_lean_source(text, str(p), split=split or _split_of(p))


def _split_of(p: Path) -> str | None:
    for part in reversed(p.with_suffix("").parts):
        if part.lower() in MINIF2F_SPLITS:
            return part.lower()
    return None


def _lean_files(root: Path) -> list[Path]:
    skip = {"lake-packages", "build", ".lake"}
    return sorted(f for f in root.rglob("*.lean")
                  if not any(part in skip or part.startswith(".") for part in f.relative_to(root).parts[:-1]))


def load_minif2f_lean(root: str | Path, split: str | None = None) -> list[Theorem]:
    """Every theorem in the .lean files under `root` (a miniF2F-lean4 checkout or any folder of Lean
    files); `split` keeps only the files under a `Valid`/`Test` folder or named so.  A theorem stated
    twice (one combined file and one file per theorem) is kept once if both statements agree."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"miniF2F-lean folder not found: {root}")
    by_name: dict[str, Theorem] = {}
    for f in _lean_files(root):
        file_split = _split_of(f.relative_to(root))
        if split and file_split != split:
            continue
        for t in parse_lean_file(f, split=file_split):
            old = by_name.get(t.name)
            if old is None:
                by_name[t.name] = t
            elif _norm(old.formal_statement) != _norm(t.formal_statement):
                raise ValueError(f"{t.extra['source']}: theorem {t.name!r} is also stated, differently, at "
                                 f"{old.extra['source']} (pass a subfolder holding one copy)")
    if not by_name:
        raise ValueError(f"{root}: no theorems found in its .lean files" + (f" for split {split!r}" if split else ""))
    _add_dojo_identity(root, list(by_name.values()))
    return list(by_name.values())


def _add_dojo_identity(root: Path, theorems: list[Theorem]) -> None:
    """In a git checkout with an `origin` remote, each theorem gets what a LeanDojo env opens it by
    (`url`, `commit`, `file_path` relative to the checkout, `full_name`), so `--env dojo` can run a
    `.lean` checkout such as lean-dojo-mew directly."""
    from eval.dataset_identity import git_commit, git_remote

    remote = git_remote(root)
    commit = git_commit(root)
    if remote is None or commit is None:
        return
    top, url = remote
    for t in theorems:
        file = Path(str(t.extra.get("source", "")).rsplit(":", 1)[0]).resolve()
        try:
            rel = file.relative_to(top)
        except ValueError:
            continue
        t.extra.setdefault("url", url)
        t.extra.setdefault("commit", commit)
        t.extra.setdefault("file_path", rel.as_posix())
        t.extra.setdefault("full_name", t.name)


def _norm(s: str) -> str:
    return " ".join(s.split())


# ---------------------------------------------------------------- LeanDojo benchmark

def load_leandojo(path: str | Path) -> list[Theorem]:
    """A LeanDojo benchmark file (e.g. leandojo_benchmark_4/random/test.json): a JSON list of traced
    theorems, each with url, commit, file_path, full_name, start, end and traced_tactics
    [{tactic, annotated_tactic, state_before, state_after}].  The statement is the row's
    `theorem_statement` when present; otherwise it is rebuilt from the first tactic's `state_before`
    (hypotheses become binders), marked `extra["statement_from"] = "state_before"`.  The LeanDojo
    identity (url, commit, file_path, full_name) is kept in `extra` for a Dojo environment, and the
    traced tactics as `extra["reference_proof"]`."""
    p, split = _path_and_split(str(path))
    if p.suffix == ".jsonl":
        return _leandojo_jsonl(p, split)
    data = read_json(p, "LeanDojo benchmark file")
    if not isinstance(data, list):
        raise ValueError(f"{p}: a LeanDojo benchmark file is a JSON list of theorems, got {type(data).__name__}")
    theorems = [_leandojo_theorem(row, f"{p}[{i}]") for i, row in enumerate(data)]
    _check_unique(theorems, str(p))
    return theorems


def _leandojo_jsonl(p: Path, split: str | None) -> list[Theorem]:
    """The JSONL form the LeanDojo-based miniF2F evals use (InternLM's `minif2f-lean4.7.0.jsonl`,
    Lean-STaR's `minif2f.jsonl`): one `{full_name, statement, url, commit, file_path, split}` a line,
    the statement without `:= by`; `split` keeps one split."""
    from core.jsonl import read_jsonl

    theorems = []
    for i, row in enumerate(read_jsonl(p), 1):
        t = _leandojo_theorem(row, f"{p}:{i}")
        if isinstance(row, dict) and "split" in row:
            t.extra["split"] = row["split"]
        if split is None or t.extra.get("split") == split:
            theorems.append(t)
    if not theorems:
        raise ValueError(f"{p}: no theorems" + (f" with split {split!r}" if split else ""))
    _check_unique(theorems, str(p))
    return theorems


def _leandojo_theorem(row: Any, where: str) -> Theorem:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("full_name", "file_path"):
        if not isinstance(row.get(key), str) or not row[key]:
            raise ValueError(f"{where}: missing or empty string field {key!r}")
    tactics = row.get("traced_tactics", [])
    if not isinstance(tactics, list) or not all(
            isinstance(t, dict) and isinstance(t.get("tactic"), str) and isinstance(t.get("state_before"), str)
            for t in tactics):
        raise ValueError(f"{where}: 'traced_tactics' must be a list of objects with string "
                         "'tactic' and 'state_before'")
    name = row["full_name"]
    extra: dict[str, Any] = {k: row[k] for k in ("url", "commit", "file_path", "full_name", "start", "end")
                             if k in row}
    extra["reference_proof"] = [t["tactic"] for t in tactics]
    statement = row.get("theorem_statement") or row.get("statement")
    if isinstance(statement, str) and statement.strip():
        formal = _as_tactic_statement(statement, name)
    elif tactics:
        formal = statement_from_state(name, tactics[0]["state_before"], where)
        extra["statement_from"] = "state_before"
    else:
        raise ValueError(f"{where}: no 'theorem_statement' and no traced tactic to read the goal from")
    return Theorem(name, "", formal, extra)


def _as_tactic_statement(statement: str, name: str) -> str:
    s = statement.strip()
    s = re.sub(r":=\s*(by)?\s*(sorry)?\s*$", "", s).rstrip()
    if starts_declaration(s) is None:
        s = f"theorem {name} {s}" if s.startswith(("(", "{", "[", "⦃", ":")) else f"theorem {name} : {s}"
    return s + " := by"


def statement_from_state(name: str, state: str, where: str = "state") -> str:
    """`theorem NAME (h : T) ... : goal := by` from a one-goal pretty-printed state
    ("a b : T\\nh : P a\\n⊢ goal").  Instance hypotheses with inaccessible names become `[T]`."""
    if "⊢" not in state:
        raise ValueError(f"{where}: state_before has no goal (no '⊢')")
    hyps_text, _, goal = state.partition("⊢")
    if "⊢" in goal:
        raise ValueError(f"{where}: state_before has several goals; cannot rebuild one statement")
    binders: list[str] = []
    for line in _hypothesis_lines(hyps_text):
        names, sep, typ = line.partition(" : ")
        if not sep:
            raise ValueError(f"{where}: cannot read hypothesis line {line!r}")
        if "✝" in names:
            binders.append(f"[{typ.strip()}]" if names.strip().startswith("inst") else f"(_ : {typ.strip()})")
        else:
            binders.append(f"({names.strip()} : {typ.strip()})")
    short = name
    goal_text = " ".join(goal.split())
    return f"theorem {short}" + "".join(" " + b for b in binders) + f" : {goal_text} := by"


def _hypothesis_lines(text: str) -> list[str]:
    """Hypothesis lines of a state; continuation lines (indented) are joined to the previous one."""
    out: list[str] = []
    for ln in text.splitlines():
        if not ln.strip():
            continue
        if ln.startswith((" ", "\t")) and out:
            out[-1] += " " + ln.strip()
        else:
            out.append(ln.strip())
    return out


# ---------------------------------------------------------------- ProofNet, PutnamBench

def as_tactic_statement(t: Theorem) -> Theorem:
    """`t` with a statement ending in `:=` (a term proof) turned into `:= by` (a tactic proof), the
    text as given kept in `extra["statement_as_given"]`; other theorems unchanged."""
    s = t.formal_statement.rstrip()
    if not s.endswith(":=") or s.endswith(":= by"):
        return t
    return Theorem(t.name, t.header, s + " by", {**t.extra, "statement_as_given": t.formal_statement})


def _path_and_split(arg: str) -> tuple[Path, str | None]:
    root, sep, split = arg.rpartition(":")
    if sep and split.lower() in MINIF2F_SPLITS:
        return Path(root), split.lower()
    return Path(arg), None


def load_proofnet(arg: str) -> list[Theorem]:
    """ProofNet (Lean 4) as DeepSeek-Prover-V1.5 ships it (datasets/proofnet.jsonl: name, split,
    informal_prefix, formal_statement ending in `:=`, goal, header), optionally one split
    (`FILE:valid`, `FILE:test`).  Statements become `:= by` (`as_tactic_statement`)."""
    path, split = _path_and_split(arg)
    theorems = [as_tactic_statement(t) for t in load_jsonl(path)]
    if split:
        theorems = [t for t in theorems if t.extra.get("split") == split]
        if not theorems:
            raise ValueError(f"{path}: no theorem has split {split!r}")
    return theorems


def load_putnambench(arg: str) -> list[Theorem]:
    """A PutnamBench checkout (or its `lean4/src` folder): one problem a file, `theorem ... := sorry`
    (made `:= by`, `as_tactic_statement`).  A problem whose header states its answer as
    `abbrev ..._solution := sorry` is marked `extra["needs_answer"] = True`: the answer must be filled in
    before any proof of it can pass the check (the check refuses `sorry`), which this project does not do."""
    root = Path(arg).expanduser()
    src = root / "lean4" / "src" if (root / "lean4" / "src").is_dir() else root
    if not src.is_dir():
        raise FileNotFoundError(f"PutnamBench folder not found: {root}")
    files = sorted(src.glob("*.lean"))
    if not files:
        raise ValueError(f"{src}: no .lean files (expected PutnamBench's lean4/src)")
    out: list[Theorem] = []
    for f in files:
        for t in parse_lean_file(f):
            extra = {**t.extra, "needs_answer": bool(re.search(r"\bsorry\b", mask(t.header).text))}
            out.append(as_tactic_statement(Theorem(t.name, t.header, t.formal_statement, extra)))
    _check_unique(out, str(src))
    return out


_LOADERS = {
    "minif2f": load_minif2f,
    "minif2f-lean": _load_minif2f_lean_spec,
    "leandojo": load_leandojo,
    "proofnet": load_proofnet,
    "putnambench": load_putnambench,
    "logic": load_logic,
    "jsonl": _load_jsonl_spec,
    "scripted": load_scripted,
}
