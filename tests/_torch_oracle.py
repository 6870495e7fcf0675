"""A float64 PyTorch function of theta for small tinygraph chains, the oracle of the curvature tests.

``torch_loss(model)`` returns ``f(theta, x, y) -> ℓ`` for one example (x without the batch axis),
with every node's formula written in torch from PyTorch's conventions (gate orders i, f, g, o and
r, z, n; NCHW convolutions), so ``torch.func.vmap(torch.func.grad(f))`` gives per-example gradients.
"""
import numpy as np

import tinygraph as tg


def _views(torch, node, theta):
    out, i = {}, node.start
    for name, shape in node.params:
        n = int(np.prod(shape))
        out[name] = theta[i:i + n].reshape(shape)
        i += n
    return out


def _rnn(torch, node, P, x):
    T, H = x.shape[0], node.units
    h = torch.zeros(H, dtype=x.dtype)
    c = torch.zeros(H, dtype=x.dtype)
    hs = []
    for t in range(T):
        gi = P["W_ih"] @ x[t] + P["b_ih"]
        gh = P["W_hh"] @ h + P["b_hh"]
        if isinstance(node, tg.LSTM):
            i, f, g, o = (gi + gh).split(H)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif isinstance(node, tg.GRU):
            ir, iz, inn = gi.split(H)
            hr, hz, hn = gh.split(H)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            h = (1 - z) * n + z * h
        else:
            a = gi + gh
            h = torch.tanh(a) if node.activation == "tanh" else torch.relu(a)
        hs.append(h)
    return torch.stack(hs) if node.return_sequences else h


def _node(torch, node, P, x):
    F = torch.nn.functional
    if isinstance(node, tg.Dense):
        return x @ P["W"] + P["b"]
    if isinstance(node, tg.Conv2D):
        top, bottom, left, right = node.pads
        xp = F.pad(x[None], (left, right, top, bottom))
        return F.conv2d(xp, P["W"], P["b"], stride=node.stride)[0]
    if isinstance(node, (tg.LSTM, tg.GRU, tg.SimpleRNN)):
        return _rnn(torch, node, P, x)
    if isinstance(node, tg.Embedding):
        return (x[..., None] == torch.arange(node.n_tokens, dtype=x.dtype)).to(P["W"].dtype) @ P["W"]
    if isinstance(node, tg.LayerNorm):
        return F.layer_norm(x, tuple(node.gamma.shape), P["gamma"], P["beta"], node.eps)
    if isinstance(node, tg.Tanh):
        return torch.tanh(x)
    if isinstance(node, tg.ReLU):
        return torch.relu(x)
    if isinstance(node, tg.Identity):
        return x
    if isinstance(node, tg.Flatten):
        return x.reshape(-1)
    raise TypeError(f"no torch formula for {node!r}")


def torch_loss(model):
    """f(theta, x, y) -> the loss of one example, in torch (float64)."""
    import torch
    chain = [n for n in model.nodes if not isinstance(n, tg.Input)]
    loss, last = chain[-1], chain[-2]

    def f(theta, x, y):
        h = x
        for node in chain[:-2]:
            h = _node(torch, node, _views(torch, node, theta), h)
        if isinstance(loss, tg.CrossEntropy) and isinstance(last, tg.Softmax):
            return torch.logsumexp(h, 0) - (y * h).sum()  # y one-hot (labels turned so outside vmap)
        if isinstance(loss, tg.CrossEntropy):
            return (torch.nn.functional.softplus(h) - y * h).sum()
        h = _node(torch, last, _views(torch, last, theta), h)
        return 0.5 * ((h - y) ** 2).sum()
    return f


def torch_per_example(model, X, y):
    """(N, n_params) per-example gradients by torch.func.vmap(grad)."""
    import torch
    f = torch_loss(model)
    theta = torch.from_numpy(model.theta.copy())
    y = np.asarray(y)
    if y.ndim == 1:  # labels: one-hot rows (vmap cannot index by a batched label)
        y = np.eye(model.output.out_shape[-1])[y]
    g = torch.func.vmap(torch.func.grad(f), in_dims=(None, 0, 0))(theta, torch.from_numpy(np.asarray(X)),
                                                                  torch.from_numpy(np.asarray(y)))
    return g.numpy()
