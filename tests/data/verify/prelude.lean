prelude
universe u v
unsafe axiom lcErased : Type
unsafe axiom lcAny : Type
inductive True : Prop where
  | intro : True
inductive False : Prop
inductive Bool : Type where
  | false : Bool
  | true : Bool
axiom sorryAx.{w} (α : Sort w) (synthetic : Bool) : α
inductive And (a b : Prop) : Prop where
  | intro (left : a) (right : b) : And a b
inductive Or (a b : Prop) : Prop where
  | inl (h : a) : Or a b
  | inr (h : b) : Or a b
def Not (a : Prop) : Prop := a → False
inductive Iff (a b : Prop) : Prop where
  | intro (mp : a → b) (mpr : b → a) : Iff a b
inductive Eq {α : Sort u} (a : α) : α → Prop where
  | refl : Eq a a
axiom propext {a b : Prop} : Iff a b → Eq a b
class Inhabited (α : Sort u) where
  default : α
instance instInhabitedBool : Inhabited Bool := Inhabited.mk Bool.false
