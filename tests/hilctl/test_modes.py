"""The crossbar formulations: weights from conductances, conductances from weights, gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hilctl.drivers import DataError
from hilctl.simulated_backend import DeviceParams
from hilctl.weights import modes as cm

G_LO, G_HI = 1.2e-6, 38e-6


def test_voltage_mode_round_trip_uses_the_window():
    w = np.random.default_rng(0).normal(size=(9, 5))
    g_plus, g_minus, s = cm.voltage_mode_conductances(w, G_LO, G_HI)
    np.testing.assert_allclose(cm.voltage_mode_weights(g_plus, g_minus, s), w, atol=1e-12)
    assert g_plus.min() >= G_LO and g_minus.min() >= G_LO
    assert max(g_plus.max(), g_minus.max()) == pytest.approx(G_HI)
    assert np.all(np.minimum(g_plus, g_minus) == G_LO)


def test_row_bound_is_the_pair_ratio():
    assert cm.row_bound(1.0, 3.0) == pytest.approx(0.5)
    with pytest.raises(DataError, match="window"):
        cm.row_bound(3.0, 1.0)


@pytest.mark.parametrize("common_mode", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("ballast", [0.0, 30e-6])
def test_current_mode_mapping_realises_bounded_rows(common_mode, ballast):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(12, 8)) * 0.05
    g_plus, g_minus, factor = cm.current_mode_conductances(w, G_LO, G_HI, ballast, common_mode)
    np.testing.assert_allclose(cm.current_mode_weights(g_plus, g_minus, ballast), w, atol=1e-12)
    assert np.all(factor == 1.0)
    for g in (g_plus, g_minus):
        assert g.min() >= G_LO - 1e-18 and g.max() <= G_HI + 1e-18
    if common_mode == 0.0:  # the idle device of each pair sits at g_lo
        np.testing.assert_allclose(np.minimum(g_plus, g_minus), G_LO)


def test_a_row_at_the_bound_is_realisable_and_beyond_it_is_reported():
    n = 6
    bound = cm.row_bound(G_LO, G_HI)
    at_bound = np.full((1, n), bound / n) * np.array([1, -1, 1, -1, 1, -1])
    g_plus, g_minus, _ = cm.current_mode_conductances(at_bound * (1 - 1e-9), G_LO, G_HI)
    np.testing.assert_allclose(cm.current_mode_weights(g_plus, g_minus), at_bound, rtol=1e-6)
    w = np.vstack([at_bound * 0.5, at_bound * 1.2])
    assert list(cm.infeasible_rows(w, G_LO, G_HI)) == [1]
    with pytest.raises(DataError, match="row bound"):
        cm.current_mode_conductances(w, G_LO, G_HI)


def test_rescale_scales_only_the_violating_rows_into_range():
    w = np.array([[0.1, -0.1, 0.05], [0.9, -0.5, 0.3]])
    g_plus, g_minus, factor = cm.current_mode_conductances(w, G_LO, G_HI, rescale=True)
    assert factor[0] == 1.0 and 0 < factor[1] < 1
    np.testing.assert_allclose(cm.current_mode_weights(g_plus, g_minus), w * factor[:, None],
                               atol=1e-12)
    assert g_plus.max() <= G_HI + 1e-18


def test_one_concentrated_weight_can_break_a_row_below_the_sum_bound():
    """A row needs m * S <= g_hi - g_lo too: one big weight among many pairs is not realisable
    even though its row sum is below (g_hi - g_lo)/(g_hi + g_lo)."""
    w = np.zeros((1, 64))
    w[0, 0] = 0.5
    assert np.abs(w).sum() < cm.row_bound(G_LO, G_HI)
    assert list(cm.infeasible_rows(w, G_LO, G_HI)) == [0]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 20), rows=st.integers(1, 6),
       ballast=st.floats(0, 1e-4))
def test_any_row_within_its_headroom_maps_exactly(seed, n, rows, ballast):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(rows, n)) * rng.exponential(size=(rows, 1))
    headroom = cm.row_headroom(w, G_LO, G_HI, ballast)
    w = w * np.minimum(headroom, 1e6)[:, None] * 0.999
    g_plus, g_minus, _ = cm.current_mode_conductances(w, G_LO, G_HI, ballast)
    np.testing.assert_allclose(cm.current_mode_weights(g_plus, g_minus, ballast), w,
                               rtol=1e-7, atol=1e-12)


def test_autograd_through_the_divider_is_the_nonlocal_rule():
    torch.manual_seed(0)
    g_plus = (torch.rand(5, 4, dtype=torch.float64) + 0.1).requires_grad_()
    g_minus = (torch.rand(5, 4, dtype=torch.float64) + 0.1).requires_grad_()
    x = torch.rand(3, 5, dtype=torch.float64)
    target = torch.rand(3, 4, dtype=torch.float64)

    def loss_of(w):
        return ((x @ w - target) ** 2).sum()

    loss_of(cm.current_mode_weights(g_plus, g_minus)).backward()
    w = cm.current_mode_weights(g_plus, g_minus).detach().requires_grad_()
    loss_of(w).backward()
    de_dw = w.grad
    s = (g_plus + g_minus).sum(dim=1, keepdim=True).detach()
    common = (w * de_dw).sum(dim=1, keepdim=True)
    torch.testing.assert_close(g_plus.grad, (de_dw - common) / s)
    torch.testing.assert_close(g_minus.grad, (-de_dw - common) / s)


def test_device_iv_and_read_convention_match_the_simulated_device():
    params = DeviceParams()
    seen = cm.iv_current(1e-5, 0.2, params.iv_v0_V) / 0.2
    assert seen == pytest.approx(1e-5 * params.read_factor(0.2))
    assert cm.iv_current(1e-5, 1e-4, 0.3) == pytest.approx(1e-9, rel=1e-6)  # ohmic when small
    assert cm.iv_current(1e-5, 0.3, 0.3) == pytest.approx(1e-5 * 0.3 * np.sinh(1.0))


def test_iv_transfer_is_exact_at_zero_and_full_scale_and_sags_between():
    x = np.linspace(0, 1, 11)
    f = cm.iv_transfer(x, 0.5, 0.3)
    assert f[0] == 0 and f[-1] == pytest.approx(1.0)
    assert np.all(f[1:-1] < x[1:-1])
    low = cm.iv_transfer(x, 0.01, 0.3)
    np.testing.assert_allclose(low, x, atol=1e-3)
    torch.testing.assert_close(cm.iv_transfer(torch.as_tensor(x), 0.5, 0.3), torch.as_tensor(f))


def test_a_current_divider_splits_in_proportion_to_g_whatever_the_shared_iv():
    """Why current mode needs no I-V-aware training: every device of a row sees the same row
    voltage, so each takes I_k / I = G_k / S at any voltage."""
    g = np.array([1e-6, 5e-6, 20e-6, 38e-6])
    for volts in (0.05, 0.2, 0.6):
        current = cm.iv_current(g, volts, 0.3)
        np.testing.assert_allclose(current / current.sum(), g / g.sum())


@pytest.mark.parametrize("mode", [cm.VOLTAGE, cm.CURRENT], ids=lambda m: m.name)
def test_each_mode_object_maps_weights_to_conductances_and_back(mode):
    rng = np.random.default_rng(3)
    w = rng.uniform(-1, 1, (5, 4))
    w *= 0.5 * cm.row_bound(G_LO, G_HI) / np.abs(w).sum(axis=1, keepdims=True)
    scale = mode.layer_scale(w, G_LO, G_HI)
    g_plus, g_minus, factor = mode.conductances(w, G_LO, G_HI, scale=scale)
    assert np.all(factor == 1.0)
    assert G_LO <= g_plus.min() and max(g_plus.max(), g_minus.max()) <= G_HI * (1 + 1e-12)
    np.testing.assert_allclose(mode.weights(g_plus, g_minus, scale=scale), w, atol=1e-12)
    mode.check_weights([w], "model")


def test_only_voltage_mode_sees_the_device_iv_and_only_current_mode_bounds_rows():
    assert cm.VOLTAGE.input_transfer(0.5, 0.3)(np.array([0.5]))[0] < 0.5
    assert cm.CURRENT.input_transfer(0.5, 0.3) is None
    with pytest.raises(DataError, match="cannot exceed 1"):
        cm.CURRENT.check_weights([np.array([[0.7, -0.6]])], "model")
    cm.VOLTAGE.check_weights([np.array([[0.7, -0.6]])], "model")
    with pytest.raises(DataError, match="'resistive' is unknown"):
        cm.weight_mode("resistive")
