"""Log-linear scaling laws of acceptance (Scylla: Yan et al. 2025, arXiv 2505.07858).

Scylla reports that the acceptance rate of a drafter grows log-linearly in
its pre-training tokens and its capacity, and moves log-linearly with batch
size. :func:`fit_law` fits ``y = b0 + b1 ln x1 + ... + bk ln xk`` by least
squares (scipy), with parameter intervals, goodness of fit, and predictions
with confidence and prediction intervals, marked where they extrapolate.

A table comes from a user's CSV (:func:`speedoflight.formats.tables.read_table`, one row per
measurement) or from the project's own measurements:
:func:`acceptance_by_layer` turns a dump written with ``speedoflight dump
--early-exit`` into acceptance against the early-exit layer (the draft's
depth, its capacity), each with a sampling interval.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._config import DEFAULT_CONFIDENCE
from ..errors import InputError

__all__ = ["LawFit", "acceptance_by_layer", "fit_law"]


@dataclass
class LawFit:
    """A fitted log-linear law ``y = b0 + sum_j b_j ln x_j``.

    Attributes
    ----------
    coef, se, ci
        Intercept then one slope per x: estimates, standard errors, intervals.
    r2, adj_r2, rmse
        Goodness of fit (unweighted residuals).
    chi2, chi2_dof, chi2_p
        With per-point standard errors: the weighted residual sum, its degrees
        of freedom and the p-value of a chi-square test of the law.

    """

    y_name: str
    x_names: list[str]
    x: np.ndarray
    y: np.ndarray
    y_se: np.ndarray | None
    coef: np.ndarray
    se: np.ndarray
    ci: np.ndarray
    cov: np.ndarray
    dof: int
    r2: float
    adj_r2: float
    rmse: float
    sigma: float
    confidence: float
    chi2: float | None = None
    chi2_p: float | None = None
    notes: list[str] = field(default_factory=list)

    def predict(self, x_new: np.ndarray) -> dict[str, np.ndarray]:
        """Predictions at ``x_new`` (``[m]`` for one x, ``[m, k]`` for several).

        Returns ``mean``, ``ci_low``/``ci_high`` (the law's mean),
        ``pi_low``/``pi_high`` (a new measurement, residual scatter
        ``sigma``) and ``extrapolated`` (outside the fitted range of some x).

        Parameters
        ----------
        x_new
            Positive, finite prediction points, one value per x.

        Returns
        -------
        dict of str to np.ndarray
            ``x`` (the points as ``[m, k]``), ``mean``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` and
            ``extrapolated``.

        """
        from scipy import stats

        xn = np.asarray(x_new, dtype=np.float64)
        if xn.ndim == 1:
            xn = xn[:, None] if len(self.x_names) == 1 else xn[None, :]
        if xn.shape[1] != len(self.x_names):
            raise InputError(f"give {len(self.x_names)} value(s) per prediction point ({', '.join(self.x_names)})")
        if np.any(xn <= 0) or not np.all(np.isfinite(xn)):
            raise InputError("a log-linear law needs positive, finite x values")
        design = np.column_stack([np.ones(len(xn)), np.log(xn)])
        mean = design @ self.coef
        var_mean = np.einsum("ij,jk,ik->i", design, self.cov, design)
        q = stats.t.ppf(0.5 + self.confidence / 2, self.dof)
        half_ci = q * np.sqrt(var_mean)
        half_pi = q * np.sqrt(var_mean + self.sigma**2)
        lo, hi = self.x.min(axis=0), self.x.max(axis=0)
        return {
            "x": xn,
            "mean": mean,
            "ci_low": mean - half_ci,
            "ci_high": mean + half_ci,
            "pi_low": mean - half_pi,
            "pi_high": mean + half_pi,
            "extrapolated": np.any((xn < lo) | (xn > hi), axis=1),
        }

    def to_dict(self, at: np.ndarray | None = None) -> dict[str, Any]:
        """JSON-ready summary, with predictions at ``at`` when given.

        Parameters
        ----------
        at
            Optional prediction points, as for :meth:`predict`.

        Returns
        -------
        dict
            The law, parameters with intervals, goodness of fit, notes and, with ``at``, ``predictions``.

        """
        names = ["intercept"] + [f"ln({n})" for n in self.x_names]
        out: dict[str, Any] = {
            "law": f"{self.y_name} = b0 + " + " + ".join(f"b{j + 1} ln({n})" for j, n in enumerate(self.x_names)),
            "y": self.y_name,
            "x": self.x_names,
            "n": len(self.y),
            "dof": self.dof,
            "parameters": {
                n: {"estimate": float(c), "se": float(s), "ci": [float(a), float(b)]}
                for n, c, s, (a, b) in zip(names, self.coef, self.se, self.ci, strict=True)
            },
            "confidence": self.confidence,
            "r2": self.r2,
            "adj_r2": self.adj_r2,
            "rmse": self.rmse,
            "chi2": self.chi2,
            "chi2_p": self.chi2_p,
            "notes": self.notes,
        }
        if at is not None:
            pred = self.predict(at)
            out["predictions"] = [
                {
                    "x": [float(v) for v in pred["x"][i]],
                    "mean": float(pred["mean"][i]),
                    "ci": [float(pred["ci_low"][i]), float(pred["ci_high"][i])],
                    "prediction_interval": [float(pred["pi_low"][i]), float(pred["pi_high"][i])],
                    "extrapolated": bool(pred["extrapolated"][i]),
                }
                for i in range(len(pred["mean"]))
            ]
        return out

    def text(self, at: np.ndarray | None = None) -> str:
        """Human-readable summary.

        Parameters
        ----------
        at
            Optional prediction points, as for :meth:`predict`.

        Returns
        -------
        str
            Lines giving the law, its parameters, goodness of fit, any predictions and notes.

        """
        d = self.to_dict(at)
        lines = [f"{d['law']}   (n = {d['n']}, {self.confidence:.0%} intervals)"]
        for name, par in d["parameters"].items():
            lines.append(
                f"  {name:>20s} {par['estimate']:+.5f}  se {par['se']:.5f}  CI {par['ci'][0]:+.5f}..{par['ci'][1]:+.5f}"
            )
        fit = f"  R^2 {self.r2:.4f}  adjusted {self.adj_r2:.4f}  RMSE {self.rmse:.5f}"
        if self.chi2 is not None:
            fit += f"  chi^2 {self.chi2:.2f} on {self.dof} dof (p = {self.chi2_p:.3g})"
        lines.append(fit)
        for p in d.get("predictions", []):
            mark = "  (extrapolated)" if p["extrapolated"] else ""
            xs = ", ".join(f"{n}={v:g}" for n, v in zip(self.x_names, p["x"], strict=True))
            lines.append(
                f"  at {xs}: {p['mean']:.4f}  CI {p['ci'][0]:.4f}..{p['ci'][1]:.4f}  "
                f"prediction {p['prediction_interval'][0]:.4f}..{p['prediction_interval'][1]:.4f}{mark}"
            )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def fit_law(
    x: np.ndarray,
    y: np.ndarray,
    *,
    y_se: np.ndarray | None = None,
    x_names: list[str] | None = None,
    y_name: str = "acceptance",
    confidence: float = DEFAULT_CONFIDENCE,
) -> LawFit:
    """Fit ``y = b0 + sum_j b_j ln x_j`` by (weighted) least squares with scipy.

    Parameters
    ----------
    x
        ``[n]`` or ``[n, k]`` positive predictors.
    y
        ``[n]`` responses (acceptance rates, accepted tokens...).
    y_se
        Optional ``[n]`` standard errors of y: the fit is weighted by
        ``1 / se^2``, parameter errors take the errors as known, and a
        chi-square test of the law is reported.
    x_names, y_name
        Names for the output.
    confidence
        Level of the intervals (Student t with n - k - 1 degrees of freedom).

    Returns
    -------
    LawFit
        Parameters with intervals, goodness of fit and a predictor.

    """
    from scipy import stats
    from scipy.optimize import least_squares

    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim == 1:
        xs = xs[:, None]
    ys = np.asarray(y, dtype=np.float64)
    names = x_names or [f"x{j + 1}" for j in range(xs.shape[1])]
    if len(names) != xs.shape[1] or len(ys) != len(xs):
        raise InputError("x and y must have one row per measurement")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise InputError("x and y must be finite (drop the rows with missing values)")
    if np.any(xs <= 0):
        raise InputError(f"{', '.join(names)}: a log-linear law needs positive x values")
    k = xs.shape[1] + 1
    n = len(ys)
    if n <= k:
        raise InputError(f"{n} points cannot give intervals for {k} parameters; give at least {k + 1}")
    w = np.ones(n)
    if y_se is not None:
        se_in = np.asarray(y_se, dtype=np.float64)
        if se_in.shape != ys.shape or not np.all(np.isfinite(se_in)) or np.any(se_in <= 0):
            raise InputError("the standard errors of y must be positive and finite, one per row")
        w = 1.0 / se_in
    design = np.column_stack([np.ones(n), np.log(xs)])
    for j, name in enumerate(names):
        if np.ptp(np.log(xs[:, j])) == 0.0:
            raise InputError(f"{name}: every x is {xs[0, j]:g}, so no slope can be fitted; give x values that differ")
    if np.linalg.matrix_rank(design) < k:
        raise InputError(
            f"{', '.join(names)}: the x columns are proportional to each other on a log scale, so their slopes "
            "cannot be told apart; fit them one at a time"
        )
    jac = design * w[:, None]

    def resid(b: np.ndarray) -> np.ndarray:
        return (design @ b - ys) * w

    start = np.linalg.lstsq(jac, ys * w, rcond=None)[0]
    sol = least_squares(resid, start, jac=lambda b: jac, method="lm")
    coef = sol.x
    dof = n - k
    fitted = design @ coef
    res = ys - fitted
    rss = float(res @ res)
    tss = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - rss / tss if tss > 0 else math.nan
    adj = 1.0 - (1.0 - r2) * (n - 1) / dof if tss > 0 else math.nan
    sigma = math.sqrt(rss / dof)
    jtj_inv = np.linalg.pinv(jac.T @ jac)
    chi2 = chi2_p = None
    notes = []
    if y_se is None:
        cov = jtj_inv * sigma**2
    else:
        cov = jtj_inv
        chi2 = float((resid(coef) ** 2).sum())
        chi2_p = float(stats.chi2.sf(chi2, dof))
        if chi2_p < 0.05:
            notes.append(
                f"the law does not fit within the stated errors (chi-square p = {chi2_p:.2g}); the parameter "
                "intervals assume it does"
            )
    se = np.sqrt(np.diag(cov))
    q = stats.t.ppf(0.5 + confidence / 2, dof)
    ci = np.stack([coef - q * se, coef + q * se], axis=1)
    return LawFit(
        y_name=y_name,
        x_names=names,
        x=xs,
        y=ys,
        y_se=None if y_se is None else np.asarray(y_se, dtype=np.float64),
        coef=coef,
        se=se,
        ci=ci,
        cov=cov,
        dof=dof,
        r2=r2,
        adj_r2=adj,
        rmse=math.sqrt(rss / n),
        sigma=sigma,
        confidence=confidence,
        chi2=chi2,
        chi2_p=chi2_p,
        notes=notes,
    )


def acceptance_by_layer(target: str, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, list[Any]]:
    """Measure the acceptance of each early-exit view of ``target`` against it (a dump from ``dump --early-exit``).

    Parameters
    ----------
    target
        The full model's dump of the run; its views are found beside it.
    confidence
        Level of the intervals (over prompts, else sequences).

    Returns
    -------
    dict
        Columns ``draft_layers``, ``acceptance`` (mean exact overlap),
        ``acceptance_se``, ``ci_low``, ``ci_high`` and ``rows``.

    """
    from .._util.stats import interval_of_mean
    from ..readers.dumpfile import read_metadata
    from ..readers.pairs import read_pair

    meta = read_metadata(target)
    pair = meta.get("pair") or {}
    if pair.get("view") != "full":
        raise InputError(f"{target}: not the full model's dump of a `speedoflight dump --early-exit` run")
    folder = os.path.dirname(os.path.abspath(target))
    cols: dict[str, list[Any]] = {
        k: [] for k in ("draft_layers", "acceptance", "acceptance_se", "ci_low", "ci_high", "rows")
    }
    for view, name in zip(pair["views"], pair["files"], strict=True):
        if view == "full":
            continue
        got = read_pair(target, os.path.join(folder, name))
        mean, se, lo, hi = interval_of_mean(got.alpha, got.clusters(), confidence)
        cols["draft_layers"].append(int(view.split(":")[1]))
        cols["acceptance"].append(mean)
        cols["acceptance_se"].append(se)
        cols["ci_low"].append(lo)
        cols["ci_high"].append(hi)
        cols["rows"].append(got.n)
    return cols
