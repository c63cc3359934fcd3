"""A local transformers causal LM as rationale teacher (`make_teacher("hf:PATH_OR_HUB_ID")`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from thoughts.teacher import clean_thought, rationale_prompt


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
