"""What streaming costs a training loop: a 784-128-64-10 MLP logged every step.

    nnm view mnist --listen          (then)   python bench_client.py --connect 127.0.0.1:7470

Prints the client's cost per step (encoding and queueing: what `run.log`
takes from the loop), the messages per second the viewer took and recorded
(until `close` returned), and the round trip of a step sent alone (posted,
taken, recorded, answered).
"""

import argparse
import time

import numpy as np

import nnm


def network(rng):
    sizes = [784, 128, 64, 10]
    out = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        out[f"{2 * i}.weight"] = rng.uniform(-0.1, 0.1, (n_out, n_in)).astype(np.float32)
        out[f"{2 * i}.bias"] = np.zeros(n_out, np.float32)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", default=nnm.DEFAULT_ADDR)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--alone", type=int, default=100, help="steps sent one at a time, for the round trip")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    nets = [network(rng) for _ in range(8)]
    run = nnm.connect(args.connect, queue_size=args.steps + 1)
    run.log(0, nets[0], loss=1.0)
    run.flush()
    costs = []
    start = time.perf_counter()
    for s in range(1, args.steps + 1):
        t = time.perf_counter()
        run.log(s, nets[s % len(nets)], loss=1.0 / (s + 1), reward=float(s))
        costs.append(time.perf_counter() - t)
    run.flush()
    seconds = time.perf_counter() - start
    trips = []
    for s in range(args.steps + 1, args.steps + 1 + args.alone):
        t = time.perf_counter()
        run.log(s, nets[s % len(nets)], loss=0.1)
        run.flush()
        trips.append(time.perf_counter() - t)
    run.close()
    costs.sort()
    trips.sort()
    print(
        f"client cost per step: median {1e3 * costs[len(costs) // 2]:.3f} ms, "
        f"mean {1e3 * sum(costs) / len(costs):.3f} ms; "
        f"{args.steps} messages taken and recorded in {seconds:.2f} s: {args.steps / seconds:.0f} messages/s; "
        f"round trip alone: median {1e3 * trips[len(trips) // 2]:.2f} ms, p95 {1e3 * trips[int(0.95 * (len(trips) - 1))]:.2f} ms"
    )


if __name__ == "__main__":
    main()
