"""The scripted REPL test double: a process that speaks the Lean REPL protocol, without Lean.

    python -m doubles.repl_double --world W.json [--header-cost-ms 50] [--tactic-cost-ms 5] [--crash-on TAC] [--hang-on TAC]
                              [--garbage-on TAC] [--hog-on TAC --hog-mb 1024]
    python -m doubles.repl_double --replay ../shared/data/lean-repl-transcripts/readme.in

Replay mode answers the requests of a recorded session (NAME.in) with the recorded responses
(NAME.expected.out), verbatim, so a client is tested against real Lean output; a request that
differs from the recording gets `{"message": "replay: ..."}`.

World mode serves a `ScriptedWorld` (doubles/scripted.py) the way the real REPL would:
  - `{"cmd": TEXT, "env"?: N}`: a new env id each time (0, 1, 2, ...).  A command without `env`
    builds a fresh environment and pays `--header-cost-ms` (the real REPL re-imports the
    header then); one in an existing env does not.  If TEXT contains a world theorem's statement
    followed by `:= by <tactics>` the tactics are replayed through the world: `sorry` gives a
    `sorries` entry with a new proof state and the warning "declaration uses `sorry`", a failing
    step gives an error message, leftover goals give "unsolved goals".  `#print axioms NAME` at
    the start of a line reports `sorryAx` for a theorem proved with sorry or errors.
  - `{"tactic": T, "proofState": N}`: the world's transition of the first goal (a multi-line T
    runs line by line, like a tactic sequence), after `--tactic-cost-ms` (Lean's time); a new proof
    state id (shared counter with sorries, as in the REPL); a failure answers
    `{"message": "Lean error:\\n<reason>"}`; `proofStatus` as the REPL reports it.
  - `pickleTo` / `unpickleEnvFrom` / `unpickleProofStateFrom` write and read small JSON files.
Faults (for the client's tests), on a chosen tactic, in tactic mode and inside commands:
`crash` (exit code 1 with a panic on stderr), `hang` (sleeps forever), `garbage` (prints a
non-JSON line and goes on), `memory` (allocates `--hog-mb` MiB in 16 MiB steps, then sleeps).
They come from the options or from the world file's `"faults": {"tactic": "crash"|...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from doubles.scripted import ScriptedTheorem, ScriptedWorld
from lean_env.verify_text import declared_name

FAULT_KINDS = ("crash", "hang", "garbage", "memory")


def double_command(*args: str) -> list[str]:
    """The command line that starts the double with `args` (e.g. "--world", "W.json") in this Python."""
    return [sys.executable, "-m", "doubles.repl_double", *args]
GARBAGE = "scripted double: this is garbage, not JSON <<<\n\n"

# ----------------------------------------------------------------------------- transcripts


def split_blocks(text: str) -> list[str]:
    """Blank-line separated blocks (how the REPL frames requests and responses)."""
    return [b for b in re.split(r"\n[ \t\r]*\n", text.strip()) if b.strip()]


def load_transcript(path_in: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(requests parsed, response texts) of a recorded session NAME.in / NAME.expected.out."""
    p = Path(path_in)
    out = p.with_name(p.name.removesuffix(".in") + ".expected.out")
    if not p.is_file():
        raise FileNotFoundError(f"transcript not found: {p}")
    if not out.is_file():
        raise FileNotFoundError(f"transcript {p} has no recorded responses ({out.name} missing)")
    requests: list[dict[str, Any]] = []
    for i, block in enumerate(split_blocks(p.read_text(encoding="utf-8")), 1):
        try:
            requests.append(json.loads(block, strict=False))
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: request {i} is not valid JSON ({e.msg})") from None
    responses = split_blocks(out.read_text(encoding="utf-8"))
    for i, block in enumerate(responses, 1):
        try:
            json.loads(block, strict=False)
        except json.JSONDecodeError as e:
            raise ValueError(f"{out}: response {i} is not valid JSON ({e.msg})") from None
    if len(requests) != len(responses):
        raise ValueError(f"{p}: {len(requests)} requests but {len(responses)} recorded responses")
    return requests, responses


@dataclass
class ReplayServer:
    requests: list[dict[str, Any]]
    responses: list[str]
    served: int = 0

    def handle(self, req: dict[str, Any]) -> str:
        i = self.served
        if i >= len(self.requests):
            return _dump({"message": f"replay: the recording has no request #{i + 1}"})
        if req != self.requests[i]:
            return _dump({"message": f"replay: request #{i + 1} differs from the recording: got "
                                     f"{json.dumps(req, ensure_ascii=False)}, recorded "
                                     f"{json.dumps(self.requests[i], ensure_ascii=False)}"})
        self.served += 1
        return self.responses[i]


# ----------------------------------------------------------------------------- the world server


@dataclass
class ProofSnap:
    goals: tuple[str, ...]
    has_sorry: bool = False


@dataclass
class EnvSnap:
    decls: dict[str, list[str]] = field(default_factory=dict)   # theorem name -> axioms it uses


@dataclass
class Tactic:
    text: str
    offset: int


def _pos(text: str, offset: int) -> dict[str, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    return {"line": line, "column": offset - (before.rfind("\n") + 1)}


def _msg(text: str, start: int, end: int, severity: str, data: str) -> dict[str, Any]:
    return {"severity": severity, "pos": _pos(text, start), "endPos": _pos(text, end), "data": data}


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)


def parse_tactic_block(text: str, start: int) -> tuple[list[Tactic], int]:
    """Tactics of the `by` block beginning at `text[start:]` and the offset where the block ends.

    The rest of the `by` line is one tactic; then one tactic a line at the block's indentation,
    deeper lines continue the previous tactic, `--` comment lines are skipped, and a line at
    column 0 ends the block (the next command)."""
    tactics: list[Tactic] = []
    nl = text.find("\n", start)
    first_end = len(text) if nl < 0 else nl
    first = text[start:first_end]
    if first.strip() and not first.strip().startswith("--"):
        tactics.append(Tactic(first.strip(), start + len(first) - len(first.lstrip())))
    if nl < 0:
        return tactics, len(text)
    off = nl + 1
    base: int | None = None
    while off <= len(text):
        nxt = text.find("\n", off)
        end = len(text) if nxt < 0 else nxt
        line = text[off:end]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" \t"))
        if stripped and indent == 0:
            return tactics, off
        if stripped and not stripped.startswith("--"):
            if base is None:
                base = indent
            if indent > base and tactics:
                tactics[-1].text += "\n" + line[base:].rstrip()
            else:
                tactics.append(Tactic(stripped, off + indent))
        if nxt < 0:
            break
        off = nxt + 1
    return tactics, len(text)


class WorldServer:
    """The REPL's answers for a scripted world (see the module docstring)."""

    def __init__(self, world: ScriptedWorld, faults: dict[str, str] | None = None,
                 header_cost_ms: float = 0.0, hog_mb: int = 1024, tactic_cost_ms: float = 0.0) -> None:
        self.world = world
        self.faults = {**world.faults, **(faults or {})}
        bad = {k: v for k, v in self.faults.items() if v not in FAULT_KINDS}
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; use one of {', '.join(FAULT_KINDS)}")
        self.header_cost_ms = header_cost_ms
        self.tactic_cost_ms = tactic_cost_ms
        self.hog_mb = hog_mb
        self.envs: list[EnvSnap] = []
        self.states: list[ProofSnap] = []
        self.out: IO[str] = sys.stdout

    # -- faults
    def fault(self, tactic: str) -> None:
        kind = self.faults.get(tactic.strip())
        if kind is None:
            return
        if kind == "crash":
            sys.stderr.write(f"INTERNAL PANIC: scripted crash on tactic {tactic!r}\n")
            sys.stderr.flush()
            os._exit(1)
        if kind == "garbage":
            self.out.write(GARBAGE)
            self.out.flush()
            return
        if kind == "memory":
            hog = []
            for _ in range(max(1, self.hog_mb // 16)):
                hog.append(b"\x01" * (16 << 20))
                time.sleep(0.005)
        while True:   # hang, or sit on the memory until killed
            time.sleep(3600)

    # -- bookkeeping
    def _new_state(self, snap: ProofSnap) -> int:
        self.states.append(snap)
        return len(self.states) - 1

    def _new_env(self, snap: EnvSnap) -> int:
        self.envs.append(snap)
        return len(self.envs) - 1

    def _step_response(self, snap: ProofSnap, sorries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        sid = self._new_state(snap)
        if snap.goals:
            status = "Incomplete: open goals remain"
        else:
            status = "Incomplete: contains sorry" if snap.has_sorry else "Completed"
        resp: dict[str, Any] = {"sorries": sorries} if sorries else {}
        resp.update({"proofStatus": status, "proofState": sid, "goals": list(snap.goals)})
        return resp

    # -- requests
    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        if "tactic" in req and "proofState" in req:
            return self.tactic(str(req["tactic"]), req["proofState"])
        if "pickleTo" in req and "env" in req:
            return self.pickle_env(req["env"], str(req["pickleTo"]))
        if "unpickleEnvFrom" in req:
            return self.unpickle_env(str(req["unpickleEnvFrom"]))
        if "pickleTo" in req and "proofState" in req:
            return self.pickle_state(req["proofState"], str(req["pickleTo"]))
        if "unpickleProofStateFrom" in req:
            return self.unpickle_state(str(req["unpickleProofStateFrom"]), req.get("env"))
        if "cmd" in req:
            return self.command(str(req["cmd"]), req.get("env"))
        if "path" in req:
            try:
                text = Path(str(req["path"])).read_text(encoding="utf-8")
            except OSError:
                return {"message": f"no such file or directory (error code: 2)\n  file: {req['path']}"}
            return self.command(text, req.get("env"))
        raise ValueError("Could not parse as a valid JSON command")

    def tactic(self, tactic: str, ps: Any) -> dict[str, Any]:
        if not isinstance(ps, int) or not 0 <= ps < len(self.states):
            return {"message": "Unknown proof state."}
        if self.tactic_cost_ms > 0:
            time.sleep(self.tactic_cost_ms / 1000.0)
        snap = self.states[ps]
        # a multi-line script is a tactic sequence, run step by step like Lean's `tacticSeq`
        script = "by\n" + textwrap.indent(textwrap.dedent(tactic.strip("\n")), "  ")
        steps = [t.text for t in parse_tactic_block(script, 2)[0]] or [tactic]
        goals, has_sorry = snap.goals, snap.has_sorry
        sorries: list[dict[str, Any]] = []
        for step in steps:
            self.fault(step)
            if step.strip() == "sorry" and goals:
                sorries.append({"proofState": self._new_state(ProofSnap(goals[:1])), "goal": goals[0]})
                goals, has_sorry = goals[1:], True
                continue
            res = self.world.step(goals, step)
            if isinstance(res, str):
                return {"message": "Lean error:\n" + res}
            goals = tuple(res)
        return self._step_response(ProofSnap(goals, has_sorry), sorries)

    def _find_theorem(self, text: str) -> tuple[ScriptedTheorem, int] | None:
        best: tuple[ScriptedTheorem, int] | None = None
        for t in self.world.theorems:
            i = text.find(t.statement)
            if i >= 0 and (best is None or i < best[1] or (i == best[1] and len(t.statement) > len(best[0].statement))):
                best = (t, i)
        return best

    def command(self, text: str, env: Any) -> dict[str, Any]:
        if env is not None and (not isinstance(env, int) or not 0 <= env < len(self.envs)):
            return {"message": "Unknown environment."}
        if env is None and self.header_cost_ms > 0:
            time.sleep(self.header_cost_ms / 1000.0)
        decls = dict(self.envs[env].decls) if env is not None else {}
        messages: list[dict[str, Any]] = []
        sorries: list[dict[str, Any]] = []
        rest_from = 0
        found = self._find_theorem(text)
        if found is None:
            m = re.search(r"^[ \t]*(theorem|lemma|example)\b", text, re.M)
            if m:
                messages.append(_msg(text, m.start(1), m.end(1), "error",
                                     "scripted double: this declaration is not in the scripted world"))
                rest_from = len(text)
        else:
            rest_from = self._theorem(text, *found, decls, messages, sorries)
        for m in re.finditer(r"^#print axioms[ \t]+(\S+)", text[rest_from:], re.M):
            name, start = m.group(1), rest_from + m.start()
            if name not in decls:
                messages.append(_msg(text, start, start + 13, "error", f"unknown constant '{name}'"))
            elif decls[name]:
                messages.append(_msg(text, start, start + 13, "info",
                                     f"'{name}' depends on axioms: [{', '.join(decls[name])}]"))
            else:
                messages.append(_msg(text, start, start + 13, "info", f"'{name}' does not depend on any axioms"))
        resp: dict[str, Any] = {}
        if sorries:
            resp["sorries"] = sorries
        if messages:
            resp["messages"] = sorted(messages, key=lambda m: (m["pos"]["line"], m["pos"]["column"]))
        resp["env"] = self._new_env(EnvSnap(decls))
        return resp

    def _theorem(self, text: str, t: ScriptedTheorem, at: int, decls: dict[str, list[str]],
                 messages: list[dict[str, Any]], sorries: list[dict[str, Any]]) -> int:
        """Elaborate one world theorem found at `at`; returns where the text after its proof starts."""
        try:
            name = declared_name(t.statement).name
        except ValueError:  # an `example`: the world's name stands in
            name = t.name
        name_at = text.find(name, at)
        stmt_end = at + len(t.statement)
        m = re.compile(r"\s*:=\s*").match(text, stmt_end)
        if m is None:
            messages.append(_msg(text, stmt_end, stmt_end, "error", "unexpected end of input; expected ':='"))
            return len(text)
        body = m.end()
        if text.startswith("sorry", body):
            tactics, block_end = [Tactic("sorry", body)], body + 5
        elif re.compile(r"by\b").match(text, body):
            tactics, block_end = parse_tactic_block(text, body + 2)
        else:
            messages.append(_msg(text, body, body, "error", "scripted double: only `by` tactic proofs are supported"))
            return len(text)
        goals: tuple[str, ...] = (t.goal,)
        has_sorry = failed = False
        for tac in tactics:
            self.fault(tac.text)
            if tac.text == "sorry" and goals:
                sid = self._new_state(ProofSnap(goals[:1]))
                sorries.append({"proofState": sid, "pos": _pos(text, tac.offset),
                                "goal": goals[0], "endPos": _pos(text, tac.offset + 5)})
                goals, has_sorry = goals[1:], True
                continue
            res = self.world.step(goals, tac.text)
            if isinstance(res, str):
                messages.append(_msg(text, tac.offset, tac.offset + len(tac.text), "error", res))
                failed = True
                break
            goals = tuple(res)
        if goals and not failed:
            messages.append(_msg(text, body, block_end, "error", "unsolved goals\n" + "\n\n".join(goals)))
        if has_sorry:
            messages.append(_msg(text, name_at, name_at + len(name), "warning", "declaration uses `sorry`"))
        decls[name] = ["sorryAx"] if (has_sorry or failed or goals) else []
        return block_end

    def pickle_env(self, env: Any, path: str) -> dict[str, Any]:
        if not isinstance(env, int) or not 0 <= env < len(self.envs):
            return {"message": "Unknown environment."}
        Path(path).write_text(json.dumps({"double": "env", "decls": self.envs[env].decls}), encoding="utf-8")
        return {"env": env}

    def unpickle_env(self, path: str) -> dict[str, Any]:
        data = self._read_pickle(path, "env")
        if "message" in data:
            return data
        return {"env": self._new_env(EnvSnap(dict(data["decls"])))}

    def pickle_state(self, ps: Any, path: str) -> dict[str, Any]:
        if not isinstance(ps, int) or not 0 <= ps < len(self.states):
            return {"message": "Unknown proof State."}
        snap = self.states[ps]
        Path(path).write_text(json.dumps({"double": "proofState", "goals": list(snap.goals),
                                          "has_sorry": snap.has_sorry}), encoding="utf-8")
        return self._step_response(snap)

    def unpickle_state(self, path: str, env: Any) -> dict[str, Any]:
        if env is not None and (not isinstance(env, int) or not 0 <= env < len(self.envs)):
            return {"message": "Unknown environment."}
        data = self._read_pickle(path, "proofState")
        if "message" in data:
            return data
        return self._step_response(ProofSnap(tuple(data["goals"]), bool(data["has_sorry"])))

    @staticmethod
    def _read_pickle(path: str, kind: str) -> dict[str, Any]:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {"message": f"no such file or directory (error code: 2)\n  file: {path}"}
        if not isinstance(data, dict) or data.get("double") != kind:
            return {"message": f"{path}: not a pickled {kind} of the scripted double"}
        return data


# ----------------------------------------------------------------------------- the loop


def read_queries(stream: IO[str]) -> Iterator[str]:
    """Requests as the REPL reads them: lines up to a blank line; stops at end of input."""
    lines: list[str] = []
    for line in stream:
        if line.strip():
            lines.append(line)
            continue
        if lines:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def serve(handle: Any, stdin: IO[str], stdout: IO[str], raw_text: bool) -> int:
    for query in read_queries(stdin):
        if query.startswith("#") or query.startswith("--"):
            continue
        try:
            req = json.loads(query, strict=False)
            if not isinstance(req, dict):
                raise ValueError("not an object")
            resp = handle(req)
        except ValueError as e:     # the real REPL dies on input it cannot parse
            sys.stderr.write(f"uncaught exception: {json.dumps({'message': f'Could not parse JSON: {e}'})}\n")
            return 1
        stdout.write((resp if raw_text else _dump(resp)) + "\n\n")
        stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m doubles.repl_double", description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--world", help="scripted-world JSON file to serve")
    mode.add_argument("--replay", help="recorded session NAME.in (responses from NAME.expected.out)")
    ap.add_argument("--tactic-cost-ms", type=float, default=0.0,
                    help="world mode: sleep this long for every tactic request (Lean's elaboration time)")
    ap.add_argument("--header-cost-ms", type=float, default=0.0,
                    help="world mode: sleep this long for every command run without `env` (header elaboration)")
    for kind in ("crash", "hang", "garbage"):
        ap.add_argument(f"--{kind}-on", action="append", default=[], metavar="TACTIC", help=f"{kind} on this tactic")
    ap.add_argument("--hog-on", action="append", default=[], metavar="TACTIC",
                    help="allocate --hog-mb MiB and sleep when this tactic runs (memory-cap tests)")
    ap.add_argument("--hog-mb", type=int, default=1024)
    args = ap.parse_args(argv)
    sys.stdin.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    if args.replay:
        try:
            requests, responses = load_transcript(args.replay)
        except (OSError, ValueError) as e:
            sys.stderr.write(f"doubles.repl_double: {e}\n")
            return 2
        return serve(ReplayServer(requests, responses).handle, sys.stdin, sys.stdout, raw_text=True)
    try:
        world = ScriptedWorld.load(args.world)
        faults = {t: k for k, ts in (("crash", args.crash_on), ("hang", args.hang_on), ("garbage", args.garbage_on),
                                     ("memory", args.hog_on)) for t in ts}
        server = WorldServer(world, faults, args.header_cost_ms, args.hog_mb, args.tactic_cost_ms)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"doubles.repl_double: {e}\n")
        return 2
    return serve(server.handle, sys.stdin, sys.stdout, raw_text=False)


if __name__ == "__main__":
    raise SystemExit(main())
