"""One copy of each Lean-text rule: which name a statement declares (and renaming it), and which
axioms a proof may use.  Every reader of statements (verifier, REPL env, term env, dataset readers,
REPL double) goes through `lean_env.verify_text`, so the cases below hold for all of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.types import Theorem
from doubles.repl_double import WorldServer
from doubles.scripted import ScriptedTheorem, ScriptedWorld
from eval.datasets import parse_lean_source
from lean_env.repl import CommandResult, ReplMessage
from lean_env.repl_env import ReplEnv, decl_name
from lean_env.term_env import statement_with_name
from lean_env.verifier import DEFAULT_AXIOMS
from lean_env.verify_file import rename_statement
from lean_env.verify_text import declared_name, rename_declaration, starts_declaration

# (statement, the name every reader must find)
NAMED = [
    ("theorem foo : True := by", "foo"),
    ("theorem foo: True := by", "foo"),                       # no space before the colon
    ("theorem foo(x : Nat) : x = x := by", "foo"),            # nor before a binder
    ("lemma Foo.bar_baz' (a : α) : a = a :=", "Foo.bar_baz'"),
    ("@[simp] private theorem t₁ : True := by", "t₁"),
    ("/-- doc -/\ntheorem «my thm» : True := by", "«my thm»"),
]


@pytest.mark.parametrize(("statement", "name"), NAMED)
def test_every_reader_finds_the_same_name(statement, name):
    assert declared_name(statement).name == name
    assert decl_name(statement) == name                       # the REPL env's `#print axioms` target
    stmt = statement.rsplit(":=", 1)[0].rstrip()
    world = ScriptedWorld([ScriptedTheorem("fallback", stmt, "⊢ True")], {"⊢ True": {"trivial": []}})
    decls: dict[str, list[str]] = {}
    WorldServer(world)._theorem(stmt + " := by trivial", world.theorems[0], 0, decls, [], [])
    assert list(decls) == [name]                              # the REPL double records the same name


def test_renaming_keeps_everything_but_the_name():
    assert rename_declaration("theorem foo (x : Nat) : x = x :=", "bar") == "theorem bar (x : Nat) : x = x :="
    assert rename_declaration("lemma foo : True := by", "bar", keyword="theorem") == "theorem bar : True := by"
    assert rename_declaration("example : True :=", "T") == "theorem T : True :="
    assert rename_declaration("@[simp] theorem «a b» : True :=", "c") == "@[simp] theorem c : True :="
    assert rename_statement("theorem «a b» : True :=", "_ref") == ("theorem «a b_ref» : True :=", "«a b_ref»")
    assert statement_with_name("lemma foo : True :=", "T1") == "theorem T1 : True :="
    with pytest.raises(ValueError, match="must start with"):
        statement_with_name("@[simp] theorem foo : True :=", "T1")  # the term env takes no attributes
    with pytest.raises(ValueError, match="declares no"):
        rename_declaration("def f : Nat := 1", "g")


def test_an_example_has_no_name_unless_asked_for():
    assert decl_name("example : True := by") is None
    with pytest.raises(ValueError):
        declared_name("example : True := by")
    d = declared_name("example : True := by", allow_example=True)
    assert (d.keyword, d.name, d.start) == ("example", "", len("example"))


def test_a_declaration_must_start_the_text():
    assert starts_declaration("private nonrec theorem t : True := trivial").name == "t"
    assert starts_declaration("def f : Nat := 1\ntheorem t : True := trivial") is None
    assert starts_declaration("open Foo in\ntheorem t : True := trivial") is None


def test_lean_files_are_read_with_the_same_rule():
    src = ("import Mathlib\n\n@[simp]\ntheorem on_two_lines : True := by\n  trivial\n\n"
           "lemma «quoted name»: 1 = 1 := rfl\n\n"
           "def helper : Nat := 1\n\n"
           "private theorem hidden(x : Nat) : x = x := by rfl\n")
    ths = parse_lean_source(src, "t.lean")
    assert [t.name for t in ths] == ["on_two_lines", "«quoted name»", "hidden"]
    assert ths[0].formal_statement == "@[simp]\ntheorem on_two_lines : True := by"
    assert ths[1].formal_statement == "theorem «quoted name»: 1 = 1 :="   # lemma -> theorem, nothing else
    assert "def helper" in ths[2].header and ths[2].extra["proof"] == "rfl"


# -- the allowed axioms: one list, lean_env.verifier.DEFAULT_AXIOMS --------------------------------


@dataclass
class _AxiomsClient:
    """Answers every command with `'t' depends on axioms: [...]`, as the REPL does for #print axioms."""

    axioms: list[str]
    generation: int = 1
    alive: bool = True
    requests: list[str] = field(default_factory=list)

    def env_for_header(self, header: str) -> int:
        return 0

    def command(self, text: str, env: int | None) -> CommandResult:
        self.requests.append(text)
        return CommandResult(1, [ReplMessage("info", f"'t' depends on axioms: [{', '.join(self.axioms)}]")])

    def close(self) -> None:
        return None


def test_the_repl_check_allows_exactly_the_verifiers_axioms():
    thm = Theorem("t", "", "theorem t : True := by")
    ok = ReplEnv(client=_AxiomsClient(list(DEFAULT_AXIOMS)))  # type: ignore[arg-type]
    assert ok.check(thm, "\n  trivial").ok
    assert ok.client.requests[0].endswith("#print axioms t")
    bad = ReplEnv(client=_AxiomsClient([*DEFAULT_AXIOMS, "Classical.em_axiom"]))  # type: ignore[arg-type]
    res = bad.check(thm, "\n  trivial")
    assert not res.ok and "Classical.em_axiom" in res.reason
