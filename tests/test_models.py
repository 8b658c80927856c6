"""The classifiers: DensityCNN, the attacks, the coherent-state layer, QuantumLocalizationNet, training, the CLI.

Tiny stores of both systems are generated once per module (in-process sweep) and published into a temporary
local hub (``QCHAOS_HUB``), so every model here reads its data the way a user's run does: through the published
parquet shards (``qchaos.hub.load``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modeling.attacks import FGSM, PGD, PartnerBank, QuantumPerturbation, fgsm, grid_norm, pgd, quantum_perturbation
from modeling.coherent_layer import CoherentStateLayer, coherent_states, pack_resonances, unpack_dimensions
from modeling.data import DatasetNotFoundError, collate_resonances, load_resonances, load_table, load_twobody
from modeling.density_cnn import DensityCNN, density_images
from modeling.quantum_net import QuantumLocalizationNet

TB_ID, TRI_ID = "qchaos/twobody-tiny", "qchaos/tribaker-tiny"
P = 16  # image size of the tiny two-atom store


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small tensors: one intra-op thread is as fast, and immune to oversubscription on a busy 2-core machine
    (spinning OpenMP workers made these tests 5x slower there)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Tiny twobody (eta 0.5, 1; levels 10-29; 16 x 16) and tribaker (N = 30, 33, 36; closed + R = 0.2) datasets
    published into a temporary local hub, which ``QCHAOS_HUB`` points at for the whole module."""
    from generation.presets import TribakerConfig, TwobodyConfig
    from generation.publish import publish
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.tribaker.generate import compute_point as tri_task
    from generation.twobody.generate import compute_point as tb_task

    root = tmp_path_factory.mktemp("models")
    hub = root / "hub"
    for system, config, task, repo in (
        ("twobody", TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=P, rough_images=True), tb_task, TB_ID),
        ("tribaker", TribakerConfig(N0=30, K=3, per_side=3, image_size=16), tri_task, TRI_ID),
    ):
        store = root / f"{system}.zarr"
        run_sweep(PointStore.open(store, system, "tiny", config.to_dict()), config.points(), task, workers=0,
                  progress=False)
        publish(system, store, repo, out=hub / "datasets" / repo)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QCHAOS_HUB", str(hub))
        yield hub


@pytest.fixture(scope="module")
def twobody(hub):
    return load_twobody(TB_ID)


@pytest.fixture(scope="module")
def tribaker(hub):
    return load_resonances(TRI_ID)


def _seeded_cnn(seed: int = 0, images=None) -> DensityCNN:
    torch.manual_seed(seed)
    model = DensityCNN(image_size=P)
    if images is not None:
        model.set_input_normalization(images)
    return model.eval()


# -- DensityCNN ----------------------------------------------------------------------------------------------------
def test_density_images_are_psi_squared_over_their_max():
    psi = torch.randn(3, P, P, generator=torch.Generator().manual_seed(1))
    psi[2] = 0.0
    img = density_images(psi)
    assert img.shape == psi.shape and img.dtype == torch.float32
    want = psi[:2] ** 2 / (psi[:2] ** 2).amax(dim=(1, 2), keepdim=True)
    assert torch.equal(img[:2], want)
    assert torch.equal(img[2], torch.zeros(P, P))
    assert float(img.min()) >= 0 and torch.equal(img[:2].amax(dim=(1, 2)), torch.ones(2))
    assert torch.equal(density_images(psi.numpy()), img)  # numpy in, same numbers out
    with pytest.raises(ValueError, match="psi"):
        density_images(torch.ones(5))


def test_density_cnn_shapes_probabilities_and_gradients(twobody):
    train = twobody["train"]
    model = _seeded_cnn(0, train.images)
    assert float(model.input_std) > 0 and 0 < float(model.input_mean) < 1
    x = train.images[:5].clone().requires_grad_(True)
    logits = model(x)
    assert logits.shape == (5, 2)
    assert torch.equal(model(x.detach().unsqueeze(1)), logits.detach())  # (B, P, P) == (B, 1, P, P)
    proba = model.predict_proba(train.images[:5])
    assert torch.allclose(proba.sum(1), torch.ones(5)) and not model.training
    assert torch.allclose(model.predict_wavefunctions(train.psi[:5]), proba)
    F.cross_entropy(logits, train.label[:5]).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # the paper's 100 x 100 images: 64 * 12 * 12 features before the dense layer
    big = DensityCNN(image_size=100)
    assert big.classifier[1].in_features == 9216 and big(torch.rand(2, 100, 100)).shape == (2, 2)


def test_density_cnn_rejects_bad_input():
    model = DensityCNN(image_size=P)
    with pytest.raises(ValueError, match=r"DensityCNN\(image_size=16\): input must have shape \(B, 16, 16\).*got "
                                         r"\(2, 24, 24\)"):
        model(torch.rand(2, 24, 24))
    with pytest.raises(ValueError, match="got \\(2, 3, 16, 16\\)"):
        model(torch.rand(2, 3, P, P))
    with pytest.raises(ValueError, match="image_size = 4: must be an integer >= 8"):
        DensityCNN(image_size=4)


# -- attacks -------------------------------------------------------------------------------------------------------
def test_dihedral_augmentation_is_the_symmetry_group_of_the_square():
    from modeling.augment import dihedral, random_dihedral

    x = torch.rand(1, 6, 6, dtype=torch.float64)
    elements = [dihedral(x, k) for k in range(8)]
    expected = [torch.rot90(x, r, dims=(-2, -1)) for r in range(4)]
    expected += [torch.rot90(x.transpose(-1, -2), r, dims=(-2, -1)) for r in range(4)]
    key = lambda t: tuple(t.flatten().tolist())  # noqa: E731
    assert {key(e) for e in elements} == {key(e) for e in expected} and len({key(e) for e in elements}) == 8
    assert torch.equal(dihedral(x, 0), x) and torch.equal(dihedral(x, 3), torch.rot90(x, 2, dims=(-2, -1)))
    batch = x.expand(200, 6, 6)
    out = random_dihedral(batch, torch.Generator().manual_seed(0))
    assert {key(o) for o in out} == {key(e) for e in elements}  # every element drawn, nothing else
    assert torch.equal(out, random_dihedral(batch, torch.Generator().manual_seed(0)))
    per_image = dihedral(torch.rand(3, 1, 5, 5), torch.tensor([0, 4, 7]))
    assert per_image.shape == (3, 1, 5, 5)
    with pytest.raises(ValueError, match="k: must be in 0..7"):
        dihedral(x, 8)
    with pytest.raises(ValueError, match="square images"):
        dihedral(torch.rand(2, 4, 5), 1)


def test_twobody_densities_have_the_symmetries_the_augmentation_relies_on(twobody):
    """Known answers: every density is invariant under the parity (x1, x2) -> (1 - x1, 1 - x2), the 180° rotation;
    at eta = 1 also under the exchange x1 <-> x2; at eta = 0.5 not under the exchange (a genuine new image)."""
    from modeling.augment import dihedral

    train = twobody["train"]
    img = train.images
    assert torch.allclose(dihedral(img, 3), img, atol=1e-5)
    equal = torch.isclose(train.eta, torch.tensor(1.0, dtype=torch.float64))
    assert equal.any() and (~equal).any()
    assert torch.allclose(dihedral(img[equal], 4), img[equal], atol=1e-5)
    assert (dihedral(img[~equal], 4) - img[~equal]).abs().amax(dim=(1, 2)).min() > 0.05


def test_fgsm_increases_the_loss_within_the_box(twobody):
    train = twobody["train"]
    model = _seeded_cnn(0, train.images)
    x, y = train.images, train.label
    model.train()  # the attack evaluates in eval mode and restores the mode
    clean = F.cross_entropy(model.eval()(x), y).item()
    model.train()
    adv = fgsm(model, x, y, 0.05)
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    assert F.cross_entropy(model(adv), y).item() > clean
    assert float((adv - x).abs().max()) <= 0.05 + 1e-7 and float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert torch.equal(FGSM()(model, x, y, 0.05), adv)
    assert torch.equal(fgsm(model, x, y, 0.0), x)  # eps = 0: the images themselves
    per_sample = torch.linspace(0, 0.05, x.shape[0])
    d = (fgsm(model, x, y, per_sample) - x).abs().amax(dim=(1, 2))
    assert bool(torch.all(d <= per_sample + 1e-7))
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, x, y, -0.1)


def test_pgd_stays_in_the_eps_ball_and_in_unit_box(twobody):
    train = twobody["train"]
    model = _seeded_cnn(1, train.images)
    x, y = train.images[:12], train.label[:12]
    clean = F.cross_entropy(model(x), y).item()
    for eps in (0.01, 0.05, torch.linspace(0.0, 0.1, x.shape[0])):
        adv = pgd(model, x, y, eps, steps=3, generator=torch.Generator().manual_seed(0))
        e = torch.as_tensor(eps).reshape(-1, 1, 1) if torch.is_tensor(eps) else eps
        assert bool(torch.all((adv - x).abs() <= e + 1e-7))
        assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    adv = PGD(steps=3, seed=0)(model, x, y, 0.05)
    assert torch.equal(adv, PGD(steps=3, seed=0)(model, x, y, 0.05))  # seeded random start: reproducible
    assert F.cross_entropy(model(adv), y).item() > clean


def test_quantum_perturbation_keeps_norm_and_eps_zero_is_identity(twobody):
    data = twobody["train"]
    psi = data.psi / grid_norm(data.psi)  # unit-norm states
    phi = psi.flip(0)
    for eps in (0.0, 0.05, 0.5, 3.0):
        out = quantum_perturbation(psi, phi, eps)
        assert torch.allclose(grid_norm(out).reshape(-1), torch.ones(len(psi)), atol=1e-6)
    assert torch.equal(quantum_perturbation(data.psi, phi, 0.0), data.psi)  # exact identity, published norms
    raw = quantum_perturbation(data.psi, phi, 0.3)
    assert torch.allclose(grid_norm(raw), grid_norm(data.psi), rtol=1e-6)  # the input's norm is kept
    mixed = quantum_perturbation(psi, phi, torch.full((len(psi),), 0.2))
    want = (psi + 0.2 * phi) / grid_norm(psi + 0.2 * phi)  # Eq. 18 for normalized states
    assert torch.allclose(mixed, want, atol=1e-6)
    with pytest.raises(ValueError, match="eps"):
        quantum_perturbation(psi, phi, -1.0)


def test_partner_bank_pairs_the_other_class_at_the_nearest_level(twobody):
    parts = [twobody[s] for s in ("train", "validation", "test")]
    cat = {k: torch.cat([getattr(d, k) for d in parts]) for k in ("psi", "label", "level", "eta", "g")}
    bank = PartnerBank(cat["psi"], cat["label"], cat["level"], cat["eta"], cat["g"])
    idx = bank.partner_index(bank.label, bank.level, bank.eta, bank.g)
    assert np.all(bank.label[idx] != bank.label) and np.all(bank.g[idx] == bank.g)
    # both mass ratios have every level 10..29: the partner is the other-class state of the same level
    assert np.array_equal(bank.level[idx], bank.level)
    # with only the train split the partner is the nearest level available
    tr = twobody["train"]
    small = PartnerBank(tr.psi, tr.label, tr.level, tr.eta, tr.g)
    j = small.partner_index(small.label, small.level, small.eta, small.g)
    for i in range(len(small)):
        other = small.label != small.label[i]
        assert abs(small.level[j[i]] - small.level[i]) == np.min(np.abs(small.level[other] - small.level[i]))
    # the bank built from the named splits knows each split's rows: a state's identity is its row, and the attack
    # gives the explicit formula's numbers with the partners the rule picks
    named = PartnerBank.from_parts({s: twobody[s] for s in ("train", "validation", "test")})
    for s in ("train", "validation", "test"):
        assert torch.equal(named.psi[named.rows_of[s]], twobody[s].psi)
    partners = named.psi[torch.as_tensor(named.partner_index(tr.label, tr.level, tr.eta, tr.g))]
    attack = QuantumPerturbation(named)
    out = attack(None, tr.psi, tr.label, 0.25, index=named.rows_of["train"])
    assert torch.equal(out, quantum_perturbation(tr.psi, partners, 0.25))
    assert torch.equal(attack(None, tr.psi, tr.label, 0.0, index=named.rows_of["train"]), tr.psi)
    assert torch.equal(named.partners(index=named.rows_of["train"]), partners)
    with pytest.raises(ValueError, match="the bank records label"):
        attack(None, tr.psi, 1 - tr.label, 0.1, index=named.rows_of["train"])
    with pytest.raises(ValueError, match="index: the bank rows of the states x are required"):
        attack(None, tr.psi, tr.label, 0.1)
    with pytest.raises(ValueError, match=r"index: bank rows must lie in \[0, "):
        named.partners(index=[len(named)])
    one_class = PartnerBank(tr.psi[tr.label == 0], tr.label[tr.label == 0], tr.level[tr.label == 0])
    with pytest.raises(ValueError, match="no partner"):
        one_class.partner_index([0], [12])


# -- the coherent-state layer --------------------------------------------------------------------------------------
def test_torch_coherent_states_equal_the_generators():
    from generation.tribaker import coherent as gen

    rng = np.random.default_rng(7)
    for N in (3, 6, 9, 30, 99):
        q, p = rng.uniform(-1.5, 2.5, 40), rng.uniform(-1.5, 2.5, 40)
        got = coherent_states(N, torch.tensor(q), torch.tensor(p))
        assert got.dtype == torch.complex128 and got.shape == (40, N)
        assert np.abs(got.numpy() - gen.coherent_states(N, q, p)).max() < 1e-12
        psi = rng.normal(size=(3, N)) + 1j * rng.normal(size=(3, N))
        overlaps = torch.as_tensor(psi) @ got.conj().T  # the layer's C_k[psi] = <q_k,p_k|psi>
        assert np.abs(overlaps.numpy() - gen.overlaps(psi, q, p)).max() < 1e-11 * np.abs(psi).sum(1).max()


def test_coherent_layer_reproduces_husimi_and_lr_images_of_the_generator(tribaker, hub):
    from generation.tribaker.coherent import husimi, lr_on_grid, lr_representation

    data = tribaker["train"]
    checked = set()
    for i in range(len(data)):
        N, R = int(data.N[i]), float(data.R[i])
        if (N, R) in checked:
            continue
        checked.add((N, R))
        x = data.x[i:i + 1]
        r, l = x[0, :N, 0].numpy(), x[0, :N, 1].numpy()
        h = CoherentStateLayer(grid_size=N)(x)[0].detach().numpy()  # centres on the N x N lattice
        assert np.abs(h - lr_representation(r, l)).max() < 1e-10
        if R == 1.0:
            assert np.abs(h - husimi(r)).max() < 1e-10
        h16 = CoherentStateLayer(grid_size=16)(x)[0].detach().numpy()  # off-lattice centres
        assert np.abs(h16 - lr_on_grid(r, l, 16)).max() < 1e-10
    assert {R for _, R in checked} == {1.0, 0.2}
    # ... and the published inspection images (float32, LR at the 16 x 16 cell centres)
    rows = load_table(TRI_ID, "resonances", "train").with_format("numpy")[:8]
    x, _ = collate_resonances([{k: rows[k][i] for k in rows} for i in range(8)])
    got = CoherentStateLayer(grid_size=16)(x).detach().numpy()
    assert np.abs(got - np.stack(rows["image"])).max() < 1e-6 * np.abs(got).max()


def test_coherent_layer_inference_cache_is_exact_and_follows_the_centres(tribaker):
    """Inference reuses the kernels of each N while the centres are unchanged: bit-identical to building them
    again, and an optimiser step (which moves the centres) gives the new images, not the cached ones."""
    x = tribaker["train"].x[:8]
    layer = CoherentStateLayer(grid_size=8)
    with torch.no_grad():
        first, again = layer(x), layer(x)
        fresh = torch.stack([CoherentStateLayer._lr(int(n), layer.q, layer.p, xi[None, :int(n), 0],
                                                    xi[None, :int(n), 1])[0]
                             for xi, n in zip(x, unpack_dimensions(x))]).view(-1, 8, 8)
    assert torch.equal(first, again) and torch.allclose(first, fresh, rtol=1e-12, atol=0)
    opt = torch.optim.SGD(layer.parameters(), lr=0.01)
    layer(x).sum().backward()
    opt.step()
    with torch.no_grad():
        moved = layer(x)
        rebuilt = CoherentStateLayer(grid_size=8)
        rebuilt.load_state_dict(layer.state_dict())
        expected = rebuilt(x)
    assert not torch.equal(moved, first) and torch.equal(moved, expected)


def test_coherent_layer_gradients_in_the_centres(tribaker):
    x = tribaker["train"].x[:1]
    N = int(unpack_dimensions(x)[0])
    r, l = x[:, :N, 0], x[:, :N, 1]
    q = torch.tensor([0.12, 0.5, 0.93], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([0.3, 0.71, 0.05], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda q, p: CoherentStateLayer._lr(N, q, p, r, l), (q, p))
    # checkpointing changes memory, not the gradients
    grads = []
    for ckpt in (True, False):
        torch.manual_seed(0)
        layer = CoherentStateLayer(grid_size=8, checkpointing=ckpt)
        layer(tribaker["train"].x[:6]).pow(2).sum().backward()
        assert float(layer.q.grad.abs().sum()) > 0 and float(layer.p.grad.abs().sum()) > 0
        grads.append((layer.q.grad, layer.p.grad))
    assert torch.allclose(grads[0][0], grads[1][0], rtol=1e-10) and torch.allclose(grads[0][1], grads[1][1],
                                                                                   rtol=1e-10)


# -- QuantumLocalizationNet ----------------------------------------------------------------------------------------
def test_mixed_N_batch_equals_one_sample_at_a_time(tribaker):
    data = tribaker["train"]
    pick = [int(np.flatnonzero(data.N.numpy() == n)[k]) for n in (36, 30, 33) for k in (0, 1)]
    x = data.x[pick]
    assert sorted(set(unpack_dimensions(x).tolist())) == [30, 33, 36]
    torch.manual_seed(0)
    net = QuantumLocalizationNet(grid_size=16).eval()
    with torch.no_grad():
        batch_h, batch_logits = net.quantum(x), net(x)
        assert batch_logits.shape == (6, 2) and batch_h.shape == (6, 16, 16)
        for b, i in enumerate(pick):
            N = int(data.N[i])
            alone = pack_resonances([data.x[i, :N, 0]], [data.x[i, :N, 1]])  # its own N_max = N
            assert alone.shape == (1, N + 1, 2)
            assert torch.allclose(net.quantum(alone)[0], batch_h[b], rtol=1e-12, atol=1e-15)
            assert torch.allclose(net(alone)[0], batch_logits[b], rtol=1e-5, atol=1e-5)
        wide = pack_resonances([x[b, :int(data.N[i]), 0] for b, i in enumerate(pick)],
                               [x[b, :int(data.N[i]), 1] for b, i in enumerate(pick)], n_max=60)
        assert torch.allclose(net(wide), batch_logits, rtol=1e-5, atol=1e-5)  # more padding, same result
    # shapes and gradients through the whole net (the centres train)
    net.train()
    F.cross_entropy(net(x), data.label[pick]).backward()
    assert float(net.quantum.q.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in net.parameters())


def test_quantum_net_rejects_bad_input(tribaker):
    net = QuantumLocalizationNet(grid_size=8).eval()
    x = tribaker["train"].x[:2].clone()
    x[1, -1, :] = 31
    with pytest.raises(ValueError, match="input sample 1: N = 31 .*multiple of 3"):
        net(x)
    x[1, -1, :] = 300
    with pytest.raises(ValueError, match="N = 300 .*<= N_max = 36"):
        net(x)
    with pytest.raises(ValueError, match="must be a complex tensor"):
        net(tribaker["train"].x[:2].real)
    with pytest.raises(ValueError, match=r"shape \(B, N_max \+ 1, 2\)"):
        net(torch.zeros(2, 10, 3, dtype=torch.complex128))
    with pytest.raises(ValueError, match="N = 31: must be a positive multiple of 3"):
        pack_resonances([np.ones(31)])
    with pytest.raises(ValueError, match="grid_size = 32: must be >= 63 for arch = 'alexnet'"):
        QuantumLocalizationNet(grid_size=32, arch="alexnet")
    with pytest.raises(ValueError, match="arch = 'vgg'"):
        QuantumLocalizationNet(arch="vgg")


def test_alexnet_option_runs(tribaker):
    torch.manual_seed(0)
    net = QuantumLocalizationNet(grid_size=63, arch="alexnet").eval()
    assert sum(p.numel() for p in net.parameters()) > 50_000_000
    with torch.no_grad():
        assert net(tribaker["train"].x[:2]).shape == (2, 2)


def test_collate_builds_the_packed_format_from_published_rows(hub):
    ds = load_table(TRI_ID, "resonances", "train")
    for fmt in (None, "numpy", "torch"):
        view = ds.with_format(fmt, dtype=None) if fmt == "torch" else ds.with_format(fmt)
        rows = [view[i] for i in range(5)]
        x, y = collate_resonances(rows)
        n_max = max(int(r["N"]) for r in rows)
        assert x.dtype == torch.complex128 and x.shape == (5, n_max + 1, 2)
        for b, row in enumerate(rows):
            N = int(row["N"])
            assert torch.equal(x[b, -1], torch.full((2,), complex(N), dtype=torch.complex128))
            assert np.array_equal(x[b, :N, 0].numpy(), np.asarray(row["right_re"]) + 1j * np.asarray(row["right_im"]))
            assert np.array_equal(x[b, :N, 1].numpy(), np.asarray(row["left_re"]) + 1j * np.asarray(row["left_im"]))
            assert not bool(x[b, N:-1].abs().sum())
        assert y.tolist() == [int(r["label"]) for r in rows]
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_resonances)
    xb, yb = next(iter(loader))
    assert xb.shape[0] == 4 and yb.shape == (4,)


# -- training ------------------------------------------------------------------------------------------------------
def _train(tmp_path, model, name, **kw):
    from modeling.train import train

    dataset = TB_ID if model.startswith("density") else TRI_ID
    kw.setdefault("epochs", 3)
    return train(model, "mini", dataset, log_path=tmp_path / f"{name}.json", progress=False, source="local", **kw)


def test_a_few_training_steps_reduce_the_loss(twobody, tribaker):
    for net, x, y, steps in ((_seeded_cnn(0, twobody["train"].images), twobody["train"].images[:16],
                              twobody["train"].label[:16], 25),
                             (QuantumLocalizationNet(grid_size=8), tribaker["train"].x[:16],
                              tribaker["train"].label[:16], 10)):
        torch.manual_seed(0)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        before = F.cross_entropy(net.eval()(x), y).item()
        net.train()
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
        after = F.cross_entropy(net.eval()(x), y).item()
        assert after < 0.8 * before, (type(net).__name__, before, after)


@pytest.fixture(scope="module")
def runs(hub, tmp_path_factory):
    """Two tiny runs with the same seed of density-cnn-adv (FGSM + quantum samples) and of quantum-net (the first
    of each saved to the local hub), and one density-cnn-adv run with another seed."""
    tmp = tmp_path_factory.mktemp("runs")
    out = {}
    for model, kw in (("density-cnn-adv", dict(epochs=2, batch_size=8, augment=True)),
                      ("quantum-net", dict(epochs=2, batch_size=8, grid_size=8))):
        out[model] = [_train(tmp, model, f"{model}-{k}", seed=5, save=k == 0, **kw) for k in range(2)]
    out["other-seed"] = _train(tmp, "density-cnn-adv", "other", seed=6, save=False, epochs=1, batch_size=8)
    return out


def test_same_seed_gives_identical_metrics(runs):
    for model in ("density-cnn-adv", "quantum-net"):
        first, second = runs[model]
        a, b = first.log, second.log
        for key in ("steps", "epochs", "final", "best_epoch", "settings"):
            assert a[key] == b[key], key
        assert len(a["steps"]) == 2 * int(np.ceil(a["rows"]["train"] / 8)) and len(a["epochs"]) == 2
        sa, sb = first.model.state_dict(), second.model.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        on_disk = json.loads(first.log_path.read_text())
        assert on_disk["steps"] == a["steps"] and on_disk["final"] == a["final"]
    other = runs["other-seed"].log
    assert other["steps"] != runs["density-cnn-adv"][0].log["steps"][:len(other["steps"])]  # another seed


def test_checkpoints_round_trip_exactly_and_refuse_other_models(hub, runs, twobody, tribaker):
    from modeling.hub_model import HubModel

    tb, qn = runs["density-cnn-adv"][0], runs["quantum-net"][0]
    assert tb.path == hub / "models" / "qchaos" / "density-cnn-adv-twobody-tiny"
    assert qn.path == hub / "models" / "qchaos" / "quantum-net-tribaker-tiny"
    for result, cls, x in ((tb, DensityCNN, twobody["test"].images), (qn, QuantumLocalizationNet,
                                                                     tribaker["validation"].x)):
        loaded = cls.from_pretrained(result.repo_id)  # by repo id, from the local hub
        assert type(loaded) is cls and type(HubModel.from_pretrained(result.path)) is cls
        want, got = result.model.state_dict(), loaded.state_dict()
        assert list(want) == list(got) and all(torch.equal(want[k], got[k]) and want[k].dtype == got[k].dtype
                                               for k in want)
        with torch.no_grad():
            assert torch.equal(loaded(x), result.model.eval()(x))
        meta = json.loads((result.path / "qchaos.json").read_text())["meta"]
        assert meta["dataset"] == result.settings.dataset and meta["metrics"] == result.metrics
        assert meta["training"]["best_epoch"] == result.best_epoch and meta["name"] == result.repo_id
    assert qn.model.quantum.q.dtype == torch.float64
    assert set(tb.metrics) >= {"accuracy", "loss", "fgsm_accuracy", "quantum_accuracy"}
    assert set(tb.metrics["accuracy"]) == {"train", "validation", "test"}
    assert json.loads((tb.path / "qchaos.json").read_text())["meta"]["training"]["adversarial"] == "both"
    with pytest.raises(ValueError, match="a checkpoint of QuantumLocalizationNet .*not of DensityCNN"):
        DensityCNN.from_pretrained(qn.path)
    with pytest.raises(ValueError, match="a checkpoint of DensityCNN .*not of QuantumLocalizationNet"):
        QuantumLocalizationNet.from_pretrained(tb.path)
    with pytest.raises(ValueError, match=r"does not fit DensityCNN\(.*image_size=32"):
        DensityCNN.from_pretrained(tb.path, image_size=32)


def test_missing_or_wrong_dataset_gives_a_clear_error(tmp_path, hub):
    from modeling.train import train

    with pytest.raises(DatasetNotFoundError, match=r"qchaos generate twobody --preset paper && qchaos publish "
                                                   r"twobody --preset paper"):
        train("density-cnn", "paper", source="local", progress=False, log_path=tmp_path / "x.json")
    with pytest.raises(DatasetNotFoundError, match=r"'qchaos/tribaker-elsewhere': not found .*qchaos generate "
                                                   r"tribaker .*qchaos publish tribaker .*--repo-id "
                                                   r"qchaos/tribaker-elsewhere"):
        train("quantum-net", dataset="qchaos/tribaker-elsewhere", source="local", progress=False)
    with pytest.raises(ValueError, match="holds the tribaker system, but density-cnn trains on twobody data"):
        train("density-cnn", dataset=TRI_ID, source="local", progress=False)
    with pytest.raises(ValueError, match="hold only class"):
        train("density-cnn", dataset=TB_ID, etas=[1.0], source="local", progress=False,
              log_path=tmp_path / "y.json")
    with pytest.raises(ValueError, match="preset = 'huge'"):
        train("density-cnn", "huge", source="local")


def test_cli_train_end_to_end(tmp_path, hub, capsys):
    from qchaos.cli import main

    log = tmp_path / "cli.json"
    rc = main(["train", "quantum-net", "--dataset", TRI_ID, "--epochs", "2", "--grid-size", "8", "--seed", "1",
               "--repo-id", "qchaos/quantum-net-cli", "--log", str(log), "--quiet"])
    assert rc == 0
    record = json.loads((hub / "models" / "qchaos" / "quantum-net-cli" / "qchaos.json").read_text())
    assert record["model_class"] == "QuantumLocalizationNet"
    assert record["meta"]["training"]["seed"] == 1 and record["meta"]["dataset"] == TRI_ID
    data = json.loads(log.read_text())
    assert len(data["epochs"]) == 2 and data["steps"] and data["final"]["accuracy"]["validation"] >= 0
    assert data["epochs"][0].keys() >= {"train_loss", "train_accuracy", "validation_loss", "validation_accuracy"}
    rc = main(["train", "density-cnn", "--dataset", TRI_ID, "--quiet"])
    assert rc == 2 and "holds the tribaker system" in capsys.readouterr().err


def test_train_settings_reject_bad_values_by_name():
    from modeling.train import settings_for

    with pytest.raises(ValueError, match="schedule = 'linear': must be 'constant' or 'cosine'"):
        settings_for("density-cnn", "mini", schedule="linear")
    with pytest.raises(ValueError, match="lr = -0.1: must be > 0"):
        settings_for("density-cnn", "mini", lr=-0.1)
    with pytest.raises(ValueError, match="preset = 'huge'"):
        settings_for("quantum-net", "huge")
    with pytest.raises(ValueError, match="augment: only for the density models"):
        settings_for("quantum-net", "mini", augment=True)
    with pytest.raises(ValueError, match="augment = 'yes': must be True or False"):
        settings_for("density-cnn", "mini", augment="yes")
    paper = settings_for("density-cnn", "paper")
    assert paper.schedule == "cosine" and paper.dataset == "qchaos/twobody-paper"
