"""Dropout that draws its masks from a generator of its own.

``nn.Dropout`` draws from torch's global generator, which every thread of a process shares: two
jobs training at once in the dashboard (or a time estimate built while a job runs) would shift each
other's masks, and a run would no longer be a function of its seed. The trainer hands each model a
generator of the run's own (``Trainer.dropout_generator``), saved in its checkpoints; with none set
it falls back to the global one, like ``nn.Dropout``.
"""

import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * self.mask(x)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """The mask ``forward`` multiplies ``x`` by in training: 0 or 1/(1 - p), drawn from ``generator``
        (the report's hand-written step draws its masks here too, so both draw the same numbers)."""
        keep = 1.0 - self.p
        if x.device.type == "cpu":
            keep = self._keep_tensor(keep, x)
            # the CPU generator draws bernoulli_ about twice as slowly as uniform_ (250 against 110 us
            # for D's 200 x 128 mask here), and the masks are 12% of the report's step; on a GPU the
            # extra comparison would be one more kernel launch in a launch-bound step
            return torch.empty_like(x).uniform_(generator=self.generator).lt_(keep).div_(keep)
        return torch.empty_like(x).bernoulli_(keep, generator=self.generator).div_(keep)

    def _keep_tensor(self, keep: float, x: torch.Tensor) -> torch.Tensor:
        """``keep`` as a 0-dim CPU tensor of ``x``'s dtype, made once per value and dtype: the value a Python number
        is cast to in each operation (so the same bits), without the cast's 2 us a call; the report's step draws
        three masks."""
        key = (keep, x.dtype)
        cached = getattr(self, "_keep", None)
        if cached is None or cached[0] != key:
            self._keep = cached = (key, torch.tensor(keep, dtype=x.dtype))
        return cached[1]

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_generator(generator: torch.Generator | None, *models: nn.Module) -> None:
    for model in models:
        for module in model.modules():
            if isinstance(module, Dropout):
                module.generator = generator
