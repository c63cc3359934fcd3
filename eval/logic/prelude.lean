prelude
/-!
The logic benchmark's prelude: the whole vocabulary its theorems use, and nothing more.

Lean without its core library elaborates only files that begin with `prelude`.  What Lean
itself needs from such a file:
* `lcErased` and `lcAny` (as `unsafe axiom`s): the code generator looks them up by name
  whenever an inductive type is declared;
* `PUnit` (declared with `bootstrap.inductiveCheckResultingUniverse` off, as core does):
  without it Lean cannot build `casesOn`/`recOn` for inductives in `Type`.
Everything else below is the benchmark's vocabulary.  There is no notation: `infixr` and
`notation` expand to parser descriptions from `Init`, so goals print as `And p q`,
`Or p q`, `Not p`, `Iff p q`, `Eq a b` and `Exists fun x => p x`.
-/
universe u v

unsafe axiom lcErased : Type
unsafe axiom lcAny : Type

set_option bootstrap.inductiveCheckResultingUniverse false in
inductive PUnit : Sort u where
  | unit : PUnit

/-! Propositional connectives -/

inductive True : Prop where
  | intro : True

inductive False : Prop

structure And (a b : Prop) : Prop where
  intro ::
  left : a
  right : b

inductive Or (a b : Prop) : Prop where
  | inl (h : a) : Or a b
  | inr (h : b) : Or a b

def Not (a : Prop) : Prop := a → False

structure Iff (a b : Prop) : Prop where
  intro ::
  mp : a → b
  mpr : b → a

/-! First-order vocabulary -/

inductive Eq {α : Sort u} : α → α → Prop where
  | refl (a : α) : Eq a a

inductive Exists {α : Sort u} (p : α → Prop) : Prop where
  | intro (w : α) (h : p w) : Exists p

/-! Two small inductive types (no `Nat`/`Bool`: those names get special treatment in Lean) -/

inductive N : Type where
  | zero : N
  | succ (n : N) : N

inductive B : Type where
  | ff : B
  | tt : B

/-! Eliminators as named lemmas (the "tactics" of the benchmark) -/

theorem trivial : True := True.intro

theorem False.elim {c : Prop} (h : False) : c := False.rec (fun _ => c) h

theorem absurd {a b : Prop} (h₁ : a) (h₂ : Not a) : b := False.elim (h₂ h₁)

theorem Or.elim {a b c : Prop} (h : Or a b) (left : a → c) (right : b → c) : c :=
  Or.rec (motive := fun _ => c) left right h

theorem Exists.elim {α : Sort u} {p : α → Prop} {b : Prop} (h₁ : Exists p) (h₂ : ∀ a : α, p a → b) : b :=
  Exists.rec (motive := fun _ => b) h₂ h₁

theorem Eq.subst {α : Sort u} {motive : α → Prop} {a b : α} (h₁ : Eq a b) (h₂ : motive a) : motive b :=
  Eq.rec (motive := fun x _ => motive x) h₂ h₁

theorem Eq.symm {α : Sort u} {a b : α} (h : Eq a b) : Eq b a :=
  Eq.subst (motive := fun x => Eq x a) h (Eq.refl a)

theorem Eq.trans {α : Sort u} {a b c : α} (h₁ : Eq a b) (h₂ : Eq b c) : Eq a c :=
  Eq.subst (motive := fun x => Eq a x) h₂ h₁

theorem Eq.mp {a b : Prop} (h₁ : Eq a b) (h₂ : a) : b :=
  Eq.subst (motive := fun x => x) h₁ h₂

theorem congrArg {α : Sort u} {β : Sort v} {a₁ a₂ : α} (f : α → β) (h : Eq a₁ a₂) : Eq (f a₁) (f a₂) :=
  Eq.subst (motive := fun x => Eq (f a₁) (f x)) h (Eq.refl (f a₁))
