"""What a dataset spec named when a run read it: the file or checkout behind it, its version, and a
content hash of the theorems themselves, so that runs are only compared on the same statements.

    identity = dataset_identity("minif2f:test", theorems)
    # {"spec": "minif2f:test", "theorems": 244, "content_hash": "3f2a...",
    #  "source": {"path": ".../minif2f/test.jsonl", "sha256": "...", "git_commit": null,
    #             "readme": "yangky11/miniF2F-lean4 at commit 5746b7d (MIT), pinned to Lean v4.24.0 ..."}}

`content_hash` is over the theorems (name, header, formal statement; sorted by name), so it is the
same for the same statements read from a JSONL file or a `.lean` checkout, and changes with any
statement fix.  `source` says where they came from: a file's SHA-256, the git commit of the
checkout holding it (read from `.git`, no git process), the checkout's `lean-toolchain`, and the line
of a README next to the data naming its upstream commit.  `prover eval` stores this under
`dataset_id` in run.json; `prover report` refuses to compare runs whose hashes differ
(`check_same_dataset`) unless told to.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.types import Theorem

_COMMIT_LINE = re.compile(r"\bcommit\b", re.IGNORECASE)


def dataset_hash(theorems: Sequence[Theorem]) -> str:
    """SHA-256 over the theorems' (name, header, formal statement), sorted by name."""
    h = hashlib.sha256()
    for t in sorted(theorems, key=lambda t: t.name):
        for part in (t.name, t.header, t.formal_statement):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        h.update(b"\1")
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_dir(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        g = d / ".git"
        if g.is_dir():
            return g
        if g.is_file():  # a worktree or submodule: "gitdir: PATH"
            text = g.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                p = Path(text.split(":", 1)[1].strip())
                return p if p.is_absolute() else (d / p).resolve()
    return None


def git_commit(path: Path) -> str | None:
    """The commit checked out in the git repository holding `path` (from `.git`), or None."""
    g = _git_dir(path if path.is_dir() else path.parent)
    if g is None or not (g / "HEAD").is_file():
        return None
    head = (g / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    if not head.startswith("ref:"):
        return head or None
    ref = head.split(":", 1)[1].strip()
    for root in (g, Path(str(g).split("/worktrees/")[0])):
        f = root / ref
        if f.is_file():
            return f.read_text(encoding="utf-8", errors="replace").strip() or None
        packed = root / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    return None


_PROJECT = Path(__file__).resolve().parent.parent


def git_remote(path: Path) -> tuple[Path, str] | None:
    """(the checkout's top folder, its `origin` URL) for a path inside a git checkout, from
    `.git/config`; None without one."""
    start = path.resolve() if path.is_dir() else path.resolve().parent
    g = _git_dir(start)
    if g is None or not (g / "config").is_file():
        return None
    section, url = "", None
    for line in (g / "config").read_text(encoding="utf-8", errors="replace").splitlines():
        s = line.strip()
        if s.startswith("["):
            section = s
        elif section == '[remote "origin"]' and s.startswith("url") and "=" in s:
            url = s.split("=", 1)[1].strip()
    if url is None:
        return None
    top = g.parent if g.name == ".git" else start
    return top, url.removesuffix(".git")


def _toolchain(path: Path) -> str | None:
    """The `lean-toolchain` of the checkout holding `path` (not this project's own, which is about the
    user's workspace, not about data shipped with the project)."""
    for d in [path if path.is_dir() else path.parent, *path.parents]:
        if d == _PROJECT:
            return None
        f = d / "lean-toolchain"
        if f.is_file():
            return f.read_text(encoding="utf-8", errors="replace").strip()
        if (d / ".git").exists():
            break
    return None


def _readme_line(folder: Path) -> str | None:
    for name in ("README.md", "README", "VERSION"):
        f = folder / name
        if f.is_file():
            for para in re.split(r"\n\s*\n", f.read_text(encoding="utf-8", errors="replace")):
                if _COMMIT_LINE.search(para):
                    return " ".join(para.split())
    return None


def source_of(path: Path) -> dict[str, Any]:
    """Where data at `path` (a file or a folder) comes from: see the module docstring."""
    path = path.expanduser().resolve()
    out: dict[str, Any] = {"path": str(path)}
    if path.is_file():
        out["sha256"] = file_sha256(path)
        readme = _readme_line(path.parent)
    else:
        readme = _readme_line(path)
    out["git_commit"] = git_commit(path) if path.exists() else None
    toolchain = _toolchain(path) if path.exists() else None
    if toolchain:
        out["lean_toolchain"] = toolchain
    if readme:
        out["readme"] = readme
    return out


def spec_path(spec: str) -> Path | None:
    """The file or folder a dataset spec reads (None for a spec without one)."""
    from eval.datasets import LOGIC_SPLITS, minif2f_dir

    kind, sep, arg = spec.partition(":")
    if not sep:
        return Path(spec)
    if kind == "minif2f":
        return minif2f_dir() / f"{arg}.jsonl"
    if kind == "logic" and arg in LOGIC_SPLITS:
        return Path(__file__).resolve().parent / "logic" / f"{arg}.jsonl"
    if kind in ("minif2f-lean", "proofnet", "leandojo", "jsonl"):
        root, sep2, split = arg.rpartition(":")
        return Path(root if sep2 and split.lower() in ("valid", "test") else arg)
    if kind in ("scripted", "putnambench"):
        return Path(arg)
    return None


def dataset_identity(spec: str, theorems: Sequence[Theorem]) -> dict[str, Any]:
    """The spec, the number of theorems, their content hash and the source they came from."""
    path = spec_path(spec)
    return {"spec": spec, "theorems": len(theorems), "content_hash": dataset_hash(theorems),
            "source": source_of(path) if path is not None and path.exists() else None}


class DatasetMismatch(ValueError):
    """Runs on different theorem statements (or different theorem sets) were asked to be compared."""


def check_same_dataset(runs: Sequence[tuple[str, Mapping[str, Any] | None]], allow: bool = False) -> list[str]:
    """Refuse (DatasetMismatch) to compare runs whose run.json name different dataset content hashes,
    unless `allow`; returns warnings (differences allowed, runs without a hash).  `runs` are
    (label, run.json contents or None)."""
    hashes: dict[str, list[str]] = {}
    warnings: list[str] = []
    for label, meta in runs:
        ident = (meta or {}).get("dataset_id") if isinstance(meta, Mapping) else None
        h = ident.get("content_hash") if isinstance(ident, Mapping) else None
        if h is None:
            warnings.append(f"{label}: its run.json records no dataset content hash (an older run?)")
            continue
        hashes.setdefault(h, []).append(f"{label} ({ident.get('spec')}, {ident.get('theorems')} theorems)")
    if len(hashes) > 1:
        groups = "; ".join(f"{h[:12]}: {', '.join(labels)}" for h, labels in hashes.items())
        msg = f"the runs were made on different datasets (content hashes {groups})"
        if not allow:
            raise DatasetMismatch(msg + "; compare them anyway with --allow-different-datasets")
        warnings.append(msg)
    return warnings


__all__ = ["DatasetMismatch", "check_same_dataset", "dataset_hash", "dataset_identity", "file_sha256", "git_commit", "git_remote",
           "source_of", "spec_path"]
