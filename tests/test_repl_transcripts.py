"""The client against every recorded REPL session in ../shared/data/lean-repl-transcripts (replay double).

Each request is sent through the client's typed API (command / run_tactic / pickle_* / run_file),
so the double also checks that the client builds requests exactly as recorded; each response is
typed and compared field by field with the recording.  Sessions that name a `.lean` file by
`path` replay fine: the double answers from the recording and never opens the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from doubles.repl_double import double_command, load_transcript
from lean_env.repl import CommandResult, ReplClient, ReplCommandError, TacticResult

REPO = Path(__file__).resolve().parent.parent

SHARED = Path(os.environ.get("PROVER_SHARED", REPO.parent / "shared"))
TRANSCRIPTS = SHARED / "data" / "lean-repl-transcripts"
ALL_IN = sorted(TRANSCRIPTS.rglob("*.in")) if TRANSCRIPTS.is_dir() else []


def _call_typed(c: ReplClient, req: dict[str, Any]) -> CommandResult | TacticResult:
    keys = set(req)
    if "tactic" in keys and keys <= {"tactic", "proofState"}:
        return c.run_tactic(req["tactic"], req["proofState"])
    if "cmd" in keys and keys <= {"cmd", "env", "allTactics", "rootGoals", "infotree"}:
        return c.command(req["cmd"], req.get("env"), all_tactics=bool(req.get("allTactics")),
                         root_goals=bool(req.get("rootGoals")), infotree=req.get("infotree"))
    if "path" in keys and keys <= {"path", "env", "allTactics"}:
        return c.run_file(req["path"], req.get("env"), all_tactics=bool(req.get("allTactics")))
    if keys == {"pickleTo", "env"}:
        env = c.pickle_env(req["env"], req["pickleTo"])
        return CommandResult(env)
    if keys == {"pickleTo", "proofState"}:
        return c.pickle_proof_state(req["proofState"], req["pickleTo"])
    if keys == {"unpickleEnvFrom"}:
        return CommandResult(c.unpickle_env(req["unpickleEnvFrom"]))
    if "unpickleProofStateFrom" in keys and keys <= {"unpickleProofStateFrom", "env"}:
        return c.unpickle_proof_state(req["unpickleProofStateFrom"], req.get("env"))
    return c.send(req)


def _check_typed(res: CommandResult | TacticResult, expected: dict[str, Any]) -> None:
    if isinstance(res, TacticResult):
        assert res.proof_state == expected["proofState"]
        assert res.goals == expected["goals"]
        assert res.proof_status == expected.get("proofStatus")
        assert res.traces == expected.get("traces", [])
    else:
        assert res.env == expected["env"]
    if res.raw:
        assert res.raw == expected
    exp_msgs = expected.get("messages", [])
    assert [(m.severity, m.data) for m in res.messages] == [(m["severity"], m["data"]) for m in exp_msgs]
    for m, e in zip(res.messages, exp_msgs, strict=True):
        assert m.pos is not None and (m.pos.line, m.pos.column) == (e["pos"]["line"], e["pos"]["column"])
    exp_sorries = expected.get("sorries", [])
    assert [(s.goal, s.proof_state) for s in res.sorries] == [(s["goal"], s.get("proofState")) for s in exp_sorries]
    assert [m for m in res.errors] == [m for m in res.messages if m.severity == "error"]


@pytest.mark.parametrize("path", ALL_IN, ids=[str(p.relative_to(TRANSCRIPTS)) for p in ALL_IN])
def test_client_replays_transcript(path: Path) -> None:
    if not path.with_name(path.name.removesuffix(".in") + ".expected.out").is_file():
        pytest.skip(f"{path.name}: no recorded responses (.expected.out) in the shared data, nothing to replay")
    requests, responses = load_transcript(path)
    with ReplClient(double_command("--replay", str(path)), cwd=REPO, timeout=20) as c:
        for req, resp_text in zip(requests, responses, strict=True):
            expected = json.loads(resp_text, strict=False)
            if "message" in expected and "env" not in expected and "proofState" not in expected:
                with pytest.raises(ReplCommandError) as ei:
                    _call_typed(c, req)
                assert ei.value.message == expected["message"]
                assert not ei.value.message.startswith("replay:")
            else:
                _check_typed(_call_typed(c, req), expected)
        assert c.generation == 1 and c.faults == 0   # one process served the whole session


def test_transcripts_are_present() -> None:
    if not TRANSCRIPTS.is_dir():
        pytest.skip(f"no transcripts at {TRANSCRIPTS}")
    assert len(ALL_IN) >= 40


def test_replay_rejects_a_request_that_differs(tmp_path: Path) -> None:
    path = TRANSCRIPTS / "readme.in"
    if not path.is_file():
        pytest.skip("readme transcript missing")
    with ReplClient(double_command("--replay", str(path)), cwd=REPO, timeout=20) as c:
        with pytest.raises(ReplCommandError, match="differs from the recording"):
            c.command("def g : Nat := 3")
