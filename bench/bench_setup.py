"""How fast `prover setup` gives up without the network (the figure its unit tests no longer assert).

    python bench/bench_setup.py [--connect-timeout 3]

Times, each against its connect timeout:
1. the reachability check on a closed local port and an unresolvable host (both refused at once);
2. the check on a host whose probe never answers (a stand-in for a hanging name lookup): it must
   give up after about the connect timeout + 1 s;
3. `run_setup` on this machine: fails at the real check of GitHub (on a machine with internet it
   would start a real setup, so it is skipped there).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lean_env.setup as setup_mod  # noqa: E402
from lean_env.errors import SetupError  # noqa: E402


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connect-timeout", type=float, default=3.0)
    args = ap.parse_args()
    t = args.connect_timeout

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    closed.close()
    secs, failed = timed(lambda: setup_mod.check_reachable([("127.0.0.1", dead), ("no-such-host.invalid", 443)], t))
    print(f"refused and unresolvable hosts: {secs:6.2f} s  (timeout {t:g} s, {len(failed)} reported)")

    release = threading.Event()
    real = setup_mod.socket.create_connection

    def never_answers(address: tuple[str, int], timeout: float) -> socket.socket:
        release.wait()
        raise OSError("released")

    setup_mod.socket.create_connection = never_answers
    try:
        secs, failed = timed(lambda: setup_mod.check_reachable([("hangs.example", 443)], t))
    finally:
        release.set()
        setup_mod.socket.create_connection = real
    print(f"a probe that never answers:     {secs:6.2f} s  (timeout {t:g} s: gives up at {t + 1:g} s)  {failed[0]}")

    if not setup_mod.check_reachable(setup_mod.DEFAULT_HOSTS, t):
        print("run_setup: GitHub answers here; the offline failure cannot be timed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        def attempt() -> str:
            try:
                setup_mod.run_setup(setup_mod.SetupConfig(dir=Path(tmp) / "ws", connect_timeout=t))
            except SetupError as e:
                return str(e).splitlines()[0][:90]
            return "no error?"

        secs, msg = timed(attempt)
    print(f"run_setup without network:      {secs:6.2f} s  (timeout {t:g} s)  {msg}")


if __name__ == "__main__":
    main()
