"""A small MLP trained with numpy alone on two spirals, shown in NN Microscope.

Live:         nnm view spiral --listen          (then)  python numpy_spiral.py --connect 127.0.0.1:7470
Checkpoints:  python numpy_spiral.py --save ckpts  (then)  nnm import ckpts --data spiral --metrics ckpts/metrics.csv

The layers are named as PyTorch's nn.Sequential(Linear, Tanh, Linear, Tanh,
Linear) names them (0.weight [out, in], 2.weight, 4.weight), so the same
code shape works for a real torch model.
"""

import argparse
import csv
import os
import time

import numpy as np

import nnm


def spirals(n, noise, rng):
    """Two interleaved arms, as TensorFlow Playground draws them."""
    per = n // 2
    t = np.arange(per) / per
    xs, ys = [], []
    for label, delta in ((0, 0.0), (1, np.pi)):
        angle = 1.75 * t * 2 * np.pi + delta
        r = t * 5.0
        x = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        xs.append(x + rng.uniform(-1, 1, x.shape) * noise * 5.0)
        ys.append(np.full(per, label))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def init(sizes, rng):
    """PyTorch's nn.Linear initialisation: U(-1/sqrt(in), 1/sqrt(in))."""
    params = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        bound = 1.0 / np.sqrt(n_in)
        params.append(
            [
                rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                rng.uniform(-bound, bound, n_out).astype(np.float32),
            ]
        )
    return params


def forward(params, x):
    """Activations of every layer: tanh hidden layers, logits last."""
    acts = [x]
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w.T + b
        acts.append(np.tanh(z) if i < len(params) - 1 else z)
    return acts


def step(params, x, y, lr):
    """One full-batch gradient step on softmax cross-entropy; returns loss, accuracy, gradients."""
    acts = forward(params, x)
    logits = acts[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(-np.log(p[np.arange(n), y] + 1e-12).mean())
    accuracy = float((logits.argmax(axis=1) == y).mean())
    delta = p
    delta[np.arange(n), y] -= 1.0
    delta /= n
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        w, _ = params[i]
        grads[i] = (delta.T @ acts[i], delta.sum(axis=0))
        if i > 0:
            delta = (delta @ w) * (1.0 - acts[i] ** 2)
    for (w, b), (gw, gb) in zip(params, grads):
        w -= lr * gw.astype(np.float32)
        b -= lr * gb.astype(np.float32)
    return loss, accuracy, grads


def tensors(params, grads=None):
    """The parameters under nn.Sequential's names (a Tanh between Linears)."""
    out = {}
    for i, (w, b) in enumerate(params):
        out[f"{2 * i}.weight"] = w
        out[f"{2 * i}.bias"] = b
        if grads is not None:
            out[f"{2 * i}.weight.grad"] = grads[i][0].astype(np.float32)
            out[f"{2 * i}.bias.grad"] = grads[i][1].astype(np.float32)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", metavar="ADDR", help="stream every step to nnm view --listen")
    parser.add_argument("--token", help="the token of a listener beyond loopback")
    parser.add_argument("--save", metavar="DIR", help="write checkpoints and metrics.csv here")
    parser.add_argument("--every", type=int, default=10, help="checkpoint every N steps")
    parser.add_argument("--format", choices=["safetensors", "npz"], default="safetensors", help="checkpoint format")
    parser.add_argument("--data-csv", metavar="FILE", help="also write the training data here (x0,x1,label), for nnm import --data FILE")
    parser.add_argument("--data-npz", metavar="FILE", help="also write the training data here (arrays x and y), for nnm import --data FILE")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 16])
    parser.add_argument("--lr", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.connect and not args.save:
        parser.error("say where the network goes: --connect ADDR, --save DIR, or both")
    rng = np.random.default_rng(args.seed)
    x, y = spirals(1000, 0.02, rng)
    params = init([2, *args.hidden, 2], rng)
    if args.data_npz:
        np.savez(args.data_npz, x=x, y=y)
    if args.data_csv:
        with open(args.data_csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["x0", "x1", "label"])
            writer.writerows((float(a), float(b), int(c)) for (a, b), c in zip(x, y))
    run = nnm.connect(args.connect, token=args.token, activations=["tanh"] * len(args.hidden)) if args.connect else None
    rows = []
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    started = time.perf_counter()
    for s in range(args.steps + 1):
        # The network at step s is the one before update s, as nnm records it.
        before = [[w.copy(), b.copy()] for w, b in params]
        snapshot = tensors(before)
        loss, accuracy, grads = step(params, x, y, args.lr)
        reward = -loss
        if run is not None:
            run.log(s, tensors(before, grads), loss=loss, accuracy=accuracy, reward=reward)
        if args.save:
            rows.append((s, loss, accuracy))
            if s % args.every == 0 and args.format == "npz":
                # numpy alone: the arrays by name, the step and the activations as 0-d arrays.
                path = os.path.join(args.save, f"step_{s:06d}.npz")
                np.savez(path, step=np.array(s), activations=np.array(",".join(["tanh"] * len(args.hidden))), loss=np.array(loss), **snapshot)
            elif s % args.every == 0:
                path = os.path.join(args.save, f"step_{s:06d}.safetensors")
                nnm.save(path, s, snapshot, activations=["tanh"] * len(args.hidden), loss=loss, reward=reward)
    if run is not None:
        run.close()
    if args.save:
        with open(os.path.join(args.save, "metrics.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "loss", "accuracy"])
            writer.writerows(rows)
    seconds = time.perf_counter() - started
    print(f"steps={args.steps + 1} loss={loss:.4f} accuracy={accuracy:.3f} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
