"""HTTP routes of skyplex-melange, mounted by the gateway under ``/plugins/melange``.

Allocating itself goes through the kernel's generic route (``POST /v1/allocators/melange/allocate``);
these add what only Mélange has: its GPU catalogue with prices, and the plot data (cost against
request rate for the mix and each single type, and the cheapest GPU type per bucket).
"""

from typing import Any

from skyplex.interfaces import AllocationProblem


def register(router: Any, kernel: Any) -> None:
    """Add ``GET /catalogue`` and ``POST /plot`` to ``router``."""
    from skyplex.encoding import to_jsonable
    from skyplex.errors import InvalidInputError

    @router.get("/catalogue", summary="GPU types Mélange knows, with specs and prices")
    def catalogue() -> dict[str, Any]:
        from .catalogue import load_catalogue

        cat = load_catalogue()
        return {"gpus": to_jsonable(list(cat.gpus.values()))}

    @router.post("/plot", summary="Cost curve and cheapest-GPU heatmap for a problem")
    def plot(problem: AllocationProblem) -> dict[str, Any]:
        from .plot import axis_labels

        options = {**problem.options, "plot": True}
        alloc = kernel.allocators.get("melange").allocate(problem.model_copy(update={"options": options}))
        if not alloc.feasible:
            raise InvalidInputError(alloc.explanation, field="problem")
        data = alloc.details["plot"]
        x_label, y_label = axis_labels(data["heatmap"])
        return {**data, "axes": {"heatmap_x": x_label, "heatmap_y": y_label}}
