"""Adam on the CPU: ``torch.optim.Adam(fused=True)``'s kernel, without ``torch.optim`` around it.

Two costs of ``torch.optim`` that a short run notices, both measured on this project's 2-core CPU:

- every ``Optimizer`` method (``__init__``, ``step``, ``zero_grad``, ``state_dict``, ...) is wrapped so that
  ``torch.compile`` leaves it alone, and that wrapper imports ``torch._dynamo`` (and with it sympy) on its
  first call: about 2 s of every training process, before the first step;
- ``Optimizer.step`` of a fused Adam spends about 0.25 ms per call before its one kernel runs (hooks,
  profiler records, regrouping the tensors by device and dtype): for the report's small model two calls and
  0.5 ms of a 3.8 ms step.

:class:`Adam` holds the same state (``step`` as a float32 scalar, ``exp_avg``, ``exp_avg_sq`` per parameter)
and makes the same two calls that ``torch.optim.adam._fused_adam`` makes (count the step, then
``torch._fused_adam_``), so its weights and state are bit for bit those of ``torch.optim.Adam(fused=True)``,
and its ``state_dict`` has ``torch.optim.Adam``'s format: checkpoints load into either, on any device.
It covers what the trainer asks of Adam (one parameter group, float hyperparameters, no AMSGrad, weight
decay or hooks); the GPU keeps ``torch.optim.Adam``, whose capturable form a CUDA graph replays.
"""

from __future__ import annotations

import copy

import torch

# the group's keys, in torch.optim.Adam's order, with the values this class implements
_GROUP_DEFAULTS = {"eps": 1e-8, "weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None,
                   "capturable": False, "differentiable": False, "fused": True, "decoupled_weight_decay": False}


_ONE = torch.tensor(1.0)


class Adam:
    """``torch.optim.Adam(params, lr=lr, betas=betas, fused=True)`` for parameters on the CPU."""

    def __init__(self, params, *, lr: float, betas: tuple[float, float]):
        params = list(params)
        if any(p.device.type != "cpu" for p in params):
            raise ValueError("gan.adam.Adam steps parameters on the CPU; elsewhere use torch.optim.Adam")
        self.param_groups = [{"lr": lr, "betas": betas, **_GROUP_DEFAULTS, "params": params}]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """As ``torch.optim``'s default (``set_to_none=True``): the next backward writes fresh gradients."""
        for p in self.param_groups[0]["params"]:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            if p not in self.state:  # as torch.optim.Adam's lazy initialisation, for fused
                self.state[p] = {"step": torch.zeros((), dtype=torch.float32),
                                 "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                 "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}  # the kernel takes one dtype, as torch.optim groups
        for p in params:
            by_dtype.setdefault(p.dtype, []).append(p)
        beta1, beta2 = group["betas"]
        for same in by_dtype.values():
            states = [self.state[p] for p in same]
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, _ONE)  # a float32 1 as torch.optim adds it, without wrapping it per tensor
            torch._fused_adam_(same, [p.grad for p in same], [s["exp_avg"] for s in states],
                               [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"],
                               beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                               maximize=False, grad_scale=None, found_inf=None)

    def state_dict(self) -> dict:
        """``torch.optim.Adam.state_dict()``'s format: state by parameter index, the group with indices."""
        group = self.param_groups[0]
        index = {id(p): i for i, p in enumerate(group["params"])}
        packed = {k: v for k, v in group.items() if k != "params"}
        packed["params"] = list(range(len(group["params"])))
        return {"state": {index[id(p)]: s for p, s in self.state.items()}, "param_groups": [packed]}

    def load_state_dict(self, state_dict: dict) -> None:
        """What ``torch.optim.Adam.load_state_dict`` does for this one group: the saved hyperparameters, and
        the state cast to each parameter's device (``step`` as float32, the moments in the parameter's dtype)."""
        group = self.param_groups[0]
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != 1:
            raise ValueError("loaded state dict has a different number of parameter groups")
        saved = copy.deepcopy(saved_groups[0])
        if len(saved["params"]) != len(group["params"]):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        unsupported = {k: saved[k] for k in ("weight_decay", "amsgrad", "maximize", "differentiable",
                                             "decoupled_weight_decay") if saved.get(k)}
        if unsupported:
            raise ValueError(f"gan.adam.Adam cannot continue an Adam with {unsupported}")
        by_id = dict(zip(saved["params"], group["params"]))
        state = {}
        for key, values in state_dict["state"].items():
            p = by_id[key]
            state[p] = {name: value.to(dtype=torch.float32 if name == "step" else p.dtype, device=p.device)
                        for name, value in values.items()}
        saved.update({k: v for k, v in _GROUP_DEFAULTS.items() if k not in saved or k in ("fused", "capturable")})
        saved["params"] = group["params"]
        self.param_groups, self.state = [saved], state
