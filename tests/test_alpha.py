"""Types compared up to binder names (lean_env.alpha): what is the same, what is not, what is not read."""

from __future__ import annotations

import pytest

from lean_env.alpha import alpha_key, same_up_to_binder_names

REF = "∀ (p q : Prop) (h : And p q), And q p"


@pytest.mark.parametrize("other", [
    "∀ (a b : Prop) (hab : And a b), And b a",      # every binder renamed
    "∀ (a b : Prop), And a b → And b a",             # a named hypothesis or an arrow: the same binder
    "∀ (a : Prop) (b : Prop) (h : And a b), And b a",  # grouped or not
])
def test_renamed_binders_are_the_same_type(other):
    assert same_up_to_binder_names(REF, other)


@pytest.mark.parametrize("other", [
    "∀ (a b : Prop) (hab : And a b), And a b",       # conclusion not swapped
    "∀ (a b : Prop) (hab : And b a), And b a",       # hypothesis swapped
    "∀ {a b : Prop} (hab : And a b), And b a",       # implicit binders
    "∀ (a b : Prop) (hab : And a b), Or b a",        # another constant
    "∀ (q p : Prop) (h : And q p), And q p",         # names kept, order of use changed
])
def test_other_types_differ(other):
    assert not same_up_to_binder_names(REF, other)


def test_dependent_binders_shadowing_and_fun():
    a = "∀ {α : Sort u_1} (f : α → Prop) (x : α) (hx : f x), @Eq.{1} Prop (f x) (f x)"
    assert same_up_to_binder_names(a, "∀ {β : Sort u_1} (g : β → Prop) (y : β) (hy : g y), @Eq.{1} Prop (g y) (g y)")
    assert not same_up_to_binder_names(a, "∀ {β : Sort u_1} (g : β → Prop) (y : β) (hy : g y), @Eq.{1} Prop (g y) (g hy)")
    shadow = "∀ (x : Prop) (x : Prop), x"  # the inner x
    assert same_up_to_binder_names(shadow, "∀ (a : Prop) (b : Prop), b")
    assert not same_up_to_binder_names(shadow, "∀ (a : Prop) (b : Prop), a")
    ex = "@Exists.{1} Nat fun (x : Nat) => P x"
    assert same_up_to_binder_names(ex, "@Exists.{1} Nat fun (n : Nat) => P n")
    assert not same_up_to_binder_names(ex, "@Exists.{1} Nat fun (n : Nat) => P x")  # a free x is a constant


@pytest.mark.parametrize("text", [
    "∀ (x : Nat), x.1",                  # a projection
    "∀ (x✝ : Nat), P",                    # an inaccessible name
    "∀ (h : P), h.left",                  # field notation on a bound variable
    'f "a string"',
    "let x := 1; x",
])
def test_what_it_cannot_read_gives_none(text):
    assert alpha_key(text) is None
    assert same_up_to_binder_names(text, text)  # equal texts are still equal
