"""PNG figures of an evaluation: per-label F1 by system, precision–recall curves, label confusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve

from ..data.labels import ALL_LABELS, TASK_COLUMNS, TASKS
from .predictions import Predictions


def _pyplot():
    """matplotlib, imported only when a figure is drawn (files only: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_label_f1(metrics: dict, path: Path) -> None:
    """Grouped bars: F1 of each label for every system (mean over seeds, std as error bars)."""
    plt = _pyplot()
    systems = list(metrics["systems"])
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [10, 6]})
    for ax, task in zip(axes, TASKS, strict=True):
        names = list(TASKS[task])
        width = 0.8 / len(systems)
        for k, system in enumerate(systems):
            per_label = metrics["systems"][system][task].get("per_label", {})
            means = [per_label.get(n, {}).get("f1", {}).get("mean", 0.0) for n in names]
            stds = [per_label.get(n, {}).get("f1", {}).get("std", 0.0) for n in names]
            ax.bar(np.arange(len(names)) + k * width, means, width, yerr=stds, label=system, capsize=2)
        first = metrics["systems"][systems[0]][task].get("per_label", {})
        for i, name in enumerate(names):  # no bar is not F1 0: say why
            if not first.get(name, {}).get("support"):
                ax.text(i + 0.4 - width / 2, 0.02, "no support", rotation=90, ha="center", fontsize=8)
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_xlabel("label")
        ax.set_ylabel("F1 (mean over seeds)")
        ax.set_title(f"{task}: per-label F1")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pr_curves(systems: dict[str, Predictions], path: Path) -> None:
    """One panel per label: precision–recall curve of each system (first seed)."""
    plt = _pyplot()
    fig, axes = plt.subplots(4, 4, figsize=(16, 14))
    for column, ax in zip(range(len(ALL_LABELS)), axes.flat, strict=True):
        basis = column in TASK_COLUMNS["legal_basis"]
        for name, run in systems.items():
            rows = run.basis_known if basis else np.ones(len(run), dtype=bool)
            truth = run.labels[rows, column]
            if truth.sum() == 0:
                continue
            precision, recall, _ = precision_recall_curve(truth, run.probs[rows, column])
            (line,) = ax.plot(recall, precision, label=name)
            decided = run.decisions[rows, column]  # the operating point of the tuned threshold
            hits = int((decided & truth).sum())
            ax.plot(hits / truth.sum(), hits / max(decided.sum(), 1), "o", color=line.get_color())
        ax.set_title(ALL_LABELS[column], fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        if not ax.lines:
            ax.text(0.5, 0.5, "no positives", ha="center", va="center")
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("recall (dot: the system's decisions at its tuned threshold)")
    fig.supylabel("precision")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def label_confusion(run: Predictions, task: str) -> np.ndarray:
    """Rows: true label; columns: predicted label; cell: share of the row's clauses given that label."""
    rows = run.basis_known if task == "legal_basis" else np.ones(len(run), dtype=bool)
    columns = TASK_COLUMNS[task]
    truth, decided = run.labels[rows][:, columns], run.decisions[rows][:, columns]
    counts = truth.T @ decided
    return counts / np.maximum(truth.sum(axis=0), 1)[:, None]


def plot_confusion(run: Predictions, path: Path) -> None:
    """Heatmaps of which labels the model gives to clauses of each true label (diagonal: recall)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5), gridspec_kw={"width_ratios": [10, 6]})
    for ax, task in zip(axes, TASKS, strict=True):
        matrix = label_confusion(run, task)
        names = list(TASKS[task])
        ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        for (i, j), value in np.ndenumerate(matrix):
            if value >= 0.05:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 else "black")  # fmt: skip
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{task}: share of true-label clauses given each label")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
