"""Model benchmarks on CPU (synthetic inputs of the published shapes; no dataset needed).

* ``density_cnn_throughput``: DensityCNN training (Adam step, batch 32) and inference samples/s at P x P.
* ``quantum_net_throughput``: QuantumLocalizationNet (compact, S = 32) training and inference samples/s on
  batches mixing the dimensions N of the preset.
* ``quantum_layer_cost``: the coherent-state layer's LR images at the S x S centres against the generator's route
  (FFT LR on the N x N lattice, the images the layer replaces), per sample.
"""

from __future__ import annotations

from ._core import comparison, interleave, register, side, timed

IMAGE = {"mini": 48, "paper": 100}
DIMS = {"mini": (30, 45, 63), "paper": (30, 90, 177)}
BATCH = 32


def _train_rate(model, x, y, steps: int) -> float:
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    step()  # warm-up
    t, _ = timed(lambda: [step() for _ in range(steps)])
    return steps * x.shape[0] / t


def _infer_rate(model, x, reps: int) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        model(x)
        t, _ = timed(lambda: [model(x) for _ in range(reps)])
    return reps * x.shape[0] / t


def _rates_entry(name: str, compared: str, train: float, infer: float, params: dict) -> dict:
    return comparison(
        compared=compared,
        baseline=side("training step (forward + backward + Adam)", [BATCH / train]),
        candidate=side("inference (forward, no grad)", [BATCH / infer]),
        target_ratio=None,
        accuracy={"train_samples_per_s": train, "inference_samples_per_s": infer},
        accuracy_summary={"train/s": round(train), "infer/s": round(infer)},
        params={"batch": BATCH, **params},
        notes=["seconds are per batch; ratio = inference speed-up over a training step (same run, same threads)"],
    )


@register("density_cnn_throughput", "models", "DensityCNN training and inference samples/s on CPU")
def density_cnn_throughput(ctx) -> dict:
    import torch

    from modeling.density_cnn import DensityCNN

    torch.manual_seed(0)
    p = IMAGE[ctx.preset]
    model = DensityCNN(image_size=p)
    x, y = torch.rand(BATCH, p, p), torch.randint(0, 2, (BATCH,))
    train, infer = _train_rate(model, x, y, 10), _infer_rate(model, x, 20)
    return _rates_entry("density_cnn_throughput", f"DensityCNN on {p} x {p} density images", train, infer,
                        {"image_size": p, "threads": torch.get_num_threads()})


def _packed_batch(dims, n_per: int):
    import numpy as np

    from modeling.coherent_layer import pack_resonances

    rng = np.random.default_rng(0)
    vecs = []
    for n in dims:
        for _ in range(n_per):
            v = rng.standard_normal(n) + 1j * rng.standard_normal(n)
            vecs.append(v / np.linalg.norm(v))
    return pack_resonances(vecs, n_max=max(dims)), vecs


@register("quantum_net_throughput", "models", "QuantumLocalizationNet training and inference samples/s, mixed N")
def quantum_net_throughput(ctx) -> dict:
    import torch

    from modeling.quantum_net import QuantumLocalizationNet

    torch.manual_seed(0)
    dims = DIMS[ctx.preset]
    x, _ = _packed_batch(dims, BATCH // len(dims) + 1)
    x = x[:BATCH]
    y = torch.randint(0, 2, (x.shape[0],))
    model = QuantumLocalizationNet(grid_size=32)
    train, infer = _train_rate(model, x, y, 5), _infer_rate(model, x, 10)
    return _rates_entry("quantum_net_throughput", f"QuantumLocalizationNet (compact, S = 32), batch mixing N = "
                        f"{list(dims)}", train, infer, {"dims": list(dims), "threads": torch.get_num_threads()})


@register("quantum_layer_cost", "models", "coherent-state layer (S = 32 centres) vs the generator's FFT LR images")
def quantum_layer_cost(ctx) -> dict:
    import numpy as np
    import torch

    from generation.tribaker.coherent import lr_representation
    from modeling.coherent_layer import CoherentStateLayer

    n = max(DIMS[ctx.preset])
    x, vecs = _packed_batch((n,), 64)
    states = np.stack(vecs)
    layer = CoherentStateLayer(grid_size=32)
    with torch.no_grad():
        layer(x[:2])

    def via_layer():
        with torch.no_grad():
            return layer(x)

    res = interleave(lambda: lr_representation(states, states), via_layer, 3, 3, log=ctx.log)
    return comparison(
        compared=f"LR/Husimi images of 64 states of dimension N = {n}",
        baseline=side(f"generator: FFT LR on the {n} x {n} lattice (coherent.lr_representation)", res["baseline"]),
        candidate=side("model: CoherentStateLayer at 32 x 32 trainable centres (kernels rebuilt for N)",
                       res["candidate"]),
        target_ratio=None,
        params={"N": n, "states": 64, "grid_size": 32},
        notes=["the layer evaluates 1024 off-lattice centres with explicit coherent states (differentiable in the "
               "centres); the generator evaluates N^2 lattice points by FFT"],
    )
