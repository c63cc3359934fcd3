"""The verifier's parts that need no Lean: reading candidate text, the file layout, parsing answers."""

from __future__ import annotations

import pytest

from lean_env.verifier import VerifyItem, _candidate
from lean_env.verify_cache import VerdictCache, cache_key
from lean_env.verify_file import Entry, axioms_of, build_file, declaration_kind, signature
from lean_env.verify_text import (
    NameIndex,
    declared_name,
    forbidden_reason,
    mask,
    mentions_any,
    plain_proof,
    split_statement_end,
    tokens,
)


def test_mask_hides_comments_and_strings_but_keeps_offsets():
    text = 'a -- sorry\n/- axiom /- nested -/ still -/ b "sorry {x}" \'s\' c'
    m = mask(text)
    assert len(m.text) == len(text) and m.text.count("\n") == 1
    assert [t.text for t in tokens(m.text)] == ["a", "b", "x", "c"]
    assert not m.unterminated_comment
    assert mask("x /- open").unterminated_comment
    assert mask('x "open').unterminated_string


def test_identifiers_with_primes_dots_and_quotes():
    toks = [t.text for t in tokens(mask("h' Nat.succ_le «weird name».x _root_.foo 2x h₁").text)]
    assert toks == ["h'", "Nat.succ_le", "«weird name».x", "_root_.foo", "h₁"]


@pytest.mark.parametrize("text, word", [
    (" sorry", "sorry"), (" _root_.«sorryAx» _ b", "sorryAx"), ("\n#exit", "#exit"),
    ("\naxiom c : False", "axiom"), ("\nset_option debug.skipKernelTC true in", "debug.skipKernelTC"),
    ('\nmacro "x" : term => `(1)', "macro"), ("\n@[implemented_by f] def g := 1", "implemented_by"),
    ("\nunsafe def f : False := f", "unsafe"), ('\nnotation "A" => B', "notation"), ("\n#eval 1", "#eval"),
    ('s!"{by_elab pure ()}"', "by_elab"), ("\n#guard_msgs (drop error) in\ntheorem x : False := h", "#guard_msgs"),
])
def test_forbidden_tokens_are_found(text, word):
    why = forbidden_reason(text)
    assert why is not None and word in why


@pytest.mark.parametrize("text", [
    " And.intro hq hp", "\n  -- sorry, not a sorry: a comment\n  exact h", ' "sorry"', " sorry_free_lemma h",
    "\n  simp [axiomatic]\n  exact h.1",
])
def test_honest_text_passes(text):
    assert forbidden_reason(text) is None


def test_unterminated_comment_is_forbidden():
    assert "unterminated comment" in (forbidden_reason(" h /- hide the rest") or "")


def test_declared_name_and_statement_end():
    d = declared_name("/-- doc -/\n@[simp] theorem Foo.bar_baz {α : Type} (a : α) : a = a := by")
    assert (d.keyword, d.name) == ("theorem", "Foo.bar_baz") and "@[simp]" in d.modifiers
    assert declared_name("lemma «my lemma» : True :=").name == "«my lemma»"
    assert split_statement_end("theorem t : True := by\n") == ("theorem t : True :=", True)
    assert split_statement_end("theorem t : True :=  -- c") == ("theorem t : True :=", False)
    with pytest.raises(ValueError, match="declares no"):
        declared_name("def f : Nat := 1")
    with pytest.raises(ValueError, match="must end"):
        split_statement_end("theorem t : True := by_contra")


def test_plain_proof_is_conservative():
    assert plain_proof(" And.intro hq hp")
    assert plain_proof("\n  intro h\n  exact h")
    assert not plain_proof(" h\ntheorem other : True := trivial")   # a new command
    assert not plain_proof(" h\n  where aux : True := trivial")     # declares something
    assert not plain_proof("\nh")                                    # a line at column 0
    assert not plain_proof(" h /- open")
    assert not plain_proof("\n  open Foo in exact h")


def test_mentions_other_names():
    assert mentions_any(" helper p q", {"helper"})
    assert mentions_any(" helper.aux p", {"helper"})
    assert mentions_any(" _root_.helper p", {"helper"})
    assert not mentions_any(" helpers p -- helper", {"helper"})
    assert mentions_any(" aux p", {"helper.aux"})
    index = NameIndex({"a", "b", "c.d"})
    assert index.named_in(" a b d", ignore="a") == {"b", "c.d"}
    assert index.named_in(" a -- b", ignore="a") == set()


def test_code_that_restates_the_statement_becomes_batchable():
    st = "theorem t (p : Prop) (h : p) : p :="
    item = VerifyItem("t", "prelude\n", st, code=f"prelude\n{st} h")
    text, rest = _candidate(item)
    assert rest == " h" and text.strip().startswith(st)
    by = VerifyItem("t", "", "theorem t : True := by", code="theorem t : True := by_cases")
    assert _candidate(by)[1] is None  # `by_cases` is not `by`


def test_item_rows_are_validated_with_where():
    ok = VerifyItem.from_dict({"name": "a", "header": "", "formal_statement": "theorem a : True :=", "proof": " x"}, "f:1")
    assert ok.proof == " x"
    bad = [
        ([1, 2], "expected a JSON object"),
        ({"formal_statement": "theorem a : True :=", "proof": "x"}, "'name'"),
        ({"name": "a", "formal_statement": "theorem a : True :="}, "exactly one"),
        ({"name": "a", "formal_statement": "theorem a : True :=", "proof": "x", "code": "y"}, "exactly one"),
        ({"name": "a", "formal_statement": "theorem a : True :=", "proof": 3}, "'proof'"),
        ({"name": "a", "header": 1, "formal_statement": "theorem a : True :=", "proof": "x"}, "'header'"),
    ]
    for row, msg in bad:
        with pytest.raises(ValueError, match=msg) as e:
            VerifyItem.from_dict(row, "in.jsonl:7")
        assert "in.jsonl:7" in str(e.value)


def test_file_layout_puts_references_first_and_checks_after():
    st = "theorem t (p : Prop) (h : p) : p := by"
    cf = build_file("prelude", [Entry("t", st, st + "\n  exact h"), Entry("t", st, st + " h")], batch=True, nonce="N")
    lines = cf.source.split("\n")
    refs = [i for i, line in enumerate(lines, 1) if "_vref_N_" in line and line.startswith("theorem")]
    assert len(refs) == 2 and all(r < cf.slots[0].cand[0] for r in refs)
    assert lines[refs[0] - 1].endswith(":= verifySorry_N _")          # `by` dropped, proved by our sorry
    assert lines[cf.slots[1].target_check - 1].endswith("#check @VerifyItem_N_1.t")
    assert lines[cf.sentinel - 1] == "#print axioms verifySorry_N"
    alone = build_file("", [Entry("t", st, st + " h")], batch=False, nonce="M")
    src = alone.source.split("\n")
    assert src[alone.slots[0].precheck - 1] == "#check_failure @t"
    assert src[alone.slots[0].end - 1] == "end VerifySection_M"


def test_reading_answers():
    assert signature("@foo.{u_1, v} : ∀ {α : Sort u_1},\n  α") == ("u_1,v", "∀ {α : Sort u_1}, α")
    assert signature("foo : True") == ("", "True")
    assert axioms_of("'x' depends on axioms: [propext,\n Classical.choice]") == ["propext", "Classical.choice"]
    assert axioms_of("'x' does not depend on any axioms") == []
    assert axioms_of("garbage") is None
    assert declaration_kind("theorem foo : True :=\n⋯") == {"theorem"}
    assert declaration_kind("@[reducible] unsafe def foo : False :=\nfoo") == {"unsafe", "def"}
    assert declaration_kind("axiom foo : False") == {"axiom"}


def test_cache_roundtrip(tmp_path):
    c = VerdictCache(tmp_path)
    k1, k2 = cache_key("v", "header", "stmt", "proof"), cache_key("v", "header", "stmt", "proof2")
    assert k1 != k2 and len(k1) == 64
    assert c.get(k1) is None
    c.put(k1, {"verdict": "proved", "reason": "proved", "messages": []})
    assert c.get(k1)["verdict"] == "proved" and c.get(k2) is None
    (tmp_path / k2[:2]).mkdir(exist_ok=True)
    (tmp_path / k2[:2] / f"{k2}.json").write_text("{torn")
    assert c.get(k2) is None
