"""Making a user's Lean workspace: Mathlib at the pinned version and the Lean REPL built in it.

`prover setup --dir DIR` on a machine with internet and elan:
  1. checks quickly (short connect timeout) that the hosts it needs answer; fails fast otherwise;
  2. checks that `git` and `lake` (elan) are installed;
  3. writes `lean-toolchain` (the project's pin, leanprover/lean4:v4.24.0), `lakefile.toml`
     requiring Mathlib and the REPL at the matching tags, and a root file importing Mathlib;
  4. `lake update` (elan installs the pinned Lean on first use; fetches Mathlib and the REPL),
     `lake exe cache get` (Mathlib's prebuilt oleans),
     `lake build` inside `.lake/packages/REPL` (the REPL binary), then `lake build` (checks it all).
Afterwards `--project DIR` makes every command run Lean (and the REPL) inside this workspace.
None of step 4 can run on the machines this project is developed on (no network); it is tested
there with fake `lake`/`git` programs, and the file contents are tested as plain text.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lean_env.errors import LeanMemoryExceeded, LeanTimeout, SetupError
from lean_env.process import run_process

log = logging.getLogger(__name__)

DEFAULT_LEAN_TOOLCHAIN = "leanprover/lean4:v4.24.0"
MATHLIB_GIT = "https://github.com/leanprover-community/mathlib4"
REPL_GIT = "https://github.com/leanprover-community/repl"
DEFAULT_HOSTS = (("github.com", 443),)
REPL_BINARY = Path(".lake/packages/REPL/.lake/build/bin/repl")
MARKER = "prover-workspace.json"


def repo_lean_toolchain() -> str:
    """The pin in this repository's `lean-toolchain` (the default when installed without it)."""
    p = Path(__file__).resolve().parent.parent / "lean-toolchain"
    try:
        text = p.read_text(encoding="utf-8").strip()
    except OSError:
        return DEFAULT_LEAN_TOOLCHAIN
    return text or DEFAULT_LEAN_TOOLCHAIN


def version_tag(toolchain: str) -> str:
    """`leanprover/lean4:v4.24.0` -> `v4.24.0` (Mathlib and the REPL tag their releases so)."""
    tag = toolchain.rsplit(":", 1)[-1].strip()
    if not tag.startswith("v") or not tag[1:2].isdigit():
        raise SetupError(f"cannot derive a release tag from toolchain {toolchain!r}; pass --mathlib-rev and --repl-rev")
    return tag


@dataclass
class SetupConfig:
    dir: Path
    lean_toolchain: str = field(default_factory=repo_lean_toolchain)
    mathlib_rev: str | None = None           # default: the toolchain's tag
    repl_rev: str | None = None              # default: the toolchain's tag
    hosts: Sequence[tuple[str, int]] = DEFAULT_HOSTS
    connect_timeout: float = 5.0
    step_timeout: float = 3 * 3600.0          # per external command (Mathlib's cache is large)
    memory_mb: int | None = None              # per external command; None = no cap
    force: bool = False                       # overwrite a different lakefile in `dir`

    def revs(self) -> tuple[str, str]:
        tag = None if (self.mathlib_rev and self.repl_rev) else version_tag(self.lean_toolchain)
        return self.mathlib_rev or tag or "", self.repl_rev or tag or ""


@dataclass
class SetupResult:
    dir: Path
    lean_toolchain: str
    mathlib_rev: str
    repl_rev: str
    repl_binary: Path
    steps: list[str]


def workspace_files(lean_toolchain: str, mathlib_rev: str, repl_rev: str) -> dict[str, str]:
    """The files of the workspace, as text (pure: tested as is)."""
    lakefile = (
        'name = "prover_workspace"\n'
        'defaultTargets = ["ProverWorkspace"]\n'
        "\n"
        "[[require]]\n"
        'name = "mathlib"\n'
        f'git = "{MATHLIB_GIT}"\n'
        f'rev = "{mathlib_rev}"\n'
        "\n"
        "[[require]]\n"
        'name = "REPL"\n'
        f'git = "{REPL_GIT}"\n'
        f'rev = "{repl_rev}"\n'
        "\n"
        "[[lean_lib]]\n"
        'name = "ProverWorkspace"\n'
    )
    return {
        "lean-toolchain": lean_toolchain.strip() + "\n",
        "lakefile.toml": lakefile,
        "ProverWorkspace.lean": "-- Built by `prover setup`: building this checks that Mathlib's oleans are in place.\nimport Mathlib\n",
        ".gitignore": ".lake/\n",
    }


def check_reachable(hosts: Sequence[tuple[str, int]], timeout: float) -> list[str]:
    """The hosts that did not accept a TCP connection within `timeout` s (DNS included); [] if all did."""
    failures: list[str] = []
    lock = threading.Lock()

    def probe(host: str, port: int) -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as e:
            why = f"{host}:{port} ({type(e).__name__}: {e})"
        with lock:
            failures.append(why)

    threads = []
    for host, port in hosts:
        t = threading.Thread(target=probe, args=(host, port), daemon=True)
        t.start()
        threads.append((host, port, t))
    for host, port, t in threads:
        t.join(timeout + 1.0)
        if t.is_alive():  # name resolution can hang past the socket timeout
            with lock:
                failures.append(f"{host}:{port} (no answer within {timeout:g} s)")
    return failures


def check_tools(which: Callable[[str], str | None] = shutil.which) -> dict[str, str]:
    """Paths of git, lake (and elan if any); SetupError naming what is missing."""
    found = {name: which(name) for name in ("git", "lake", "elan")}
    missing = [n for n in ("git", "lake") if not found[n]]
    if missing:
        raise SetupError(
            f"missing {', '.join(missing)}: install git and elan "
            "(curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh), "
            "then open a new shell so that `lake` is on PATH"
        )
    if not found["elan"]:
        log.warning("elan not found: `lake` on PATH will be used as is and may not match %s", "the pinned toolchain")
    return {k: v for k, v in found.items() if v}


def write_workspace(directory: Path, files: dict[str, str], force: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lakefile = directory / "lakefile.toml"
    if (directory / "lakefile.lean").exists() and not force:
        raise SetupError(f"{directory} already has a lakefile.lean: pick an empty --dir or pass --force")
    if lakefile.exists() and lakefile.read_text(encoding="utf-8") != files["lakefile.toml"] and not force:
        raise SetupError(f"{lakefile} exists with other contents: pick another --dir or pass --force")
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")


def _step(name: str, argv: list[str], cwd: Path, config: SetupConfig, steps: list[str]) -> None:
    log.info("setup: %s (%s in %s)", name, " ".join(argv), cwd)
    steps.append(f"{name}: {' '.join(argv)} (in {cwd})")
    try:
        rc, out, err, secs, _ = run_process(argv, timeout=config.step_timeout, memory_mb=config.memory_mb, cwd=cwd)
    except (LeanTimeout, LeanMemoryExceeded) as e:
        raise SetupError(f"setup step '{name}' ({' '.join(argv)}) was stopped: {e}") from None
    except OSError as e:
        raise SetupError(f"setup step '{name}' could not start {argv[0]}: {e}") from None
    if rc != 0:
        tail = (err.strip() or out.strip())[-1500:]
        raise SetupError(f"setup step '{name}' ({' '.join(argv)}) failed with exit code {rc}:\n{tail}")
    log.info("setup: %s done in %.0f s", name, secs)


def run_setup(config: SetupConfig) -> SetupResult:
    """Make (or complete) the workspace in `config.dir`; SetupError says what failed."""
    mathlib_rev, repl_rev = config.revs()
    unreachable = check_reachable(config.hosts, config.connect_timeout)
    if unreachable:
        raise SetupError(
            "prover setup needs the network (GitHub for Mathlib, the REPL and Lean itself) but could not reach: "
            + "; ".join(unreachable)
        )
    tools = check_tools()
    directory = config.dir.expanduser().resolve()
    write_workspace(directory, workspace_files(config.lean_toolchain, mathlib_rev, repl_rev), config.force)
    lake = tools["lake"]
    steps: list[str] = []
    _step("fetch dependencies", [lake, "update"], directory, config, steps)
    _step("Mathlib cache", [lake, "exe", "cache", "get"], directory, config, steps)
    repl_dir = directory / REPL_BINARY.parents[3]
    if not (repl_dir / "lakefile.lean").exists() and not (repl_dir / "lakefile.toml").exists():
        raise SetupError(f"`lake update` did not fetch the REPL into {repl_dir}")
    _step("build the REPL", [lake, "build"], repl_dir, config, steps)
    binary = directory / REPL_BINARY
    if not binary.is_file():
        raise SetupError(f"the REPL build finished but {binary} is missing")
    _step("check the workspace", [lake, "build"], directory, config, steps)
    marker = {"lean_toolchain": config.lean_toolchain, "mathlib_rev": mathlib_rev, "repl_rev": repl_rev,
              "repl_binary": str(REPL_BINARY)}
    (directory / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return SetupResult(directory, config.lean_toolchain, mathlib_rev, repl_rev, binary, steps)
