"""Per-epoch record of a supernet's architecture, the collapse guard's decision, and the architecture report.

:class:`CallbackArchitecture` (a per-epoch callback; :func:`~trw_ray.nas.darts.darts_trainer` adds it) writes after
every epoch ``<run>/architecture/history.json``: per epoch the softmax weights of every edge, their mean entropy,
the derived genotype and its count of parameter-free ops. With a :class:`~trw_ray.nas.guard.CollapseGuard` it ends
training (``context.stop_training``) when the derived cell collapses. At the last epoch it writes
``genotype.json`` (the chosen genotype: the last one within the guard's limit), a heatmap of the weights per edge
over the epochs per cell type, and the chosen cell drawn as a graph; the run's ``index.html`` shows them.
The chosen genotype and the guard's decision are also in ``context.extra['architecture']``.
"""

from __future__ import annotations

from typing import Any

from trw_ray import layout
from trw_ray.io import write_json_atomic
from trw_ray.lazy_import import lazy_module
from trw_ray.nas.genotypes import parameter_free_count, parse_genotype
from trw_ray.nas.guard import CollapseGuard
from trw_ray.train.callbacks.base import Callback, TrainerContext

nas_plots = lazy_module("trw_ray.reports.architecture_plots")

__all__ = ["CallbackArchitecture", "chosen_architecture"]


def chosen_architecture(history: list[dict[str, Any]], guard: CollapseGuard | None) -> dict[str, Any]:
    """The genotype a search ends with, from its per-epoch records: the last epoch's, or, when the guard stopped
    the search, the last one within its limit from its ``start_epoch`` on (the collapsed one, flagged, when none
    was)."""
    if not history:
        raise ValueError("history: no epoch was recorded")
    last = history[-1]
    stopped = bool(last.get("guard_stopped"))
    chosen = last
    if stopped:
        # epochs before the guard's first (e.g. the architecture's warm-up) hold the initial, untrained weights
        within = [entry for entry in history if guard is None or
                  (entry["epoch"] >= guard.start_epoch and not guard.collapsed(entry["genotype"]))]
        chosen = within[-1] if within else last
    collapsed = guard.collapsed(chosen["genotype"]) if guard is not None else False
    return {"genotype": chosen["genotype"], "epoch": chosen["epoch"], "parameter_free": chosen["parameter_free"],
            "collapsed": collapsed, "guard_stopped": stopped, "stopped_at_epoch": last["epoch"] if stopped else None,
            "final_genotype": last["genotype"], "guard": guard.describe() if guard is not None else None}


class CallbackArchitecture(Callback):
    """Records the supernet's architecture every epoch, applies the collapse guard, writes the report at the end.

    Args:
        guard: a :class:`CollapseGuard` (None: record only).
    """

    def __init__(self, guard: CollapseGuard | None = None):
        super().__init__(strict=True)  # the search's result depends on it: its failure must not pass silently
        self.guard = guard
        self.history: list[dict[str, Any]] = []

    def __call__(self, context: TrainerContext) -> None:
        model = context.model
        if not callable(getattr(model, "architecture_weights", None)):
            raise TypeError(f"CallbackArchitecture: the model must be a trw_ray.nas.Supernet; got {type(model).__name__}")
        if not self.history and context.callback_state.get("architecture_history"):  # a resumed trial
            self.history = list(context.callback_state["architecture_history"])
        genotype = model.genotype()
        weights = model.architecture_weights()
        entry = {"epoch": context.epoch, "genotype": str(genotype), "parameter_free": parameter_free_count(genotype),
                 "entropy": model.entropy(), "weights": {cell: array.round(6).tolist() for cell, array in weights.items()},
                 "guard_stopped": False}
        if self.guard is not None and self.guard.should_stop(genotype, context.epoch) and not context.is_last_epoch:
            entry["guard_stopped"] = True
            context.stop_training(f"collapse guard: the derived normal cell holds {entry['parameter_free']} "
                                  f"parameter-free ops (> {self.guard.max_parameter_free}): {genotype}")
        elif self.guard is not None and self.guard.should_stop(genotype, context.epoch):
            entry["guard_stopped"] = True  # the last epoch collapsed: the result is the last cell within the limit
        self.history = [e for e in self.history if e["epoch"] < context.epoch] + [entry]
        context.callback_state["architecture_history"] = self.history
        chosen = chosen_architecture(self.history, self.guard)
        context.extra["architecture"] = chosen
        folder = context.run_dir / layout.ARCHITECTURE_FOLDER
        write_json_atomic(folder / layout.ARCHITECTURE_HISTORY_FILE, {"space": model.space.name,
                                                                      "ops": list(model.space.ops),
                                                                      "epochs": self.history, "chosen": chosen})
        if context.is_last_epoch:
            self._report(context, model.space, chosen)

    def _report(self, context: TrainerContext, space, chosen: dict[str, Any]) -> None:
        import numpy as np

        folder = context.run_dir / layout.ARCHITECTURE_FOLDER
        genotype = parse_genotype(chosen["genotype"])
        write_json_atomic(folder / layout.GENOTYPE_FILE, {**genotype.to_dict(), **chosen})
        edge_names = [f"{source}->{node}" for node, source in space.edges]
        for cell_type in space.cell_types:
            weights = np.asarray([entry["weights"][cell_type] for entry in self.history])
            nas_plots.plot_architecture_weights(weights, space.ops, edge_names, folder / f"weights_{cell_type}.png",
                                                title=f"{cell_type} cell: softmax weight of each op per edge")
            outputs = space.nodes if space.num_inputs > 1 else None
            nas_plots.plot_cell([(source, node, op) for op, source, node in genotype.cell(cell_type)],
                                space.num_inputs, folder / f"cell_{cell_type}.png", output_nodes=outputs,
                                title=f"{cell_type} cell derived at epoch {chosen['epoch']}", subtitle=str(genotype))
        (folder / "genotype.txt").write_text(
            f"genotype: {chosen['genotype']}\nchosen at epoch {chosen['epoch']}, parameter-free ops "
            f"{chosen['parameter_free']}, collapsed: {chosen['collapsed']}\n"
            f"collapse guard: {chosen['guard']}, stopped the search: {chosen['guard_stopped']}"
            f"{' at epoch ' + str(chosen['stopped_at_epoch']) if chosen['guard_stopped'] else ''}\n",
            encoding="utf-8")
