"""On-disk cache of verdicts: one small JSON file per key, written atomically.

The key is the sha256 of everything a verdict depends on (verifier version, toolchain and
workspace fingerprint, header, statement, candidate text, allowed axioms, text checks), so a
cached verdict is reused only for the very same question.  Only final verdicts ('proved',
'rejected') are stored; errors (timeouts, crashes) are retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cache_key(*parts: Any) -> str:
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class VerdictCache:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

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
        p = self._path(key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(row, fh, ensure_ascii=False)
            os.replace(tmp, p)
        except OSError as e:  # a cache that cannot be written only costs time
            log.warning("could not write cache entry %s: %s", p, e)


def toolchain_fingerprint(version: str, project: Path | None) -> str:
    """The Lean version, plus the workspace's lake-manifest.json (its Mathlib revision) if any."""
    if project is None:
        return version
    manifest = project / "lake-manifest.json"
    try:
        digest = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    except OSError:
        digest = "no-manifest"
    return f"{version} | {project} | {digest}"
