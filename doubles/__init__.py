"""Test doubles: stand-ins for Lean and for a model, kept apart from the production code.

    doubles.scripted        ScriptedWorld (a tiny proof world in JSON) and ScriptedEnv (an in-process ProofEnv)
    doubles.repl_double     a process that speaks the Lean REPL protocol over a scripted world or a
                            recorded transcript (`python -m doubles.repl_double`)
    doubles.scripted_policy ScriptedPolicy: proposals read from a scripted world
    doubles.oracle          evaluators for scripted worlds (the value a perfect critic would give)

The CLI reaches them through the env and policy specs `scripted:WORLD.json` and `double:WORLD.json`
(prover/factory.py), and the dataset spec `scripted:WORLD.json` (eval/datasets.py).  Production
packages below `eval` never import this one (checked by import-linter, docs/architecture.md).
"""
