"""On-disk cache of verdicts: one small JSON file per key, written atomically.

The key is the sha256 of everything a verdict depends on (verifier version, the toolchain's
identity, header, statement, candidate text, allowed axioms, text checks), so a cached verdict is
reused only for the very same question.  The toolchain's identity (`toolchain_identity`) is its
version string *and* the bytes of the `lean` binary (and the size and time of its shared Lean
library, and a workspace's manifest and lean-toolchain file): a different binary that reports the
same version asks a different question.  Only final verdicts ('proved', 'rejected') are stored;
errors (timeouts, crashes) are retried.

A write goes to `ROOT/.tmp/<process>-...` and is renamed into place; the leftovers of a process
killed in between are removed by the next cache opened on ROOT.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lean_env.toolchain import LeanToolchain

log = logging.getLogger(__name__)

_WHOLE_FILE_BYTES = 16 << 20  # files up to this size are hashed whole; larger ones by size, time, ends


def cache_key(*parts: Any) -> str:
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class VerdictCache:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._sweep_tmp()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def _sweep_tmp(self) -> None:
        from lean_env.process import _process_tag

        tmp = self.root / ".tmp"
        try:
            entries = list(tmp.iterdir())
        except OSError:
            return
        for f in entries:
            pid, sep, rest = f.name.partition("-")
            if sep and pid.isdigit() and not f.name.startswith(_process_tag(int(pid)) + "-"):
                f.unlink(missing_ok=True)

    def get(self, key: str) -> dict | None:
        p = self._path(key)
        try:
            row = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable cache entry %s: %s", p, e)
            return None
        return row if isinstance(row, dict) else None

    def put(self, key: str, row: dict) -> None:
        from lean_env.process import _process_tag

        p = self._path(key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp_dir = self.root / ".tmp"
            tmp_dir.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=_process_tag(os.getpid()) + "-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(row, fh, ensure_ascii=False)
            os.replace(tmp, p)
        except OSError as e:  # a cache that cannot be written only costs time
            log.warning("could not write cache entry %s: %s", p, e)


@lru_cache(maxsize=64)
def _file_identity(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= _WHOLE_FILE_BYTES:
            h.update(fh.read())
        else:
            h.update(f"{size}:{mtime_ns}".encode())
            h.update(fh.read(1 << 20))
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())
    return h.hexdigest()[:16]


def file_identity(path: str | os.PathLike[str]) -> str:
    """A short digest of a file: of its bytes (up to 16 MiB), else of its size, modification time
    and first and last MiB.  "missing" when it cannot be read."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
        return _file_identity(real, st.st_size, st.st_mtime_ns)
    except OSError:
        return "missing"


def _shared_libraries(tc: LeanToolchain, lean: Path) -> list[Path]:
    found = []
    if tc.embedded:
        from lean_env.toolchain import embedded_library_dir

        found.append(embedded_library_dir() / "libleanshared.so")
    home = lean.resolve().parent.parent
    found += [p for p in (home / "lib" / "lean" / "libleanshared.so", home / "lib" / "libleanshared.so") if p.is_file()]
    return found


def toolchain_identity(tc: LeanToolchain) -> str:
    """What a verdict of `tc` depends on: its version string, the `lean` binary's bytes, its shared
    Lean library, and for a workspace its lake-manifest.json (the Mathlib revision) and lean-toolchain."""
    lean = tc.lean
    if not lean.is_absolute():
        lean = Path(shutil.which(str(lean)) or lean)
    parts = [tc.version, f"lean {file_identity(lean)}"]
    parts += [f"{lib.name} {file_identity(lib)}" for lib in _shared_libraries(tc, lean)]
    if tc.project is not None:
        parts += [f"{tc.project}", f"manifest {file_identity(tc.project / 'lake-manifest.json')}",
                  f"lean-toolchain {file_identity(tc.project / 'lean-toolchain')}"]
    return " | ".join(parts)
