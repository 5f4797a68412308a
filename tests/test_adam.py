"""gan.adam.Adam, the CPU's Adam without torch.optim: bit for bit torch.optim.Adam(fused=True), in its
checkpoint format, and a training process that never imports torch._dynamo (which torch.optim does)."""

import copy
import subprocess
import sys

import pytest
import torch

from gan import adam


def _twins(seed=0):
    torch.manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(7, 5)), torch.nn.Parameter(torch.randn(5)),
              torch.nn.Parameter(torch.randn(3))]
    return params, [torch.nn.Parameter(p.detach().clone()) for p in params]


def _step_both(reference, ours, grads):
    for opt, g in ((reference, grads), (ours, grads)):
        for p, grad in zip(opt.param_groups[0]["params"], g):
            p.grad = None if grad is None else grad.clone()
        opt.step()


def _assert_same(reference, ours):
    for p, q in zip(reference.param_groups[0]["params"], ours.param_groups[0]["params"]):
        assert torch.equal(p, q)
    a, b = reference.state_dict(), ours.state_dict()
    assert a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys()
    for index, state in a["state"].items():
        assert state.keys() == b["state"][index].keys() == {"step", "exp_avg", "exp_avg_sq"}
        for key in state:
            assert state[key].dtype == b["state"][index][key].dtype and torch.equal(state[key], b["state"][index][key])


def test_gan_adam_steps_bit_for_bit_as_torch_optims_fused_adam():
    params, twins = _twins()
    reference = torch.optim.Adam(params, lr=0.01, betas=(0.5, 0.99), fused=True)
    ours = adam.Adam(twins, lr=0.01, betas=(0.5, 0.99))
    for step in range(8):
        if step == 4:  # a learning-rate change (the dashboard's pause) takes effect at once
            for opt in (reference, ours):
                opt.param_groups[0]["lr"] = 0.003
        grads = [torch.randn_like(p) for p in params]
        if step in (0, 5):  # a parameter without a gradient is left alone, and its state is created later
            grads[2] = None
        _step_both(reference, ours, grads)
        _assert_same(reference, ours)
    ours.zero_grad()
    assert all(p.grad is None for p in twins)


@pytest.mark.parametrize("direction", ["torch.optim to gan.adam", "gan.adam to torch.optim"])
def test_a_checkpoint_moves_between_gan_adam_and_torch_optim_adam(direction):
    params, twins = _twins(1)
    reference = torch.optim.Adam(params, lr=0.02, betas=(0.9, 0.999), fused=True)
    ours = adam.Adam(twins, lr=0.02, betas=(0.9, 0.999))
    for _ in range(3):
        _step_both(reference, ours, [torch.randn_like(p) for p in params])
    source, target = (reference, ours) if direction.startswith("torch") else (ours, reference)
    saved = copy.deepcopy(source.state_dict())
    target.param_groups[0]["lr"] = 1.0  # the saved hyperparameters come back with the state
    for p in target.param_groups[0]["params"]:  # as a fresh trainer's would be: nothing in common with the saved
        p.data.copy_(next(q for q in source.param_groups[0]["params"] if q.shape == p.shape))
    target.state = {} if target is ours else target.state.__class__(dict)
    target.load_state_dict(saved)
    _assert_same(reference, ours)
    for _ in range(3):  # and both train on identically
        _step_both(reference, ours, [torch.randn_like(p) for p in params])
        _assert_same(reference, ours)


def test_gan_adam_refuses_a_checkpoint_of_an_adam_it_does_not_implement():
    params, twins = _twins()
    other = torch.optim.Adam(params, lr=0.01, amsgrad=True)
    for p in params:
        p.grad = torch.ones_like(p)
    other.step()
    with pytest.raises(ValueError, match="amsgrad"):
        adam.Adam(twins, lr=0.01, betas=(0.9, 0.999)).load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="CPU"):
        adam.Adam([torch.nn.Parameter(torch.zeros(2, device="meta"))], lr=0.01, betas=(0.9, 0.999))


def test_cpu_training_checkpoints_and_forks_never_import_torch_dynamo(tmp_path):
    # torch.optim's methods import torch._dynamo (and sympy) on their first call: 2 s of every process here
    script = """
import sys
from gan import RunStore, preset
from gan.runner import execute
store = RunStore(sys.argv[1])
for name in ("report-2019", "dcgan"):
    run = store.create(preset(name, epochs=2, train_images=256, eval_samples=200, snapshot_epochs=(0, 1, 2)))
    assert execute(run) == "finished"
    fork = store.fork(run.id, epoch=1, lr_g=1e-4, epochs=2)
    assert execute(fork, resume=True) == "finished"
print(sorted(m for m in sys.modules if m.startswith(("torch._dynamo", "sympy"))))
"""
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "runs")], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
