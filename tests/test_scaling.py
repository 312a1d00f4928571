"""Scaling laws: exact recovery, interval coverage, predictions, the table from early-exit views."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from speedoflight.beyond.scaling import acceptance_by_layer, fit_law
from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.formats.tables import read_table

from .pairs import make_views


def test_exact_law_is_recovered():
    x = np.array([1e9, 3e9, 1e10, 3e10, 1e11])
    y = 0.1 + 0.05 * np.log(x)
    fit = fit_law(x, y)
    np.testing.assert_allclose(fit.coef, [0.1, 0.05], atol=1e-10)
    assert fit.r2 == pytest.approx(1.0)


def test_matches_the_normal_equations():
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 100, 9)
    y = 0.3 + 0.1 * np.log(x) + rng.normal(0, 0.02, 9)
    fit = fit_law(x, y)
    design = np.column_stack([np.ones(9), np.log(x)])
    coef = np.linalg.solve(design.T @ design, design.T @ y)
    s2 = ((y - design @ coef) ** 2).sum() / 7
    cov = s2 * np.linalg.inv(design.T @ design)
    np.testing.assert_allclose(fit.coef, coef, rtol=1e-8)
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(cov)), rtol=1e-6)
    x0 = np.array([1.0, np.log(500.0)])
    pred = fit.predict(np.array([500.0]))
    q = stats.t.ppf(0.975, 7)
    assert pred["pi_high"][0] - pred["mean"][0] == pytest.approx(q * np.sqrt(x0 @ cov @ x0 + s2), rel=1e-6)
    assert bool(pred["extrapolated"][0])
    assert not bool(fit.predict(np.array([50.0]))["extrapolated"][0])


def test_slope_interval_covers_the_truth_at_its_level():
    rng = np.random.default_rng(1)
    x = np.geomspace(1, 1000, 8)
    hits = 0
    n = 400
    for _ in range(n):
        y = 0.2 + 0.04 * np.log(x) + rng.normal(0, 0.03, len(x))
        lo, hi = fit_law(x, y).ci[1]
        hits += lo <= 0.04 <= hi
    # 95% intervals: the hit count is Binomial(400, .95); 99.9% of it lies in [365, 392]
    assert 365 <= hits <= 392


def test_weighted_fit_reports_a_chi_square():
    x = np.array([1.0, 2, 4, 8, 16, 32])
    se = np.full(6, 0.01)
    rng = np.random.default_rng(4)
    good = fit_law(x, 0.2 + 0.05 * np.log(x) + rng.normal(0, 0.01, 6), y_se=se)
    assert good.chi2_p > 1e-3
    bent = fit_law(x, 0.2 + 0.05 * np.log(x) ** 2, y_se=se)
    assert bent.chi2_p < 1e-6
    assert bent.notes


def test_bad_inputs():
    with pytest.raises(InputError, match="positive"):
        fit_law(np.array([0.0, 1, 2, 3]), np.ones(4))
    with pytest.raises(InputError, match="at least"):
        fit_law(np.array([1.0, 2]), np.ones(2))


def test_table_from_early_exit_views(tmp_path):
    paths, dists = make_views(tmp_path, layers=(2, 5, 9))
    cols = acceptance_by_layer(paths[-1])
    assert cols["draft_layers"] == [2, 5, 9]
    for layer_i in range(3):
        want = np.minimum(dists[layer_i], dists[-1]).sum(axis=1).mean()
        assert cols["acceptance"][layer_i] == pytest.approx(want)
        assert cols["ci_low"][layer_i] < want < cols["ci_high"][layer_i]
    with pytest.raises(InputError, match="full model"):
        acceptance_by_layer(paths[0])


def test_scaling_cli_csv(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    x = np.array([1e9, 2e9, 4e9, 8e9, 16e9])
    y = 0.4 + 0.02 * np.log(x / 1e9) + np.array([0.001, -0.002, 0.0, 0.002, -0.001])
    csv.write_text(
        "model,pretrain_tokens,acceptance\n"
        + "".join(f"m{i},{a},{b}\n" for i, (a, b) in enumerate(zip(x, y, strict=True)))
    )
    code = main(
        [
            "scaling",
            "--from",
            str(csv),
            "--x",
            "pretrain_tokens",
            "--at",
            "64e9",
            "--plot",
            str(tmp_path / "f.png"),
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    law = json.loads(out.out)["laws"][0]
    assert law["parameters"]["ln(pretrain_tokens)"]["estimate"] == pytest.approx(0.02, abs=0.003)
    pred = law["predictions"][0]
    assert pred["extrapolated"] is True
    assert pred["prediction_interval"][0] < pred["mean"] < pred["prediction_interval"][1]
    assert (tmp_path / "f.png").stat().st_size > 0
    assert read_table(str(csv))["acceptance"].shape == (5,)


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("1,2\n3,4\n", ["--x", "a"], "header"),
        ("a,acceptance\n1,0.1\n2,0.2\n3,0.3\n", ["--x", "b"], "no numeric column"),
        ("a,acceptance\n1,0.1\n", ["--x", "a"], "at least"),
    ],
)
def test_scaling_cli_errors(tmp_path, capsys, text, args, message):
    csv = tmp_path / "s.csv"
    csv.write_text(text)
    assert main(["scaling", "--from", str(csv), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
