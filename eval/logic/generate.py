"""The seeded generator of the logic benchmark and the builder of its train/valid/test splits.

    python -m eval.logic.generate            # rewrites eval/logic/{train,valid,test}.jsonl (seed 0)
    python -m eval.logic.generate --extra    # rewrites eval/logic/train_extra.jsonl (seed 1)
    python -m eval.logic.generate --varied   # rewrites eval/logic/train_extra_varied.jsonl (seed 2)

Theorems come from the hand-written classics (`handwritten.py`) and from three random
families (propositional, first-order over one type `α`, equality chains), each proved by
the small prover of `formula.py`.  Statements are deduplicated up to renaming of their
variables before splitting, so the splits share no statement.  Whether each reference proof
is accepted is Lean's call: `tests/test_logic_benchmark.py` checks every one.

The extra training theorems (`build_extra`, `train_extra.jsonl`, the split "extra") come from the
same families with another seed; none of their statements, up to renaming (`canonical`), is one of
the three splits, so valid and test stay unseen.  Their rows leave out the header (the prelude,
which `eval.logic.load_split("extra")` puts back): 3,640 copies of it would be 12 MB.

The varied extra theorems (`python -m eval.logic.generate --varied`, `train_extra_varied.jsonl`, the
split "extra_varied") are the propositional and first-order families written the way people write
statements: hypotheses named by convention (`hp`, `hnp`, `hpq`, `ha`, `h`, `h'`) as well as `h1`,
`h2`, ..., and formulas that may contain `True` and `False`.  The generated families alone only ever
name hypotheses `h1`, `h2`, ... and never use the two constants, so a model trained on them alone
meets a statement like `(hp : p) (hnp : Not p) : q` for the first time in valid.  The same exclusion
holds: no statement of the splits or of "extra", up to renaming.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eval.logic.formula import Formula, lean, prove
from eval.logic.handwritten import HANDWRITTEN

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PRELUDE_PATH = HERE / "prelude.lean"
EXTRA_PATH = HERE / "train_extra.jsonl"
EXTRA_SEED = 1
EXTRA_COUNTS = {"prop": 2400, "fo": 1200, "eq": 80}  # eq: 40 distinct statements exist beside the splits
VARIED_PATH = HERE / "train_extra_varied.jsonl"
VARIED_SEED = 2
VARIED_COUNTS = {"prop_varied": 1600, "fo_varied": 800}
ATOMS = ("p", "q", "r", "s")


@dataclass(frozen=True)
class Entry:
    name: str
    statement: str  # after `theorem NAME `, ending in `:=`
    proof: tuple[str, ...]
    source: str  # "handwritten" | "prop" | "fo" | "eq"

    def row(self, header: str, split: str) -> dict:
        return {
            "name": self.name,
            "header": header,
            "formal_statement": f"theorem {self.name} {self.statement}",
            "split": split,
            "reference_proof": list(self.proof),
            "difficulty": len(self.proof),
            "source": self.source,
        }


def canonical(statement: str) -> str:
    """The statement with its bound names renamed in order of appearance (for deduplication)."""
    names: dict[str, str] = {}

    def rename(m: re.Match[str]) -> str:
        w = m.group(0)
        if w in ("Prop", "Type", "And", "Or", "Not", "Iff", "Eq", "Exists", "True", "False", "fun", "α") or "." in w:
            return w
        return names.setdefault(w, f"v{len(names)}")

    return re.sub(r"[A-Za-z_][\w.']*", rename, " ".join(statement.split()))


def _constant(rng: random.Random, constants: float) -> Formula | None:
    """With probability `constants`, a leaf that is `True` or `False` instead of an atom."""
    if constants and rng.random() < constants:
        return ("true",) if rng.random() < 0.4 else ("false",)
    return None


def _random_prop(rng: random.Random, atoms: tuple[str, ...], depth: int, constants: float = 0.0) -> Formula:
    if depth <= 0 or rng.random() < 0.25:
        return _constant(rng, constants) or ("atom", rng.choice(atoms))
    op = rng.choices(["and", "or", "imp", "not", "iff"], weights=[3, 3, 4, 1.5, 0.7])[0]
    if op == "not":
        return ("not", _random_prop(rng, atoms, depth - 1, constants))
    return (op, _random_prop(rng, atoms, depth - 1, constants), _random_prop(rng, atoms, depth - 1, constants))


def _random_fo(rng: random.Random, preds: tuple[str, ...], scope: tuple[str, ...], depth: int,
               constants: float = 0.0) -> Formula:
    if depth <= 0 or (scope and rng.random() < 0.3):
        if not scope:
            scope = ("a",)
        return _constant(rng, constants) or ("pred", rng.choice(preds), rng.choice(scope))
    op = rng.choices(["and", "or", "imp", "not", "ex", "all"], weights=[3, 2, 3, 1, 2.5, 2.5])[0]
    if op in ("ex", "all"):
        v = "xyz"[min(len([s for s in scope if s in "xyz"]), 2)]
        return (op, v, _random_fo(rng, preds, (*scope, v), depth - 1, constants))
    if op == "not":
        return ("not", _random_fo(rng, preds, scope, depth - 1, constants))
    return (op, _random_fo(rng, preds, scope, depth - 1, constants),
            _random_fo(rng, preds, scope, depth - 1, constants))


def _letters(f: Formula) -> list[str]:
    """The atoms and individuals of a formula, in order of appearance, each once (bound ones left out)."""
    out: list[str] = []

    def walk(g: Formula, bound: frozenset[str]) -> None:
        tag = g[0]
        if tag == "atom":
            names = [g[1]]
        elif tag == "pred":
            names = [g[2]]
        elif tag == "eq":
            names = [g[1], g[2]]
        else:
            names = []
        out.extend(n for n in names if n not in bound and n not in out)
        if tag in ("ex", "all"):
            walk(g[2], bound | {g[1]})
        else:
            for x in g[1:]:
                if isinstance(x, tuple):
                    walk(x, bound)

    walk(f, frozenset())
    return out


def conventional_name(f: Formula) -> str:
    """The name people give a hypothesis of this formula: `h` plus `n` for a negation, then its first
    two atoms or individuals (`hp`, `hnp`, `hpq`, `hab`); `h` when it has none."""
    return "h" + ("n" if f[0] == "not" else "") + "".join(_letters(f)[:2])


def varied_names(rng: random.Random, formulas: list[Formula]) -> list[str]:
    """Hypothesis names in one of three styles, chosen per theorem: by convention (`hp`, `hnp`, ...),
    plain (`h`, `h'`, `h''`) or numbered (`h1`, `h2`, ...).  Names never repeat; a repeated
    conventional name gets a prime."""
    style = rng.choices(["conventional", "plain", "numbered"], weights=[5, 3, 2])[0]
    names: list[str] = []
    for i, f in enumerate(formulas):
        name = conventional_name(f) if style == "conventional" else "h" + "'" * i if style == "plain" else f"h{i + 1}"
        while name in names:
            name += "'"
        names.append(name)
    return names


def _atoms_of(f: Formula, tag: str, idx: int) -> set[str]:
    if f[0] == tag:
        return {f[idx]}
    out: set[str] = set()
    for x in f[1:]:
        if isinstance(x, tuple):
            out |= _atoms_of(x, tag, idx)
    return out


def _binders(names: list[str], typ: str) -> str:
    return f"({' '.join(names)} : {typ}) " if names else ""


def _prop_candidate(rng: random.Random) -> tuple[str, list[tuple[str, Formula]], Formula, list[str]]:
    atoms = ATOMS[: rng.choice([2, 3, 3, 4])]
    hyps = [(f"h{i + 1}", _random_prop(rng, atoms, rng.choice([1, 2, 2, 3]))) for i in range(rng.choice([0, 1, 2, 3]))]
    goal = _random_prop(rng, atoms, rng.choice([1, 2, 3, 3, 4]))
    used = sorted(set().union(*(_atoms_of(f, "atom", 1) for _, f in hyps), _atoms_of(goal, "atom", 1)))
    hb = "".join(f"({n} : {lean(f)}) " for n, f in hyps)
    return f"{_binders(used, 'Prop')}{hb}: {lean(goal)} :=", hyps, goal, []


def _fo_candidate(rng: random.Random) -> tuple[str, list[tuple[str, Formula]], Formula, list[str]]:
    preds = ("P", "Q", "R")[: rng.choice([2, 2, 3])]
    consts = ["a", "b"][: rng.choice([1, 1, 2])]
    hyps = [(f"h{i + 1}", _random_fo(rng, preds, tuple(consts), rng.choice([1, 2, 3])))
            for i in range(rng.choice([1, 1, 2, 3]))]
    goal = _random_fo(rng, preds, tuple(consts), rng.choice([1, 2, 3]))
    fs = [f for _, f in hyps] + [goal]
    used_preds = sorted(set().union(*(_atoms_of(f, "pred", 1) for f in fs)))
    used_consts = [c for c in consts if any(c in _atoms_of(f, "pred", 2) for f in fs)]
    hb = "".join(f"({n} : {lean(f)}) " for n, f in hyps)
    stmt = f"(α : Type) {_binders(used_preds, 'α → Prop')}{_binders(used_consts, 'α')}{hb}: {lean(goal)} :="
    return stmt, hyps, goal, used_consts


def _eq_candidate(rng: random.Random) -> tuple[str, list[tuple[str, Formula]], Formula, list[str]]:
    n = rng.randint(2, 6)
    pts = ["a", "b", "c", "d", "e", "f", "g"][:n]
    hyps = []
    for i in range(n - 1):
        x, y = pts[i], pts[i + 1]
        hyps.append((f"h{i + 1}", ("eq", x, y) if rng.random() < 0.6 else ("eq", y, x)))
    rng.shuffle(hyps)
    hyps = [(f"h{i + 1}", f) for i, (_, f) in enumerate(hyps)]
    if rng.random() < 0.4:
        hyps.append((f"h{n}", ("pred", "P", pts[0])))
        goal: Formula = ("pred", "P", pts[-1])
        pb = "(P : α → Prop) "
    else:
        goal = ("eq", pts[0], pts[-1]) if rng.random() < 0.7 else ("eq", pts[-1], pts[0])
        pb = ""
    hb = "".join(f"({h} : {lean(f)}) " for h, f in hyps)
    return f"(α : Type) {pb}({' '.join(pts)} : α) {hb}: {lean(goal)} :=", hyps, goal, pts


def _renamed(rng: random.Random, stmt: str, hyps: list[tuple[str, Formula]]) -> tuple[str, list[tuple[str, Formula]]]:
    """The statement with its hypotheses renamed by `varied_names` (binders `(hN : ...)` only)."""
    names = varied_names(rng, [f for _, f in hyps])
    for (old, f), new in zip(hyps, names, strict=True):
        stmt = stmt.replace(f"({old} : {lean(f)}) ", f"({new} : {lean(f)}) ", 1)
    return stmt, [(new, f) for new, (_, f) in zip(names, hyps, strict=True)]


def _prop_varied_candidate(rng: random.Random) -> tuple[str, list[tuple[str, Formula]], Formula, list[str]]:
    atoms = ATOMS[: rng.choice([1, 2, 3, 3, 4])]
    hyps = [(f"h{i + 1}", _random_prop(rng, atoms, rng.choice([0, 1, 2, 2, 3]), 0.1))
            for i in range(rng.choice([0, 1, 1, 2, 2, 3]))]
    goal = _random_prop(rng, atoms, rng.choice([0, 1, 2, 3, 3]), 0.1)
    used = sorted(set().union(*(_atoms_of(f, "atom", 1) for _, f in hyps), _atoms_of(goal, "atom", 1))) or ["p"]
    hb = "".join(f"({n} : {lean(f)}) " for n, f in hyps)
    stmt, hyps = _renamed(rng, f"{_binders(used, 'Prop')}{hb}: {lean(goal)} :=", hyps)
    return stmt, hyps, goal, []


def _fo_varied_candidate(rng: random.Random) -> tuple[str, list[tuple[str, Formula]], Formula, list[str]]:
    preds = ("P", "Q", "R")[: rng.choice([1, 2, 2, 3])]
    consts = ["a", "b"][: rng.choice([1, 1, 2])]
    hyps = [(f"h{i + 1}", _random_fo(rng, preds, tuple(consts), rng.choice([0, 1, 2, 3]), 0.08))
            for i in range(rng.choice([0, 1, 1, 2, 3]))]
    goal = _random_fo(rng, preds, tuple(consts), rng.choice([1, 2, 3]), 0.08)
    fs = [f for _, f in hyps] + [goal]
    used_preds = sorted(set().union(*(_atoms_of(f, "pred", 1) for f in fs))) or ["P"]
    used_consts = [c for c in consts if any(c in _atoms_of(f, "pred", 2) for f in fs)]
    hb = "".join(f"({n} : {lean(f)}) " for n, f in hyps)
    stmt = f"(α : Type) {_binders(used_preds, 'α → Prop')}{_binders(used_consts, 'α')}{hb}: {lean(goal)} :="
    stmt, hyps = _renamed(rng, stmt, hyps)
    return stmt, hyps, goal, used_consts


FAMILIES = {"prop": _prop_candidate, "fo": _fo_candidate, "eq": _eq_candidate,
            "prop_varied": _prop_varied_candidate, "fo_varied": _fo_varied_candidate}


def generate(seed: int, counts: dict[str, int], seen: set[str] | None = None,
             max_tries: int = 60_000) -> Iterator[Entry]:
    """Yield up to counts[family] new provable theorems per family, spread over proof sizes."""
    rng = random.Random(seed)
    seen = set() if seen is None else seen
    for family, want in counts.items():
        make = FAMILIES[family]
        per_size: Counter[int] = Counter()
        cap = max(3, want // 9)  # no proof size takes more than ~1/9 of a family
        got = 0
        for _ in range(max_tries):
            if got >= want:
                break
            stmt, hyps, goal, inds = make(rng)
            key = canonical(stmt)
            if key in seen or len(stmt) > 400:
                continue
            proof = prove(hyps, goal, inds, depth=9, max_nodes=4000)
            if proof is None or len(proof) > 24 or per_size[min(len(proof), 12)] >= cap:
                continue
            if _unused_hypothesis(family, hyps, proof) and rng.random() < 0.7:
                continue  # mostly keep theorems whose hypotheses all matter
            seen.add(key)
            per_size[min(len(proof), 12)] += 1
            got += 1
            yield Entry(f"logic_{family}_{got:03d}", stmt, tuple(proof), family)
        if got < want:
            log.warning("family %s: only %d of %d theorems after %d tries", family, got, want, max_tries)


def _unused_hypothesis(family: str, hyps: list[tuple[str, Formula]], proof: list[str]) -> bool:
    """Whether some hypothesis is not mentioned by the proof.  The first families test substrings (their
    names are `h1`, `h2`, ...; kept as is, so that their files regenerate unchanged); the varied ones
    test whole names, since `h` is a substring of every proof."""
    if not family.endswith("_varied"):
        return any(n not in " ".join(proof) for n, _ in hyps)
    mentioned = set(re.findall(r"[\w']+", " ".join(proof)))
    return any(n not in mentioned for n, _ in hyps)


def build(seed: int = 0, counts: dict[str, int] | None = None) -> dict[str, list[Entry]]:
    """All entries, deduplicated and split (stratified by proof size) into train/valid/test."""
    counts = counts or {"prop": 230, "fo": 110, "eq": 18}
    seen: set[str] = set()
    entries = []
    for name, stmt, proof in HANDWRITTEN:
        key = canonical(stmt)
        if key in seen:
            raise ValueError(f"handwritten theorem {name} repeats another statement")
        seen.add(key)
        entries.append(Entry(name, stmt, tuple(proof), "handwritten"))
    entries += list(generate(seed, counts, seen))
    rng = random.Random(seed + 1)
    rng.shuffle(entries)
    entries.sort(key=lambda e: len(e.proof))
    splits: dict[str, list[Entry]] = {"train": [], "valid": [], "test": []}
    for i, e in enumerate(entries):  # every 7th of each size to valid, another to test: same spread
        splits["valid" if i % 7 == 3 else "test" if i % 7 == 5 else "train"].append(e)
    return splits


def write_splits(splits: dict[str, list[Entry]], out_dir: Path = HERE, header: str | None = None) -> None:
    header = PRELUDE_PATH.read_text(encoding="utf-8") if header is None else header
    for split, entries in splits.items():
        with (out_dir / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for e in sorted(entries, key=lambda e: e.name):
                fh.write(json.dumps(e.row(header, split), ensure_ascii=False) + "\n")


def split_statements() -> set[str]:
    """The canonical statements of the checked-in train/valid/test splits."""
    seen = set()
    for split in ("train", "valid", "test"):
        with (HERE / f"{split}.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                seen.add(canonical(row["formal_statement"].split(" ", 2)[2]))
    return seen


def build_extra(seed: int = EXTRA_SEED, counts: dict[str, int] | None = None,
                exclude: set[str] | None = None, max_tries: int = 200_000) -> list[Entry]:
    """Extra training theorems: the generated families under another seed, none of whose statements
    (up to renaming) is in `exclude` (default: the checked-in train/valid/test splits), nor repeated.
    Named `extra_<family>_<NNNNN>`, in a seeded random order, so that the first N are a sample of
    every family and size."""
    seen = set(split_statements() if exclude is None else exclude)
    out = []
    for e in generate(seed, counts or EXTRA_COUNTS, seen, max_tries=max_tries):
        number = e.name.rsplit("_", 1)[1]
        out.append(Entry(f"extra_{e.source}_{int(number):05d}", e.statement, e.proof, e.source))
    random.Random(seed + 1).shuffle(out)
    return out


def build_varied(seed: int = VARIED_SEED, counts: dict[str, int] | None = None,
                 exclude: set[str] | None = None, max_tries: int = 200_000) -> list[Entry]:
    """The varied extra theorems (see the module docstring), none of whose statements (up to renaming)
    is in `exclude` (default: the splits and the checked-in extra theorems).  Named
    `varied_<family>_<NNNNN>`, in a seeded random order."""
    if exclude is None:
        exclude = split_statements() | {canonical(e.statement) for e in _read_extra(EXTRA_PATH)}
    out = []
    for e in generate(seed, counts or VARIED_COUNTS, set(exclude), max_tries=max_tries):
        number = e.name.rsplit("_", 1)[1]
        out.append(Entry(f"varied_{e.source.removesuffix('_varied')}_{int(number):05d}", e.statement, e.proof,
                         e.source))
    random.Random(seed + 1).shuffle(out)
    return out


def _read_extra(path: Path) -> list[Entry]:
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [Entry(r["name"], r["formal_statement"].split(" ", 2)[2], tuple(r["reference_proof"]), r["source"])
            for r in rows]


def write_extra(entries: list[Entry], path: Path = EXTRA_PATH, split: str = "extra") -> None:
    """One row per theorem, as the splits' rows but without the header (see the module docstring)."""
    with path.open("w", encoding="utf-8") as fh:
        for e in entries:
            row = e.row("", split)
            del row["header"]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def histogram(entries: list[Entry]) -> dict[int, int]:
    return dict(sorted(Counter(len(e.proof) for e in entries).items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the logic benchmark splits.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--extra", action="store_true", help=f"write the extra training theorems ({EXTRA_PATH.name}) instead")
    ap.add_argument("--varied", action="store_true",
                    help=f"write the varied extra training theorems ({VARIED_PATH.name}) instead")
    args = ap.parse_args(argv)
    if args.varied:
        varied = build_varied(VARIED_SEED if args.seed == 0 else args.seed)
        write_extra(varied, args.out / VARIED_PATH.name, split="extra_varied")
        print(f"extra_varied: {len(varied)} theorems, proof sizes {histogram(varied)}")
        return 0
    if args.extra:
        extra = build_extra(EXTRA_SEED if args.seed == 0 else args.seed)
        write_extra(extra, args.out / EXTRA_PATH.name)
        print(f"extra: {len(extra)} theorems, proof sizes {histogram(extra)}")
        return 0
    splits = build(args.seed)
    write_splits(splits, args.out)
    for split, entries in splits.items():
        print(f"{split}: {len(entries)} theorems, proof sizes {histogram(entries)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
