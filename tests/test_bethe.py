"""Exact Bethe-ansatz levels (``generation/twobody/bethe.py``) against the known answers of ``docs/twobody.md`` §3, §9
and against exact diagonalization of the truncated product-sine Hamiltonian.

The ED is the project's own (``generation.twobody.hamiltonian.BlockHamiltonian`` with
``generation.twobody.eigensolve.block_eigh``): ``H = diag(E0) + g U W U^T`` (``docs/twobody.md`` §11 (low rank)), the lowest
eigenvalues by spectrum slicing (checked against dense ``eigvalsh`` below), eigenvalue counts below an energy by
Sylvester's inertia (``count_below``). ED in an energy-cutoff basis is variational and converges from above like
``E_cut^(-1/2)``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from generation.twobody.basis import basis_by_count, energy0
from generation.twobody.bethe import BetheSpectrum, bethe_levels, d6_triples, horizontal_energies
from generation.twobody.eigensolve import block_eigh
from generation.twobody.hamiltonian import BlockHamiltonian

THIRD = 1.0 / 3.0

# docs/twobody.md §3.1 / §9 (d): lowest levels per parity at eta = 1/3, g = 5 (4th even one is horizontal, 28 pi^2/8)
KNOWN_EVEN = [8.839195, 17.726279, 25.020598, 34.543615, 39.088536]
KNOWN_ODD = [10.608512, 19.330866, 27.057348, 28.962076, 42.137972]


# ------------------------------------------------------------------------------------------------ ED helpers


def _block(eta, n_basis: int, parity: str, g: float) -> BlockHamiltonian:
    """H = diag(E0) + g V of one parity block of the basis of the lowest n_basis states (both parities)."""
    return BlockHamiltonian(basis_by_count(eta, n_basis, parity), g)


def ed_lowest(eta, n_basis: int, parity: str, g: float, k: int) -> np.ndarray:
    """The k lowest eigenvalues of the truncated H (one parity block), by spectrum slicing."""
    return block_eigh(_block(eta, n_basis, parity, g), 0, k, method="slice")[0]


def ed_count_below(eta, n_basis: int, parity: str, g: float, energy: float) -> int:
    """#eigenvalues of the truncated H below ``energy`` (Sylvester inertia of the bordered matrix, §11)."""
    ham = _block(eta, n_basis, parity, g)
    assert np.min(np.abs(ham.d - energy)) > 1e-6
    return ham.count_below(energy)


def _by_label(spec: BetheSpectrum) -> dict:
    return {(int(a), int(c)): (e, int(lv)) for a, c, e, lv in zip(spec.n, spec.m, spec.energy, spec.level)}


# ------------------------------------------------------------------------------------------ known answers


def test_known_levels_eta_third_g5():
    even = bethe_levels(THIRD, 5.0, 5, "even")
    odd = bethe_levels(THIRD, 5.0, 5, "odd")
    np.testing.assert_allclose(even.energy, KNOWN_EVEN, atol=1e-6, rtol=0)
    np.testing.assert_allclose(odd.energy, KNOWN_ODD, atol=1e-6, rtol=0)
    assert even.horizontal.tolist() == [False, False, False, True, False]
    assert not odd.horizontal.any()
    assert (even.parity == 0).all() and (odd.parity == 1).all()
    # labels of the spec's examples: (1,1) ground, (1,3), (2,2); odd ground (1,2); horizontal (1,5)
    assert list(zip(even.n[:4].tolist(), even.m[:4].tolist())) == [(1, 1), (1, 3), (2, 2), (1, 5)]
    assert (odd.n[0], odd.m[0]) == (1, 2)


def test_result_types_and_shapes():
    spec = bethe_levels("1/3", 2.5, 40)
    assert isinstance(spec, BetheSpectrum)
    for name, dtype in [("energy", np.float64), ("parity", np.int8), ("n", np.int64), ("m", np.int64),
                        ("horizontal", np.bool_), ("level", np.int64)]:
        arr = getattr(spec, name)
        assert arr.shape == (40,) and arr.dtype == dtype, name
    np.testing.assert_array_equal(spec.level, np.arange(1, 41))
    np.testing.assert_array_equal(spec.parity, (spec.n + spec.m) % 2)
    assert np.all(np.diff(spec.energy) >= -1e-12 * spec.energy[1:])


@pytest.mark.parametrize("eta", [THIRD, 1.0])
def test_g0_is_exactly_e0_in_basis_order(eta):
    n_levels = 3000
    spec = bethe_levels(eta, 0.0, n_levels)
    b = basis_by_count(eta, n_levels)
    np.testing.assert_array_equal(spec.energy, b.e0[:n_levels])
    np.testing.assert_array_equal(spec.n, b.n[:n_levels])
    np.testing.assert_array_equal(spec.m, b.m[:n_levels])
    np.testing.assert_array_equal(spec.level, b.level[:n_levels])
    for parity, code in [("even", 0), ("odd", 1)]:
        block = bethe_levels(eta, 0.0, 700, parity)
        sel = b.parity[:n_levels] == code
        np.testing.assert_array_equal(block.energy, b.e0[:n_levels][sel][:700])
        np.testing.assert_array_equal(block.level, b.level[:n_levels][sel][:700])


def test_triple_and_horizontal_counts():
    for n_levels, n_triples, n_energies in [(1000, 155, 137), (3000, 480, 398), (5000, 806, 649)]:
        triples = d6_triples(n_levels)
        assert triples.shape == (n_triples, 3, 2) and triples.dtype == np.int64
        assert len(horizontal_energies(n_levels)) == n_energies
    triples = d6_triples(5000)
    key = 3 * triples[..., 0] ** 2 + triples[..., 1] ** 2
    assert (key == key[:, :1]).all()  # the three members are degenerate
    assert ((triples[..., 0] + triples[..., 1]) % 2 == 0).all() and (triples > 0).all()
    np.testing.assert_array_equal(triples[0], [[1, 5], [2, 4], [3, 1]])
    energies = horizontal_energies(5000)
    assert np.all(np.diff(energies) > 0)
    assert energies[0] == pytest.approx(28 * np.pi**2 / 8, rel=1e-14)
    assert energies[1] == pytest.approx(52 * np.pi**2 / 8, rel=1e-14)


def test_horizontal_levels_match_triples_and_do_not_move():
    n_levels = 1000
    spec0 = bethe_levels(THIRD, 0.0, n_levels)
    triples = d6_triples(n_levels)
    hor0 = sorted(zip(spec0.n[spec0.horizontal].tolist(), spec0.m[spec0.horizontal].tolist()))
    assert hor0 == sorted(map(tuple, triples[:, 0].tolist()))
    labels = set(hor0)
    energies = {}
    for g in (0.0, 1.0, 5.0, 50.0, 1e6):
        spec = bethe_levels(THIRD, g, n_levels + 400)
        got = {k: v[0] for k, v in _by_label(spec).items() if k in labels}
        assert set(got) == labels
        hor = {(int(a), int(c)) for a, c in zip(spec.n[spec.horizontal], spec.m[spec.horizontal])}
        assert labels <= hor
        energies[g] = got
    for g in energies:
        assert energies[g] == energies[0.0]  # bit for bit
    for (a, c), e in energies[0.0].items():
        assert e == energy0(a, c, THIRD)


def test_level_number_facts():
    # first horizontal level: #8 ((1,5), 28 pi^2/8) at g = 5 and 50; the horizontal level #18 ((1,7)) -> 17 -> 16
    spec0 = bethe_levels(THIRD, 0.0, 30)
    assert spec0.level[spec0.horizontal][:2].tolist() == [8, 18]
    for g, ranks in [(5.0, [8, 17]), (50.0, [8, 16])]:
        spec = bethe_levels(THIRD, g, 30)
        assert spec.level[spec.horizontal][:2].tolist() == ranks
        lab = _by_label(spec)
        assert lab[(1, 5)][1] == 8 and lab[(1, 7)][1] == ranks[1]
    # at g = 0: level 16 = (2,6) even, 4825 = (60,5) odd, 4826-4828 = the triple (2,104),(51,55),(53,49)
    spec0 = bethe_levels(THIRD, 0.0, 5000)
    assert (spec0.n[15], spec0.m[15], spec0.parity[15]) == (2, 6, 0)
    assert (spec0.n[4824], spec0.m[4824], spec0.parity[4824]) == (60, 5, 1)
    assert list(zip(spec0.n[4825:4828].tolist(), spec0.m[4825:4828].tolist())) == [(2, 104), (51, 55), (53, 49)]
    assert spec0.horizontal[4825:4828].tolist() == [True, False, False]
    trip = d6_triples(5000)
    assert any((t == [[2, 104], [51, 55], [53, 49]]).all() for t in trip)
    # (60,5) followed to g = 1 (spec: 13355.808407, E0 = 13354.8085)
    e, level = _by_label(bethe_levels(THIRD, 1.0, 5000))[(60, 5)]
    assert e == pytest.approx(13355.808407, abs=2e-6)
    assert level == 4825


def test_completeness_count_g5():
    # docs/twobody.md §3.1: BA gives 206 even + 207 odd states with E <= 1200 at g = 5 (= ED counts)
    spec = bethe_levels(THIRD, 5.0, 600)
    assert spec.energy[-1] > 1200
    below = spec.energy <= 1200
    assert (np.sum(below & (spec.parity == 0)), np.sum(below & (spec.parity == 1))) == (206, 207)
    assert ed_count_below(THIRD, 8000, "even", 5.0, 1200.0) == 206
    assert ed_count_below(THIRD, 8000, "odd", 5.0, 1200.0) == 207


@pytest.mark.parametrize("eta", [THIRD, 1.0])
@pytest.mark.parametrize("g, center", [(0.3, 300), (5.0, 300), (40.0, 300), (1.0, 2000), (10.0, 2000)])
def test_counts_match_ed_inertia(eta, g, center):
    """Below an energy, the number of BA levels of each parity equals the exact ED count of a large basis."""
    spec = bethe_levels(eta, g, center + 200)
    e = spec.energy
    i = center - 50 + int(np.argmax(np.diff(e[center - 50 : center + 50])))  # cut in the widest gap nearby
    cut = 0.5 * (e[i] + e[i + 1])
    assert e[i + 1] - e[i] > 1.5
    for parity, code in [("even", 0), ("odd", 1)]:
        ba = int(np.sum((e < cut) & (spec.parity == code)))
        assert ed_count_below(eta, 16000, parity, g, cut) == ba


def test_sliced_ed_matches_dense():
    for eta in (THIRD, 1.0):
        b = basis_by_count(eta, 500, "odd")
        dense = np.linalg.eigvalsh(np.diag(b.e0) + 5.0 * b.interaction().toarray())[:14]
        np.testing.assert_allclose(ed_lowest(eta, 500, "odd", 5.0, 14), dense, rtol=0, atol=1e-9)


@pytest.mark.parametrize("eta", [THIRD, 1.0])
@pytest.mark.parametrize("parity", ["even", "odd"])
def test_lowest_levels_against_ed(eta, parity):
    g, k = 5.0, 12
    ba = bethe_levels(eta, g, k, parity)
    small = ed_lowest(eta, 4000, parity, g, k + 4)[:k]
    large = ed_lowest(eta, 16000, parity, g, k + 4)[:k]
    diff = large - ba.energy
    assert np.all(diff >= -1e-9), diff  # variational
    assert np.all(diff <= 0.1), diff
    assert np.all(small - ba.energy >= large - ba.energy - 1e-9)  # converging from above
    np.testing.assert_allclose(large[ba.horizontal], ba.energy[ba.horizontal], rtol=0, atol=1e-9)
    # Richardson in E_cut^(-1/2): far closer than either basis
    r = np.sqrt(basis_by_count(eta, 16000).e_cut / basis_by_count(eta, 4000).e_cut)
    extrapolated = (r * large - small) / (r - 1.0)
    np.testing.assert_allclose(extrapolated, ba.energy, rtol=0, atol=5e-3)
    if eta == 1.0:
        assert ba.horizontal.sum() >= 4  # exchange-antisymmetric levels are about half of all levels


def test_eta_one_structure():
    spec = bethe_levels(1.0, 0.0, 500)
    assert spec.horizontal.sum() == 241  # docs/twobody.md §3.2 and §9 (b): 241 of the first 500 levels
    np.testing.assert_array_equal(spec.horizontal, spec.n < spec.m)
    spec = bethe_levels("1", 7.0, 300)
    hor = spec.horizontal
    np.testing.assert_array_equal(spec.energy[hor], energy0(spec.n[hor], spec.m[hor], 1.0))
    # ground state (1,1): even roots of K tan K = g in (0, pi/2) and (pi, 3pi/2), E = (K_a^2 + K_b^2)/2
    g = 7.0
    ground = spec.energy[0]
    k0 = _bisect(lambda k: k * np.tan(k) - g, 1e-12, np.pi / 2 - 1e-12)
    k1 = _bisect(lambda k: k * np.tan(k) - g, np.pi + 1e-12, 1.5 * np.pi - 1e-12)
    assert ground == pytest.approx(0.5 * (k0**2 + k1**2), rel=1e-13)


def _bisect(f, lo, hi):
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("eta", [THIRD, 1.0])
def test_levels_rise_with_g_and_reach_hard_core(eta):
    n_levels = 800
    labels = None
    previous = None
    for g in (0.0, 1e-9, 0.1, 1.0, 10.0, 100.0, 1e4, 1e9):
        spec = bethe_levels(eta, g, n_levels + 600)
        lab = _by_label(spec)
        if labels is None:
            labels = list(lab)[:n_levels]
        e = np.array([lab[k][0] for k in labels])
        assert np.all(np.isfinite(e))
        if previous is not None:  # Hellmann-Feynman: dE/dg = <delta> >= 0 for every level
            assert np.all(e >= previous * (1 - 1e-13))
        if g == 1e-9:
            assert np.all(e - previous <= 1e-9 * 4 * (1 + 1e-6))  # first-order slope is bounded (~3/2 ... 2)
        previous = e


def test_parity_blocks_are_subsets_of_both():
    both = bethe_levels(THIRD, 10.0, 2000)
    for parity, code in [("even", 0), ("odd", 1)]:
        block = bethe_levels(THIRD, 10.0, 900, parity)
        sel = both.parity == code
        np.testing.assert_array_equal(block.energy, both.energy[sel][:900])
        np.testing.assert_array_equal(block.level, both.level[sel][:900])
        np.testing.assert_array_equal(block.n, both.n[sel][:900])


def test_eta_spellings():
    ref = bethe_levels(THIRD, 3.0, 50)
    for eta in ("1/3", 0.3333333333333333, 1 / 3 + 5e-13):
        np.testing.assert_array_equal(bethe_levels(eta, 3.0, 50).energy, ref.energy)
    np.testing.assert_array_equal(bethe_levels("1", 3.0, 50).energy, bethe_levels(1, 3.0, 50).energy)


def test_fast_5000_levels():
    t0 = time.perf_counter()
    spec = bethe_levels(THIRD, 10.0, 5000)
    elapsed = time.perf_counter() - t0
    assert len(spec) == 5000
    assert spec.horizontal.sum() > 700
    assert elapsed < 5.0


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"eta": 0.5, "g": 1.0, "n_levels": 10}, "eta"),
        ({"eta": 0.3333, "g": 1.0, "n_levels": 10}, "eta"),
        ({"eta": 3.0, "g": 1.0, "n_levels": 10}, "eta"),
        ({"eta": "abc", "g": 1.0, "n_levels": 10}, "eta"),
        ({"eta": THIRD, "g": -1.0, "n_levels": 10}, "g"),
        ({"eta": THIRD, "g": float("nan"), "n_levels": 10}, "g"),
        ({"eta": THIRD, "g": 1.0, "n_levels": 0}, "n_levels"),
        ({"eta": THIRD, "g": 1.0, "n_levels": 2.5}, "n_levels"),
        ({"eta": THIRD, "g": 1.0, "n_levels": 10, "parity": "up"}, "parity"),
    ],
)
def test_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        bethe_levels(**kwargs)


def test_bad_counts_for_triples():
    with pytest.raises(ValueError, match="n_levels"):
        d6_triples(0)
    with pytest.raises(ValueError, match="n_levels"):
        horizontal_energies(-5)
