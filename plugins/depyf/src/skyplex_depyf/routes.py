"""HTTP routes of skyplex-depyf, mounted under ``/plugins/depyf``: decompile a function of posted
source. The source is compiled, never run, so a request cannot execute code on the server."""

from typing import Any

from pydantic import BaseModel, Field


class DecompileRequest(BaseModel):
    source: str = Field(max_length=200_000, description="Python source defining the function.")
    function: str = Field(min_length=1, max_length=200, description="Name of the function to decompile.")


def register(router: Any, kernel: Any) -> None:
    """Add ``POST /decompile``."""
    from skyplex.encoding import to_jsonable
    from skyplex.interfaces import InspectTarget

    @router.post("/decompile", summary="Decompile a function of the posted source back to verified source")
    def decompile_route(body: DecompileRequest) -> dict[str, Any]:
        target = InspectTarget(kind="source", ref=body.function, options={"source": body.source})
        return to_jsonable(kernel.inspectors.get("depyf").inspect(target))
