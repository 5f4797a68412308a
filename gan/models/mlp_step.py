"""The report's training step written out by hand: forward, backward and Adam without autograd.

The report's model is small (one hidden layer of 128 on each side), so on a CPU a step's time goes less to
its eight matrix products than to the hundred-odd operators around them: autograd's graph and bookkeeping,
dispatch, and ``torch.optim``'s Python (README, "Where a step's time goes"). This step computes the same
thing with the same operators in the same order (the products as autograd's ``addmm``/``mm`` backward forms
them, ``leaky_relu_backward``, ``tanh_backward``, the loss's backward as autograd forms it), draws the same dropout masks from
the run's generator, and calls Adam's fused kernel directly (``gan.adam``): the weights, optimizer state and
metrics after any number of steps are bit for bit those of ``Trainer._step`` (``tests/test_hand_step.py``),
so checkpoints, resume and forks do not know which one ran.

It covers what the report trains (the ``mlp`` family, BCE, unconditional, no spectral norm, float32) and
nothing else: :func:`supports` says when; every other config takes the general step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

aten = torch.ops.aten


def supports(config) -> bool:
    return (config.family == "mlp" and config.loss == "bce" and not config.conditional and not config.clusters
            and not config.spectral_norm and not config.aux_classifier and not config.mode_seeking
            and not config.r1_gamma)


class HandStep:
    """``step(real, labels, z, update_g)`` with ``Trainer._step``'s contract, for ``trainer``'s G and D."""

    def __init__(self, trainer):
        G, D = trainer.G, trainer.D
        self.trainer = trainer
        self.g1, self.g2 = G.net[0], G.net[3]  # Linear layers; the modules are read at each step, so a
        self.d1, self.d2 = D.body[1], D.head    # loaded checkpoint's weights are what trains
        self.g_drop, self.d_drop = G.net[2], D.body[3]
        self.slope = trainer.config.leaky_slope
        self._constants: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def _constants_for(self, b: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The BCE targets and the batch size as tensors of ``like``'s dtype, made once per batch size: a Python
        number in a tensor operation is wrapped and cast to the tensor's dtype at every call (about 2 us each
        here), and these are the values that cast gives, so the results are the same bits."""
        key = (b, like.dtype, like.device)
        if key not in self._constants:
            real_label = self.trainer.config.real_label
            self._constants[key] = (torch.full((b,), real_label, dtype=like.dtype, device=like.device),
                                    torch.zeros(b, dtype=like.dtype, device=like.device),
                                    torch.ones(b, dtype=like.dtype, device=like.device),
                                    torch.tensor(b, dtype=like.dtype, device=like.device))
        return self._constants[key]

    def _hidden(self, x, linear, dropout):
        """Linear, LeakyReLU, dropout: the pre-activation, the mask (None where dropout draws none) and the output."""
        pre = F.linear(x, linear.weight, linear.bias)
        mask = dropout.mask(pre) if dropout.p else None
        h = F.leaky_relu(pre, self.slope)
        return pre, mask, (h * mask if mask is not None else h)

    def _hidden_backward(self, grad, pre, mask):
        if mask is not None:
            grad = grad * mask
        return aten.leaky_relu_backward(grad, pre, self.slope, False)

    @staticmethod
    def _weight_grads(linear, x, grad):
        """What autograd's ``addmm`` backward gives the weight (``weight.t()`` is column-major, so its gradient
        is formed as ``grad.t() @ x``) and the bias."""
        linear.weight.grad = grad.t().mm(x)
        linear.bias.grad = grad.sum(0)

    @torch.no_grad()
    def __call__(self, real, labels, z, update_g: bool) -> torch.Tensor:
        t = self.trainer
        b = real.shape[0]
        real_target, zeros, ones, n = self._constants_for(b, z)
        # D's batch, real then fake: G writes its images into the second half (no concatenation)
        x = torch.empty(2 * b, self.d1.in_features, dtype=z.dtype, device=z.device)
        x[:b] = real.reshape(b, -1)
        # G: z -> Linear -> LeakyReLU -> dropout -> Linear -> tanh
        g_pre, g_mask, g_hidden = self._hidden(z, self.g1, self.g_drop)
        fake = torch.tanh(F.linear(g_hidden, self.g2.weight, self.g2.bias), out=x[b:])

        # (1) D on real and fake as one batch, its BCE terms and their gradients
        d_pre, d_mask, d_hidden = self._hidden(x, self.d1, self.d_drop)
        out = F.linear(d_hidden, self.d2.weight, self.d2.bias).view(-1)
        real_out, fake_out = out[:b], out[b:]
        loss_real = F.binary_cross_entropy_with_logits(real_out, real_target)
        loss_fake = F.binary_cross_entropy_with_logits(fake_out, zeros)
        # the loss's backward, (sigmoid(x) - y) / n, half by half: the sigmoid of a 100-vector and of a
        # 200-vector differ in their last bits where one is in the vector loop's tail and the other is not
        d_real, d_fake = real_out.sigmoid(), fake_out.sigmoid()
        grad_out = torch.empty(2 * b, 1, dtype=z.dtype, device=z.device)
        torch.sub(d_real, real_target, out=grad_out[:b, 0]).div_(n)
        torch.div(d_fake, n, out=grad_out[b:, 0])
        self._weight_grads(self.d2, d_hidden, grad_out)
        grad_pre = self._hidden_backward(grad_out.mm(self.d2.weight), d_pre, d_mask)
        self._weight_grads(self.d1, x, grad_pre)
        t.opt_d.step()

        # (2) G through the updated D: only D's input gradient is needed
        if update_g:
            p_pre, p_mask, p_hidden = self._hidden(fake, self.d1, self.d_drop)
            scores = F.linear(p_hidden, self.d2.weight, self.d2.bias).view(-1)
            g_loss = F.binary_cross_entropy_with_logits(scores, ones)
            grad = scores.sigmoid().sub_(ones).div_(n).view(-1, 1)
            grad = self._hidden_backward(grad.mm(self.d2.weight), p_pre, p_mask).mm(self.d1.weight)
            grad = aten.tanh_backward(grad, fake)
            self._weight_grads(self.g2, g_hidden, grad)
            grad = self._hidden_backward(grad.mm(self.g2.weight), g_pre, g_mask)
            self._weight_grads(self.g1, z, grad)
            t.opt_g.step()
        else:
            g_loss = torch.full((), float("nan"), device=real.device)
        return torch.stack([loss_real, loss_fake, g_loss, d_real.mean(), d_fake.mean()])
