"""The ``vllm`` backend: a clear error where vllm is missing; the conformance kit where it is installed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from skyplex import Kernel, make_plugin_manager
from skyplex.errors import ModelUnavailableError
from skyplex.models.vllm_backend import VLLMBackend, vllm_available
from skyplex.testing import ModelBackendConformance


def test_registration_does_not_import_vllm():
    code = (
        "import sys; from skyplex import Kernel, make_plugin_manager;"
        "k = Kernel(pm=make_plugin_manager(entrypoints=False)); k.models.describe();"
        "print('vllm' in k.models.names(), 'vllm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


@pytest.mark.skipif(vllm_available(), reason="vllm is installed here; the missing-vllm error cannot occur")
def test_without_vllm_construction_says_how_to_get_it(tmp_path):
    with pytest.raises(ModelUnavailableError) as info:
        VLLMBackend(model="HuggingFaceTB/SmolLM2-135M-Instruct")
    message = info.value.message
    assert "vllm is not installed here" in message and "pip install vllm" in message
    # through the kernel the same error reaches the caller (and the gateway's 503)
    from skyplex import Settings

    kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=make_plugin_manager(entrypoints=False))
    with pytest.raises(ModelUnavailableError):
        kernel.models.create("vllm", model="x")
    assert ModelUnavailableError.status_code == 503


@pytest.fixture(scope="module")
def vllm_backend():
    """One engine for the module: SKYPLEX_VLLM_MODEL names the model vLLM loads here."""
    pytest.importorskip("vllm")
    model = os.environ.get("SKYPLEX_VLLM_MODEL")
    if not model:
        pytest.skip("set SKYPLEX_VLLM_MODEL to a model vLLM can load here to run the vLLM conformance tests")
    backend = VLLMBackend(model=model, gpu_memory_utilization=0.5)
    yield backend
    backend.close()


@pytest.mark.gpu
@pytest.mark.slow
class TestVLLMBackend(ModelBackendConformance):
    @pytest.fixture
    def backend(self, vllm_backend):
        return vllm_backend
