/-
A small miniF2F-style file written for the tests: several theorems in one file,
formatted the ways the real files are (statement over several lines, `:=` and `by`
on different lines, `sorry` at column 0).  theorem not_a_theorem : fake := by sorry
-/
import Mathlib
import Aesop

set_option maxHeartbeats 400000

open BigOperators Real Nat Topology Rat

/-- A doc comment with := inside it. -/
theorem mathd_algebra_7
  (x : ℝ)
  (h₀ : x / 2 = 3) :
  x = 6 := by sorry

theorem amc12a_2002_p1 (f : ℕ → ℕ) (h₀ : ∀ n, f n = n + 1) : -- a comment := here
    f 1 = 2 := by
  simp [h₀]

theorem induction_sum_odd
  (n : ℕ) :
  ∑ k ∈ Finset.range n, (2 * k + 1) = n ^ 2 :=
  by sorry

open Real in
theorem imo_2000_p0 (a : ℝ) (h : a = (fun y => y) 2) : a = 2 := by
sorry

lemma numbertheory_easy : (7 : ℕ) % 2 = 1 := by decide

theorem mystery_term (p : Prop) (hp : p) : p := hp
