import Mathlib

set_option maxHeartbeats 0

open BigOperators Real Nat Topology Rat

theorem aime_1999_p0
  (n : ℕ)
  (h₀ : n = 3) :
  n * n = 9 := by sorry
