"""The shared bottom layer: the seam types (`types`), JSON/JSONL files (`jsonl`), proof rendering
(`proof_text`) and dataclass configs from dicts (`config`).  Every other package may import it;
it imports none of them (see docs/architecture.md and the import contract in pyproject.toml)."""
