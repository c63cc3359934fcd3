import Mathlib

set_option maxHeartbeats 0

open BigOperators Real Nat Topology Rat

theorem mathd_numbertheory_0 : (10 : ℕ) % 3 = 1 := by sorry
