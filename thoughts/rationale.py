"""Retrospective rationales (Lean-STaR): given a proof state and the step that was taken in a
known proof, write the thought that leads to that step, to train the thought-then-tactic format.

Teachers (all implement `Teacher`):

* `RuleTeacher`  explains a step of the logic benchmark from the goal's shape (no model needed).
* `HFTeacher`    any local transformers causal LM (path or hub id).
* `OpenAITeacher` an OpenAI-compatible `/v1/chat/completions` endpoint (stdlib urllib).

`add_rationales(examples, out, teacher)` turns a training file into one with thoughts, appending
as it goes so an interrupted run resumes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from thoughts.format import DELIMITERS

log = logging.getLogger(__name__)

MAX_THOUGHT_CHARS = 600


class TeacherError(RuntimeError):
    """A teacher could not produce a rationale (endpoint down, bad reply, ...)."""


class Teacher(Protocol):
    name: str

    def explain_batch(self, items: Sequence[tuple[str, str]]) -> list[str]:
        """Rationales for (state text, tactic) pairs, same order; "" where none could be written."""
        ...


def clean_thought(text: str, max_chars: int = MAX_THOUGHT_CHARS) -> str:
    """A teacher's answer made safe as a thought: no delimiters, no code fences, bounded length."""
    for d in DELIMITERS:
        text = text.replace(d, " ")
    text = text.replace("```", " ").strip().strip('"').strip()
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    text = paragraphs[0] if paragraphs else ""
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut[: cut.rfind(" ")] if " " in cut else cut
    return text.strip()


# ---------------------------------------------------------------------------------------------
# Reading Lean goals (both notation `p ∧ q` and prefix form `And p q`)


@dataclass(frozen=True)
class Expr:
    """A proposition's shape: kind in and/or/iff/imp/not/forall/exists/false/true/atom."""

    kind: str
    text: str
    args: tuple[Expr, ...] = ()
    var: str = ""


@dataclass(frozen=True)
class Goal:
    hyps: dict[str, str] = field(default_factory=dict)  # name -> type text
    target: str = ""


def parse_goal(goal_text: str) -> Goal:
    """Hypotheses and target of the FIRST goal in a state text (goals are separated by blank lines)."""
    first = goal_text.strip().split("\n\n")[0]
    hyps: dict[str, str] = {}
    target: list[str] = []
    names: list[str] = []  # the hypotheses (or the target) a continuation line belongs to
    in_target = False
    for line in first.splitlines():
        if line.startswith("⊢"):
            target, in_target, names = [line[1:].strip()], True, []
        elif line[:1].isspace() and (in_target or names):  # continuation of a long type
            if in_target:
                target.append(line.strip())
            for n in names:
                hyps[n] = f"{hyps[n]} {line.strip()}"
        elif " : " in line and not in_target:
            left, typ = line.split(" : ", 1)
            names = left.split()
            for n in names:
                hyps[n] = typ.strip()
        else:
            names = []
    return Goal(hyps, " ".join(target).strip())


_BINDERS = ("∀", "∃", "fun ", "λ")
_INFIX = (("↔", "iff"), ("→", "imp"), ("∨", "or"), ("∧", "and"), ("=", "eq"))  # lowest precedence first


def _strip_parens(s: str) -> str:
    s = s.strip()
    while s.startswith("(") and s.endswith(")"):
        depth = 0
        for i, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(s) - 1:
                return s
        s = s[1:-1].strip()
    return s


def _top_level_split(s: str, op: str) -> tuple[str, str] | None:
    """Split at the first `op` outside parentheses and before any binder (binders extend right)."""
    depth = 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        elif depth == 0:
            if any(s.startswith(b, i) and (i == 0 or s[i - 1] in " (") for b in _BINDERS):
                return None
            if s.startswith(op, i):
                return s[:i].strip(), s[i + len(op):].strip()
        i += 1
    return None


def _atoms(s: str) -> list[str]:
    """Whitespace-separated top-level pieces of an application `f a (b c)`."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def _binder(s: str, kind: str) -> Expr:
    """`∀ x, body` / `∃ x, body` / `fun x => body` (with optional type ascriptions)."""
    m = re.match(r"^(?:∀|∃|fun|λ)\s*\(?\s*([^\s,:()=]+)[^,=]*?(?:,|=>)\s*(.*)$", s, re.S)
    if not m:
        return Expr("atom", s)
    return Expr(kind, s, (parse_prop(m.group(2)),), var=m.group(1))


def parse_prop(text: str) -> Expr:
    """The shape of a proposition; anything unrecognised is an `atom`.  Never raises."""
    s = _strip_parens(text)
    if not s:
        return Expr("atom", text)
    for op, kind in _INFIX:
        parts = _top_level_split(s, f" {op} ")
        if parts:
            return Expr(kind, s, (parse_prop(parts[0]), parse_prop(parts[1])))
    if s.startswith("¬"):
        return Expr("not", s, (parse_prop(s[1:]),))
    if s.startswith("∀"):
        return _binder(s, "forall")
    if s.startswith("∃"):
        return _binder(s, "exists")
    atoms = _atoms(s)
    head, args = atoms[0], atoms[1:]
    if head == "Exists" and args:
        inner = _strip_parens(s[len("Exists"):])
        lam = _binder(inner, "exists")
        return Expr("exists", s, lam.args, var=lam.var) if lam.kind == "exists" else Expr("atom", s)
    arity = {"And": ("and", 2), "Or": ("or", 2), "Iff": ("iff", 2), "Not": ("not", 1), "Eq": ("eq", 2)}
    if head in arity and len(args) == arity[head][1]:
        return Expr(arity[head][0], s, tuple(parse_prop(a) for a in args))
    if s == "False":
        return Expr("false", s)
    if s == "True":
        return Expr("true", s)
    return Expr("atom", s)


_SHAPE_WORDS = {
    "and": "a conjunction", "or": "a disjunction", "iff": "an equivalence", "imp": "an implication",
    "not": "a negation", "forall": "a universal statement", "exists": "an existential statement",
    "false": "False", "true": "True", "atom": "an atomic proposition", "eq": "an equation",
}


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", _strip_parens(s)).strip()


def _hyp_with_type(goal: Goal, typ: str) -> str | None:
    want = _norm(typ)
    return next((h for h, t in goal.hyps.items() if _norm(t) == want), None)


def _term_type(goal: Goal, term: str) -> Expr | None:
    """The proposition a proof term built from hypotheses proves: `h`, `h.1.2`, `h.mp`,
    `Eq.symm h`, `(h.2)`; None when it is not one of these."""
    term = _strip_parens(term)
    atoms = _atoms(term)
    if len(atoms) == 2 and atoms[0] == "Eq.symm":
        inner = _term_type(goal, atoms[1])
        if inner is None or inner.kind != "eq":
            return None
        a, b = inner.args
        return Expr("eq", f"Eq {_paren(b.text)} {_paren(a.text)}", (b, a))
    if len(atoms) != 1:
        return None
    base, *fields = term.split(".")
    if base not in goal.hyps:
        return None
    e = parse_prop(goal.hyps[base])
    for f in fields:
        if e.kind == "and" and f in ("1", "left"):
            e = e.args[0]
        elif e.kind == "and" and f in ("2", "right"):
            e = e.args[1]
        elif e.kind == "iff" and f in ("1", "mp", "2", "mpr"):
            a, b = e.args if f in ("1", "mp") else e.args[::-1]
            e = Expr("imp", f"{a.text} → {b.text}", (a, b))
        else:
            return None
    return e


def _paren(text: str) -> str:
    return f"({text})" if " " in text.strip() else text


# ---------------------------------------------------------------------------------------------
# The rule-based teacher


class RuleTeacher:
    """Explains a step from the shape of the goal and of the hypotheses it uses.

    Written for the logic benchmark's term fillings (`fun h => ?_`, `And.intro ?_ ?_`,
    `Or.elim h ?_ ?_`, `h.1`, `False.elim ?_`, `Exists.intro x ?_`, ...) and the matching Lean
    tactics (`intro`, `constructor`, `cases`, `exact`, `left`, `exfalso`, `use`, ...)."""

    name = "rule"

    def explain_batch(self, items: Sequence[tuple[str, str]]) -> list[str]:
        return [self.explain(state, tactic) for state, tactic in items]

    def explain(self, state: str, tactic: str) -> str:
        goal = parse_goal(state)
        target = parse_prop(goal.target) if goal.target else Expr("atom", "")
        try:
            return self._explain(goal, target, tactic.strip())
        except Exception:  # a rule must never stop a data pipeline; fall back to the shape
            log.debug("rule teacher failed on %r / %r", state, tactic, exc_info=True)
            return self._fallback(target, tactic.strip())

    def _fallback(self, target: Expr, tactic: str) -> str:
        if not target.text:
            return f"Make progress on the goal with the step `{tactic}`."
        return f"The goal {target.text} is {_SHAPE_WORDS[target.kind]}; the step `{tactic}` makes progress on it."

    def _explain(self, goal: Goal, t: Expr, tac: str) -> str:
        a = _atoms(tac) or [""]
        head, args = a[0], a[1:]
        hyp = goal.hyps

        # introductions
        m = re.match(r"^(?:fun|λ|intro|intros)\s+(.+?)(?:\s*=>.*)?$", tac, re.S)
        if m and head in ("fun", "λ", "intro", "intros"):
            names = m.group(1).strip()
            if names.startswith("⟨"):
                return (f"The goal starts with an assumption that is a compound: "
                        f"take it apart as {names} and continue with what it provides.")
            first = names.split()[0]
            if t.kind == "imp":
                return f"The goal is an implication: assume {t.args[0].text} as {first}, then prove {t.args[1].text}."
            if t.kind == "not":
                return (f"The goal is the negation ¬{t.args[0].text}, which means {t.args[0].text} → False: "
                        f"assume {t.args[0].text} as {first} and derive False.")
            if t.kind == "forall":
                return f"The goal is universal over {t.var}: take an arbitrary {first} and prove {t.args[0].text} for it."
            return f"The goal {t.text} is {_SHAPE_WORDS[t.kind]}; introduce {first} to expose what must be proved."

        # constructors for the goal
        if head in ("And.intro", "constructor", "⟨?_,", "Iff.intro") or (tac.startswith("⟨") and t.kind in ("and", "iff")):
            if t.kind == "and":
                return f"The goal is a conjunction: prove the left part {t.args[0].text} and the right part {t.args[1].text} separately."
            if t.kind == "iff":
                lhs, rhs = t.args[0].text, t.args[1].text
                return f"The goal is an equivalence: prove both directions, {lhs} → {rhs} and {rhs} → {lhs}."
        if head in ("Or.inl", "left", "Or.inr", "right") and t.kind == "or":
            side, other = (t.args[0], t.args[1]) if head in ("Or.inl", "left") else (t.args[1], t.args[0])
            word = "left" if head in ("Or.inl", "left") else "right"
            h = _hyp_with_type(goal, side.text)
            why = f"hypothesis {h} gives it directly" if h else f"it can be proved from the hypotheses, unlike {other.text}"
            return f"The goal is a disjunction: prove its {word} side {side.text}, since {why}."
        if head in ("Exists.intro", "use", "exists") or (tac.startswith("⟨") and t.kind == "exists"):
            w = args[0] if head != "⟨" and args else tac.strip("⟨⟩").split(",")[0].strip()
            if tac.startswith("⟨"):
                w = tac.strip("⟨⟩").split(",")[0].strip()
            return f"The goal is an existential statement over {t.var or 'a witness'}: take {w} as the witness and prove the property for it."
        if head in ("True.intro", "trivial") and t.kind == "true":
            return "The goal is True, which holds trivially."

        # eliminating a hypothesis
        if head in ("False.elim", "exfalso", "absurd", "False.rec"):
            neg = next((h for h, ty in hyp.items() if parse_prop(ty).kind == "not"), None)
            extra = f" The negation {neg} : {hyp[neg]} makes that possible." if neg else ""
            return f"The goal {t.text} does not follow directly, but the hypotheses are contradictory: prove False instead.{extra}"
        # equations
        if head in ("Eq.refl", "rfl") and t.kind == "eq":
            return f"Both sides of the equation {t.text} are the same term."
        if head == "Eq.symm" and args:
            ht = _term_type(goal, args[0])
            if ht is not None:
                return f"The goal {t.text} is {_strip_parens(args[0])} : {ht.text} read backwards."
        if head == "Eq.trans" and args and t.kind == "eq":
            ht = _term_type(goal, args[0])
            if ht is not None and ht.kind == "eq":
                mid, rhs = ht.args[1].text, t.args[1].text
                return (f"The goal is the equation {t.text}: go through {mid}. {_strip_parens(args[0])} gives "
                        f"{ht.text}, so it remains to prove that {mid} equals {rhs}.")
        if head in ("Eq.subst", "Eq.mpr", "Eq.mp") and args:
            ht = _term_type(goal, args[0])
            if ht is not None and ht.kind == "eq":
                return (f"Rewrite along {_strip_parens(args[0])} : {ht.text}: the goal {t.text} follows from the "
                        f"same statement about {ht.args[0].text} instead of {ht.args[1].text}.")

        # case analysis on a hypothesis or a part of one
        if head in ("Or.elim", "Exists.elim", "cases", "rcases", "obtain") and args and "." in args[0]:
            ht, name = _term_type(goal, args[0]), _strip_parens(args[0])
            if ht is not None and ht.kind == "or":
                return (f"{name} is the disjunction {ht.text}: prove the goal {t.text} in each case, "
                        f"once assuming {ht.args[0].text} and once assuming {ht.args[1].text}.")
            if ht is not None and ht.kind == "exists":
                return f"{name} is the existential {ht.text}: unpack its witness and the property it has."
        # a part of a hypothesis, several projections deep
        if not args and head.count(".") >= 2 and head.split(".")[0] in hyp:
            ht, base = _term_type(goal, head), head.split(".")[0]
            if ht is not None:
                exact = ", exactly the goal" if _norm(ht.text) == _norm(t.text) else ""
                return (f"Hypothesis {base} : {hyp[base]} is built from conjunctions; its part "
                        f"{head[len(base):]} is {ht.text}{exact}.")

        hyp_of_elim = None
        if head in ("Or.elim", "Or.rec", "cases", "rcases", "Exists.elim", "And.elim", "Iff.mp", "Iff.mpr",
                    "And.left", "And.right") and args:
            hyp_of_elim = args[0]
        elif "." in head and head.split(".")[0] in hyp:
            hyp_of_elim = head.split(".")[0]
        if hyp_of_elim is not None and hyp_of_elim in hyp:
            h, ht = hyp_of_elim, parse_prop(hyp[hyp_of_elim])
            field_ = head.split(".", 1)[1] if head.startswith(h + ".") else head
            if ht.kind == "or":
                return (f"Hypothesis {h} is the disjunction {ht.text}: prove the goal {t.text} in each case, "
                        f"once assuming {ht.args[0].text} and once assuming {ht.args[1].text}.")
            if ht.kind == "and":
                if field_ in ("1", "left", "And.left"):
                    return f"Hypothesis {h} : {ht.text} contains the goal {t.text} as its left part."
                if field_ in ("2", "right", "And.right"):
                    return f"Hypothesis {h} : {ht.text} contains the goal {t.text} as its right part."
                return f"Hypothesis {h} is the conjunction {ht.text}: use both of its parts."
            if ht.kind == "iff":
                if field_ in ("mp", "1", "Iff.mp"):
                    return f"Hypothesis {h} : {ht.text} turns {ht.args[0].text} into {ht.args[1].text}: use its forward direction."
                if field_ in ("mpr", "2", "Iff.mpr"):
                    return f"Hypothesis {h} : {ht.text} turns {ht.args[1].text} into {ht.args[0].text}: use its backward direction."
            if ht.kind == "exists":
                return f"Hypothesis {h} is the existential {ht.text}: unpack its witness {ht.var} and the property it has."
            if ht.kind == "false":
                return f"Hypothesis {h} is False, from which anything follows."

        # using a hypothesis directly or as a function
        if head in ("exact", "apply") and args:
            head, args = args[0], args[1:]
        if head in hyp:
            ht = parse_prop(hyp[head])
            if not args:
                if _norm(hyp[head]) == _norm(t.text):
                    return f"Hypothesis {head} states exactly the goal {t.text}."
                return f"Hypothesis {head} : {hyp[head]} closes the goal {t.text}."
            if ht.kind == "imp":
                return (f"Hypothesis {head} : {ht.text} concludes {ht.args[1].text}; "
                        f"to use it, supply {ht.args[0].text}.")
            if ht.kind == "not":
                return f"Hypothesis {head} : {ht.text} refutes {ht.args[0].text}, so proving {ht.args[0].text} gives False."
            if ht.kind == "forall":
                return f"Hypothesis {head} holds for every {ht.var}; instantiate it to get the goal."
            return f"Hypothesis {head} : {hyp[head]} applies here."
        return self._fallback(t, tac)


# ---------------------------------------------------------------------------------------------
# Model teachers

RATIONALE_INSTRUCTION = (
    "You are given a Lean 4 proof state and the next proof step that was actually taken. "
    "Write, in one or two sentences, the reasoning a mathematician would have before taking this step. "
    "Do not repeat the step verbatim."
)


def rationale_prompt(state: str, tactic: str) -> str:
    return f"{RATIONALE_INSTRUCTION}\n\nProof state:\n{state.strip()}\n\nNext step:\n{tactic.strip()}\n\nReasoning:"


class HFTeacher:
    """A local transformers causal LM as teacher (greedy decoding, batched, left padding)."""

    def __init__(self, model: Any, tokenizer: Any = None, *, max_new_tokens: int = 96,
                 batch_size: int = 8, device: str = "auto") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, (str, Path)):
            self.name = f"hf:{model}"
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model))
            model = AutoModelForCausalLM.from_pretrained(str(model))
        else:
            self.name = f"hf:{getattr(model, 'name_or_path', type(model).__name__)}"
            if tokenizer is None:
                raise ValueError("HFTeacher: pass the tokenizer together with a loaded model")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size

    def _prompt(self, state: str, tactic: str) -> str:
        text = rationale_prompt(state, tactic)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        return text + " "

    def explain_batch(self, items: Sequence[tuple[str, str]]) -> list[str]:
        import torch

        out: list[str] = []
        for i in range(0, len(items), self.batch_size):
            prompts = [self._prompt(s, t) for s, t in items[i:i + self.batch_size]]
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
            with torch.no_grad():
                seq = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                          pad_token_id=self.tokenizer.pad_token_id)
            gen = seq[:, enc["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(gen, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            out.extend(clean_thought(t) for t in texts)
        return out


class OpenAITeacher:
    """An OpenAI-compatible chat endpoint as teacher: POST {base_url}/chat/completions.

    `base_url` includes the version prefix (e.g. http://localhost:8000/v1).  The API key is read
    from `api_key` or the environment variable `api_key_env`.  Connection errors, timeouts, 429
    and 5xx replies are retried with exponential backoff; other errors raise `TeacherError`."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0, retries: int = 3,
                 backoff: float = 1.0, max_tokens: int = 128, temperature: float = 0.0,
                 concurrency: int = 4) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"OpenAITeacher: base_url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"openai:{model}"
        self.api_key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_tokens, self.temperature, self.concurrency = max_tokens, temperature, max(1, concurrency)

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                last = f"HTTP {e.code} from {self.url}: {detail}"
                if e.code != 429 and e.code < 500:
                    raise TeacherError(last) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = f"cannot reach {self.url}: {getattr(e, 'reason', e)}"
            except json.JSONDecodeError:
                last = f"reply from {self.url} is not JSON"
            log.warning("teacher request failed (attempt %d/%d): %s", attempt + 1, self.retries + 1, last)
        raise TeacherError(f"{last} (after {self.retries + 1} attempts)")

    def explain(self, state: str, tactic: str) -> str:
        body = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature,
                "messages": [{"role": "system", "content": "You explain Lean 4 proof steps."},
                             {"role": "user", "content": rationale_prompt(state, tactic)}]}
        reply = self._request(body)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise TeacherError(f"unexpected reply shape from {self.url}: {str(reply)[:200]}") from None
        return clean_thought(content or "")

    def explain_batch(self, items: Sequence[tuple[str, str]]) -> list[str]:
        with ThreadPoolExecutor(self.concurrency) as ex:
            return list(ex.map(lambda it: self.explain(*it), items))


def make_teacher(spec: str, **kw: Any) -> Teacher:
    """"rule" | "hf:PATH_OR_HUB_ID" | "openai:MODEL" (with base_url=...)."""
    if spec == "rule":
        return RuleTeacher()
    if spec.startswith("hf:"):
        return HFTeacher(spec[3:], **{k: v for k, v in kw.items() if k in ("max_new_tokens", "batch_size", "device")})
    if spec.startswith("openai:"):
        if not kw.get("base_url"):
            raise ValueError("teacher openai:MODEL needs a base URL (--base-url http://HOST/v1)")
        keys = ("api_key", "api_key_env", "timeout", "retries", "max_tokens", "temperature", "concurrency")
        return OpenAITeacher(kw["base_url"], spec[7:], **{k: v for k, v in kw.items() if k in keys and v is not None})
    raise ValueError(f"unknown teacher {spec!r}; expected rule, hf:PATH or openai:MODEL")


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row.get("theorem"), row.get("state"), row.get("tactic"))


def add_rationales(examples_path: str | Path, out_path: str | Path, teacher: Teacher, *,
                   batch_size: int = 16, overwrite: bool = False, progress: bool = True) -> int:
    """Write `out_path`: the rows of `examples_path` with a teacher's thought in "thought".

    Appends as it goes; rows already in `out_path` (same theorem, state, tactic) are skipped, so
    a rerun resumes.  Rows for which the teacher wrote nothing are left out (logged).  Existing
    thoughts are kept unless `overwrite`.  Returns the number of rows written by this call."""
    from core.jsonl import append_jsonl, done_keys, read_jsonl  # the project's one JSONL helper

    src = Path(examples_path)
    if not src.is_file():
        raise FileNotFoundError(f"examples file not found: {src}")
    rows = []
    for i, row in enumerate(read_jsonl(src), 1):
        if not isinstance(row.get("state"), str) or not isinstance(row.get("tactic"), str) or not row["tactic"].strip():
            raise ValueError(f"{src}: row {i} needs string fields 'state' and 'tactic'")
        rows.append(row)
    done = done_keys(out_path, "theorem", "state", "tactic")
    todo = [r for r in rows if _key(r) not in done]
    written = empty = 0
    bar = tqdm(total=len(todo), desc=f"rationales ({teacher.name})", disable=not progress, unit="step")
    for i in range(0, len(todo), batch_size):
        chunk = todo[i:i + batch_size]
        need = [r for r in chunk if overwrite or not (r.get("thought") or "").strip()]
        thoughts = teacher.explain_batch([(r["state"], r["tactic"]) for r in need])
        by_id = {id(r): t for r, t in zip(need, thoughts, strict=True)}
        for r in chunk:
            thought = by_id.get(id(r), r.get("thought") or "")
            if not thought.strip():
                empty += 1
                log.info("no rationale for %s / %r; row left out", r.get("theorem"), r["tactic"])
                continue
            src_tag = r.get("source") or ""
            append_jsonl(out_path, {**r, "thought": thought, "source": src_tag,
                                    "rationale_by": teacher.name if id(r) in by_id else r.get("rationale_by", "")})
            written += 1
        bar.update(len(chunk))
    bar.close()
    if empty:
        log.warning("%d row(s) got no rationale from %s and were left out", empty, teacher.name)
    return written
