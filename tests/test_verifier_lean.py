"""The verifier against the real embedded Lean: honest proofs, every cheat, hangs, crashes, batching, cache."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import lean_env.verifier as verifier_mod
from core.types import Theorem
from lean_env.toolchain import LeanToolchain
from lean_env.verifier import Verifier, VerifierConfig, VerifyItem, verify_proof
from prover.cli import main as prover_main

DATA = Path(__file__).resolve().parent / "data" / "verify"
HEADER = (DATA / "prelude.lean").read_text(encoding="utf-8")
ADVERSARIAL = [json.loads(line) for line in (DATA / "adversarial.jsonl").read_text(encoding="utf-8").splitlines()]
AND_SWAP = "theorem and_swap (p q : Prop) (h : And p q) : And q p :="
SWAP = " And.rec (fun hp hq => And.intro hq hp) h"

# The reason each cheat must be rejected for (with the text checks, then by Lean alone).
REASONS = {
    "sorryAx directly": ("sorry", "uses sorry"),
    "new axiom, then use it": ("axiom", "not allowed: cheat"),
    "changed statement (weaker conclusion)": ("differs from the formal_statement",) * 2,
    "changed universe (specialised)": ("differs from the formal_statement",) * 2,
    "renamed target": ("does not declare `and_swap`",) * 2,
    "namespace left open": ("`end` failed",) * 2,
    "target declared as an axiom": ("axiom", "not a theorem (it is: axiom)"),
    "unsafe recursive def": ("unsafe", "not a theorem"),
    "def instead of theorem": ("not a theorem (it is: def)",) * 2,
    "#exit before a bogus proof": ("#exit", "cut short"),
    "unterminated comment swallows the checks": ("unterminated comment", "cut short"),
    "debug.skipKernelTC": ("debug.skipKernelTC", "sorry"),
    "local instance changes what the statement means": ("cheatInst",) * 2,
    "shadow And in a namespace, declare _root_ target": ("X.And",) * 2,
    "axiom under an allowed name the header lacks (Classical.choice)": ("axiom", "did not exist before the candidate"),
}


def _items(rows):
    return [{k: v for k, v in r.items() if k not in ("expect", "cheat")} for r in rows]


def _config(**kw) -> VerifierConfig:
    kw.setdefault("cache", False)
    kw.setdefault("timeout", 30.0)
    return VerifierConfig(**kw)


def _fake_lean(tmp_path: Path, body: str) -> LeanToolchain:
    p = tmp_path / "lean"
    p.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Lean (version 0.0.0, fake)"; exit 0; fi\n{body}\n')
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return LeanToolchain(lean=p)


def _count_runs(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = verifier_mod.run_lean

    def counting(tc, source, **kw):
        calls.append(source.count("#print axioms VerifyItem_") or 1)
        return real(tc, source, **kw)

    monkeypatch.setattr(verifier_mod, "run_lean", counting)
    return calls


def _check_expectations(verdicts, text_checks: bool) -> None:
    for row, v in zip(ADVERSARIAL, verdicts, strict=False):
        assert v.name == row["name"]
        assert v.verdict == row["expect"], (row["cheat"] or row["name"], v.reason, v.messages)
        if row["cheat"] in REASONS:
            want = REASONS[row["cheat"]][0 if text_checks else 1]
            assert want in v.reason, (row["cheat"], v.reason)
    assert sum(v.proved for v in verdicts[: len(ADVERSARIAL)]) == sum(r["expect"] == "proved" for r in ADVERSARIAL)


def test_adversarial_file(lean_toolchain):
    verdicts = Verifier(lean_toolchain, _config(workers=2)).verify(_items(ADVERSARIAL))
    assert len(verdicts) == len(ADVERSARIAL) and sum(v.proved for v in verdicts) >= 10
    _check_expectations(verdicts, text_checks=True)


def test_batching_gives_the_same_verdicts_as_one_at_a_time_and_lean_alone_rejects_cheats(lean_toolchain, monkeypatch):
    extra = [  # a proof naming another item's theorem must not profit from sharing its file
        {"name": "helper", "header": HEADER, "proof": " And.intro hq hp",
         "formal_statement": "theorem swap_helper (p q : Prop) (hp : p) (hq : q) : And q p :="},
        {"name": "uses-helper", "header": HEADER, "formal_statement": AND_SWAP,
         "proof": " And.rec (fun hp hq => swap_helper p q hp hq) h"},
    ]
    items = _items(ADVERSARIAL) + extra
    calls = _count_runs(monkeypatch)
    batched = Verifier(lean_toolchain, _config(workers=2, batch_size=8, text_checks=False)).verify(items)
    _check_expectations(batched, text_checks=False)  # Lean alone rejects every cheat, for the right reason
    assert batched[-2].proved and batched[-1].verdict == "rejected"
    # items given as code run alone in both modes; compare the ones that may share a file
    shareable = [k for k, it in enumerate(items) if "proof" in it]
    batched_runs = len(calls)
    alone = Verifier(lean_toolchain, _config(workers=2, batch_size=1, text_checks=False)).verify(
        [items[k] for k in shareable])
    assert [batched[k].verdict for k in shareable] == [v.verdict for v in alone]
    assert [batched[k].reason for k in shareable] == [v.reason for v in alone]
    assert len(calls) - batched_runs == len(shareable)
    assert max(calls[:batched_runs]) > 1 and batched_runs < len(items)  # files really were shared


def test_batch_shares_one_process_and_rechecks_failures_alone(lean_toolchain, monkeypatch):
    good = [{"name": f"g{i}", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP} for i in range(5)]
    bad = {"name": "bad", "header": HEADER, "formal_statement": AND_SWAP, "proof": " And.intro hp hq"}
    calls = _count_runs(monkeypatch)
    out = Verifier(lean_toolchain, _config(workers=1, batch_size=8)).verify(good + [bad])
    assert [v.verdict for v in out] == ["proved"] * 5 + ["rejected"]
    assert calls == [6, 1]  # one shared file for all six, then the failure alone
    assert "Lean error" in out[-1].reason and out[-1].messages and out[-1].messages[0]["line"] == 1


HANG_HEADER = HEADER + """
class Loop (p : Prop) where
  val : p
instance loopInst {p : Prop} [Loop (And p p)] : Loop p := Loop.mk (And.rec (fun a _ => a) (Loop.val (p := And p p)))
set_option synthInstance.maxHeartbeats 0
set_option synthInstance.maxSize 100000000
set_option maxHeartbeats 0
"""


def test_a_hung_lean_gives_error_not_a_hang(lean_toolchain):
    hang = {"name": "hang", "header": HANG_HEADER, "formal_statement": "theorem hang : True :=",
            "proof": " (Loop.val : True)"}
    honest = [{"name": f"ok{i}", "header": HANG_HEADER, "formal_statement": AND_SWAP, "proof": SWAP} for i in range(3)]
    t0 = time.monotonic()
    out = Verifier(lean_toolchain, _config(workers=2, batch_size=8, timeout=3.0)).verify([hang, *honest])
    assert time.monotonic() - t0 < 40
    assert out[0].verdict == "error" and out[0].reason.startswith("timeout")
    assert [v.verdict for v in out[1:]] == ["proved"] * 3  # the batch timed out; each was rechecked alone


def test_timeouts_memory_caps_and_crashes_are_errors(lean_toolchain, tmp_path):
    item = [{"name": "x", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP}]
    assert Verifier(lean_toolchain, _config(timeout=0.001)).verify(item)[0].reason.startswith("timeout")
    assert Verifier(lean_toolchain, _config(memory_mb=1)).verify(item)[0].reason.startswith("memory cap")
    crash = _fake_lean(tmp_path, "kill -SEGV $$")
    v = Verifier(crash, _config()).verify(item)[0]
    assert v.verdict == "error" and "crashed" in v.reason
    sleeper = _fake_lean(tmp_path, "sleep 60")
    t0 = time.monotonic()
    v = Verifier(sleeper, _config(timeout=1.0)).verify(item)[0]
    assert v.verdict == "error" and "timeout" in v.reason and time.monotonic() - t0 < 10
    silent = _fake_lean(tmp_path, "exit 0")
    v = Verifier(silent, _config()).verify(item)[0]
    assert v.verdict == "error" and "no answer" in v.reason


def test_malformed_rows_are_errors_and_the_rest_go_on(lean_toolchain):
    rows = [
        {"name": "ok", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP},
        {"name": "no-proof", "header": HEADER, "formal_statement": AND_SWAP},
        "not an object",
        {"name": "no-theorem", "header": HEADER, "formal_statement": "def x : Prop :=", "proof": " True"},
        {"name": "bad-end", "header": HEADER, "formal_statement": "theorem t : True", "proof": " True.intro"},
        {"name": "bad-statement", "header": HEADER, "formal_statement": "theorem t : Undefined :=", "proof": " x"},
        {"name": "exists-already", "header": HEADER, "formal_statement": "theorem propext : True :=",
         "proof": " True.intro"},
        {"name": "ok2", "header": HEADER, "formal_statement": "theorem t2 : True :=", "proof": " True.intro"},
    ]
    out = Verifier(lean_toolchain, _config()).verify(rows)
    assert [v.verdict for v in out] == ["proved", "error", "error", "error", "error", "error", "error", "proved"]
    assert "exactly one of 'proof' or 'code'" in out[1].reason
    assert out[2].name == "item 2" and "expected a JSON object" in out[2].reason
    assert "declares no" in out[3].reason and "must end" in out[4].reason
    assert "does not elaborate" in out[5].reason and "already exists" in out[6].reason


def test_allowed_axioms_are_configurable(lean_toolchain):
    row = next(r for r in ADVERSARIAL if r["name"] == "iff_eq#propext")
    assert Verifier(lean_toolchain, _config()).verify(_items([row]))[0].proved
    strict = Verifier(lean_toolchain, _config(allowed_axioms=())).verify(_items([row]))[0]
    assert strict.verdict == "rejected" and "propext" in strict.reason


def test_cache_hit_needs_no_lean(lean_toolchain, tmp_path, monkeypatch):
    items = [{"name": "a", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP},
             {"name": "b", "header": HEADER, "formal_statement": AND_SWAP, "proof": " And.intro hp hq"}]
    cfg = _config(cache=True, cache_dir=tmp_path / "cache")
    first = Verifier(lean_toolchain, cfg).verify(items)
    assert [v.verdict for v in first] == ["proved", "rejected"] and not any(v.cached for v in first)

    calls = _count_runs(monkeypatch)
    second = Verifier(lean_toolchain, cfg).verify(items)
    assert calls == []  # answered from the cache: no Lean at all
    assert [(v.verdict, v.reason, v.cached) for v in second] == [(v.verdict, v.reason, True) for v in first]
    other_axioms = Verifier(lean_toolchain, VerifierConfig(cache=True, cache_dir=tmp_path / "cache",
                                                           allowed_axioms=("propext",)))
    assert other_axioms.verify(items[:1])[0].proved and len(calls) == 1  # another question: not a hit


def test_verify_proof_and_iter_verify(lean_toolchain):
    thm = Theorem("and_swap", HEADER, AND_SWAP)
    assert verify_proof(lean_toolchain, thm, SWAP, _config()).proved
    assert not verify_proof(lean_toolchain, thm, " h", _config()).proved
    items = [VerifyItem("t", HEADER, AND_SWAP, proof=" sorry"), VerifyItem("u", HEADER, AND_SWAP, proof=SWAP)]
    seen = list(Verifier(lean_toolchain, _config()).iter_verify(items))
    assert seen[0][0] == 0 and seen[0][1].verdict == "rejected"  # text checks decide before any Lean runs
    assert sorted(i for i, _ in seen) == [0, 1]


def test_prover_verify_cli_writes_resumes_and_summarises(lean_toolchain, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [json.dumps(r) for r in _items(ADVERSARIAL[:3] + ADVERSARIAL[12:14])]
    src.write_text("\n".join([rows[0], "{not json", rows[1], "", rows[2], rows[3], rows[4], '["a list"]']) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["verify", str(src), "--out", str(out), "--lean", str(lean_toolchain.lean), "--workers", "2",
            "--no-cache", "--no-progress"]
    assert prover_main(args) == 1  # two lines are errors (bad input): not every line was decided
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["line"] for r in got) == [1, 2, 3, 5, 6, 7, 8]
    by_line = {r["line"]: r for r in got}
    assert by_line[2]["verdict"] == "error" and "not valid JSON" in by_line[2]["reason"]
    assert by_line[8]["reason"] == f"bad input: {src}:8: expected a JSON object, got list"
    assert [by_line[n]["verdict"] for n in (1, 3, 5, 6, 7)] == ["proved"] * 3 + ["rejected"] * 2
    assert set(by_line[1]) >= {"name", "verdict", "reason", "messages", "seconds"}
    assert "proved 3, rejected 2, error 2" in capsys.readouterr().out
    assert prover_main(args) == 1  # resume: nothing left to do, the two errors are still there
    assert len(out.read_text().splitlines()) == 7
    assert "7 already in" in capsys.readouterr().err


def test_prover_verify_cli_to_stdout(lean_toolchain, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(_items(ADVERSARIAL[:1])[0]) + "\n")
    assert prover_main(["verify", str(src), "--lean", str(lean_toolchain.lean), "--no-cache", "--no-progress"]) == 0
    cap = capsys.readouterr()
    row = json.loads(cap.out.strip())
    assert row["verdict"] == "proved" and row["line"] == 1 and "proved 1, rejected 0, error 0" in cap.err


def test_prover_verify_cli_usage_and_missing_toolchain(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("")
    assert prover_main(["verify", str(src), "--workers", "0"]) == 2
    assert prover_main(["verify", str(tmp_path / "missing.jsonl")]) == 2
    monkeypatch.setenv("PATH", str(tmp_path))
    assert prover_main(["verify", str(src), "--lean", str(tmp_path / "nope")]) == 1
    assert "LeanNotFound" in capsys.readouterr().err
    assert os.environ["PATH"] == str(tmp_path)


def test_an_internal_error_costs_only_its_items(lean_toolchain, monkeypatch):
    real = verifier_mod.judge

    def flaky(cf, run, index, allowed, *, batch):
        if "boom" in cf.source:
            raise RuntimeError("boom")
        return real(cf, run, index, allowed, batch=batch)

    monkeypatch.setattr(verifier_mod, "judge", flaky)
    items = [{"name": "boom", "header": HEADER, "formal_statement": "theorem boom : True :=", "proof": " True.intro"},
             {"name": "ok", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP}]
    out = Verifier(lean_toolchain, _config(batch_size=1)).verify(items)
    assert out[0].verdict == "error" and "internal error: RuntimeError: boom" in out[0].reason
    assert out[1].proved
