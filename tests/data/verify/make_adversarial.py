"""Writes adversarial.jsonl: honest proofs and every cheat we know, over the test prelude.

Run: python tests/data/verify/make_adversarial.py   (the JSONL is committed; this documents it)
Each row: name, header, formal_statement, proof | code, expect (proved | rejected), cheat (what it tries).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = (HERE / "prelude.lean").read_text(encoding="utf-8")

AND_SWAP = "theorem and_swap (p q : Prop) (h : And p q) : And q p :="
OR_SWAP = "theorem or_swap (p q : Prop) (h : Or p q) : Or q p :="
MP = "theorem mp (p q : Prop) (hp : p) (hpq : p → q) : q :="
FALSE_ELIM = "theorem false_elim (p : Prop) (h : False) : p :="
EQ_SELF = "theorem eq_self {α : Sort u} (a : α) : Eq a a :="
PROPEXT = "theorem iff_eq (a b : Prop) (h : Iff a b) : Eq a b :="
NOT_FALSE = "theorem not_false : Not False :="
DEFAULT_TRUE = "theorem default_is_true : Eq (Inhabited.default : Bool) Bool.true :="  # false in the prelude
SWAP_PROOF = "And.rec (fun hp hq => And.intro hq hp) h"

HONEST = [
    ("and_swap", AND_SWAP, {"proof": " " + SWAP_PROOF}),
    ("and_swap#thought", AND_SWAP, {"proof": "\n  -- take the pair apart and put it back swapped\n  " + SWAP_PROOF}),
    ("or_swap", OR_SWAP, {"proof": " Or.rec (fun hp => Or.inr hp) (fun hq => Or.inl hq) h"}),
    ("mp", MP, {"proof": " hpq hp"}),
    ("false_elim", FALSE_ELIM, {"proof": " False.rec (fun _ => p) h"}),
    ("eq_self", EQ_SELF, {"proof": " Eq.refl"}),
    ("iff_eq#propext", PROPEXT, {"proof": " propext h"}),
    ("not_false", NOT_FALSE, {"proof": " fun h => h"}),
    ("and_swap#code", AND_SWAP, {"code": f"{AND_SWAP}\n  {SWAP_PROOF}"}),
    ("and_swap#code-with-header", AND_SWAP, {"code": f"{HEADER}\n{AND_SWAP} {SWAP_PROOF}"}),
    ("and_swap#code-helper", AND_SWAP, {"code": "theorem swap_helper (p q : Prop) (hp : p) (hq : q) : And q p :=\n"
                                               "  And.intro hq hp\n\n"
                                               f"{AND_SWAP} And.rec (fun hp hq => swap_helper p q hp hq) h"}),
    ("mp#renamed-binders-kept", MP, {"code": "/-- modus ponens -/\ntheorem mp (p q : Prop) (hp : p) (hpq : p → q) : q :=\n  hpq hp"}),
]

CHEATS = [
    ("sorryAx directly", AND_SWAP, {"proof": " sorryAx _ Bool.false"}),
    ("sorry keyword", AND_SWAP, {"proof": " sorry"}),
    ("sorryAx in «quotes» via _root_", AND_SWAP, {"proof": " _root_.«sorryAx» _ Bool.false"}),
    ("new axiom, then use it", AND_SWAP, {"code": "axiom cheat (p q : Prop) : And q p\n"
                                                 f"{AND_SWAP} cheat p q"}),
    ("axiom injected through the proof", AND_SWAP, {"proof": " cheat2 p q\naxiom cheat2 (p q : Prop) : And q p"}),
    ("changed statement (weaker conclusion)", AND_SWAP,
     {"code": "theorem and_swap (p q : Prop) (h : And p q) : p := And.rec (fun hp hq => hp) h"}),
    ("changed statement (extra hypothesis)", MP, {"code": "theorem mp (p q : Prop) (hp : p) (hpq : p → q) (hq : q) : q := hq"}),
    ("changed universe (specialised)", EQ_SELF, {"code": "theorem eq_self {α : Sort 1} (a : α) : Eq a a := Eq.refl"}),
    ("renamed target", AND_SWAP, {"code": f"theorem and_swap' (p q : Prop) (h : And p q) : And q p := {SWAP_PROOF}"}),
    ("homoglyph target name (Cyrillic a)", AND_SWAP,
     {"code": f"theorem \u0430nd_swap (p q : Prop) (h : And p q) : And q p := {SWAP_PROOF}"}),
    ("namespaced target", AND_SWAP, {"code": f"namespace Cheat\n{AND_SWAP} {SWAP_PROOF}\nend Cheat"}),
    ("namespace left open", AND_SWAP, {"code": f"namespace Cheat\n{AND_SWAP} {SWAP_PROOF}"}),
    ("example instead of theorem", AND_SWAP, {"code": f"example (p q : Prop) (h : And p q) : And q p := {SWAP_PROOF}"}),
    ("target declared as an axiom", AND_SWAP, {"code": "axiom and_swap (p q : Prop) (h : And p q) : And q p"}),
    ("unsafe recursive def", AND_SWAP, {"code": "unsafe def and_swap (p q : Prop) (h : And p q) : And q p := and_swap p q h"}),
    ("partial def", AND_SWAP, {"code": "partial def and_swap (p q : Prop) (h : And p q) : And q p := and_swap p q h"}),
    ("opaque without a value", AND_SWAP, {"code": "opaque and_swap (p q : Prop) (h : And p q) : And q p"}),
    ("@[implemented_by] opaque", AND_SWAP,
     {"code": "def impl (p q : Prop) (h : And p q) : And q p := impl p q h\n"
              "@[implemented_by impl] opaque and_swap (p q : Prop) (h : And p q) : And q p"}),
    ("def instead of theorem", AND_SWAP, {"code": f"def and_swap (p q : Prop) (h : And p q) : And q p := {SWAP_PROOF}"}),
    ("#exit before a bogus proof", AND_SWAP, {"code": f"#exit\n{AND_SWAP} cheat"}),
    ("#exit injected after a bogus proof", AND_SWAP, {"proof": " hp\n#exit"}),
    ("unterminated comment swallows the checks", AND_SWAP, {"code": f"/- the rest is a comment\n{AND_SWAP} cheat"}),
    ("`end` to escape the verifier's scope", AND_SWAP, {"proof": f" {SWAP_PROOF}\nend\nend\ndef x : Prop := False"}),
    ("debug.skipKernelTC", FALSE_ELIM, {"code": "set_option debug.skipKernelTC true in\n"
                                                f"{FALSE_ELIM} sorryAx p Bool.false"}),
    ("notation redefines And", AND_SWAP, {"code": f"notation \"And\" => Or\n{AND_SWAP} {SWAP_PROOF}"}),
    ("macro for a fake proof", AND_SWAP, {"code": f"macro \"trust_me\" : term => `(sorryAx _ Bool.false)\n{AND_SWAP} trust_me"}),
    ("#eval side effects", AND_SWAP, {"proof": f" {SWAP_PROOF}\n#eval 1"}),
    ("shadow And in a namespace, declare _root_ target", AND_SWAP,
     {"code": "namespace X\ndef And (a b : Prop) : Prop := True\n"
              "theorem _root_.and_swap (p q : Prop) (h : And p q) : And q p := True.intro\nend X"}),
    ("variable smuggles a False hypothesis", FALSE_ELIM,
     {"code": f"variable (hbad : False)\n{FALSE_ELIM} False.rec (fun _ => p) hbad"}),
    ("local instance changes what the statement means", DEFAULT_TRUE,
     {"code": "instance cheatInst : Inhabited Bool := Inhabited.mk Bool.true\n"
              f"{DEFAULT_TRUE} Eq.refl"}),
    ("axiom under an allowed name the header lacks (Classical.choice)", FALSE_ELIM,
     {"code": f"namespace Classical\naxiom choice : False\nend Classical\n{FALSE_ELIM} False.rec (fun _ => p) Classical.choice"}),
    ("recursive use of the target", AND_SWAP, {"proof": " and_swap p q h"}),
    ("empty proof", AND_SWAP, {"proof": ""}),
    ("import injected", AND_SWAP, {"proof": f" {SWAP_PROOF}\nimport Cheat"}),
    ("fake #print axioms output after a sorry", AND_SWAP, {"proof": " sorryAx _ Bool.false\n#print axioms True.intro"}),
]


def rows() -> list[dict]:
    out = []
    for name, stmt, body in HONEST:
        out.append({"name": name, "header": HEADER, "formal_statement": stmt, **body, "expect": "proved", "cheat": ""})
    for k, (cheat, stmt, body) in enumerate(CHEATS):
        out.append({"name": f"cheat{k:02d}", "header": HEADER, "formal_statement": stmt, **body,
                    "expect": "rejected", "cheat": cheat})
    return out


if __name__ == "__main__":
    path = HERE / "adversarial.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
