"""lm-evaluation-harness against a live gateway (real uvicorn on loopback), through the documented commands.

Each ``lm_eval`` command in docs/serving.md is run as written (only the port differs) on the two tiny
tasks in tests/data/lm_eval. Every loglikelihood it reports must equal transformers' on the same
weights within 1e-4, and every greedy generation must equal transformers' greedy generation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skyplex.testing import gateway_process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "serving.md"
DOC_URL = "http://127.0.0.1:8000"
TOL = 1e-4


@pytest.fixture(scope="module")
def gateway(local_backend, tmp_path_factory):
    """`skyplex serve` in its own process, on a free loopback port, reading the converted test weights."""
    local_backend.tokenize("x")  # the conversion exists before the server starts
    home = tmp_path_factory.mktemp("gateway")
    config = home / "config.yaml"
    config.write_text(f"models:\n  local:\n    model_dir: {local_backend.cache_dir}\n")
    env = {
        "SKYPLEX_DATA_DIR": str(home / "data"),
        "SKYPLEX_CONFIG": str(config),
        "SKYPLEX_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    with gateway_process(env=env, log_path=home / "server.log") as server:
        key = (home / "data" / "gateway.key").read_text().strip()
        yield {"url": server.url, "env": {**os.environ, **env}, "key": key, "home": home}


@pytest.fixture(scope="module")
def reference(local_backend):
    """Greedy generation and loglikelihoods from plain transformers on the converted weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(local_backend.cache_dir), dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(local_backend.cache_dir))

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    def loglikelihood(context: str, continuation: str) -> tuple[float, bool]:
        # lm-eval's own split: trailing spaces of the context move to the continuation
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole, ctx = encode(context + continuation), encode(context)
        cont = whole[len(ctx) :]
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([whole])).logits[0].float(), dim=-1)
        rows = lp[len(ctx) - 1 : len(whole) - 1]
        total = float(sum(rows[i, t] for i, t in enumerate(cont)))
        return total, all(int(rows[i].argmax()) == t for i, t in enumerate(cont))

    def generate(ids: list[int], max_new: int, stops: list[str]) -> str:
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]), max_new_tokens=max_new, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        new = [t for t in out[0, len(ids) :].tolist()]
        ends = {tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])}
        for i, t in enumerate(new):
            if t in ends:
                new = new[:i]
                break
        text = tokenizer.decode(new)
        cuts = [text.find(s) for s in stops if s in text]
        return text[: min(cuts)] if cuts else text

    def chat_ids(user: str) -> list[int]:
        text = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
        return encode(text)

    return {"loglikelihood": loglikelihood, "generate": generate, "encode": encode, "chat_ids": chat_ids}


def documented_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    return [line for b in blocks for line in b.strip().splitlines() if line.startswith("lm_eval ")]


def _run_documented(command: str, gateway, workdir: Path) -> dict[str, list[dict]]:
    """Run one documented command as written (the port aside) and return its logged samples by task."""
    workdir.mkdir()
    # the command names tests/data/lm_eval relative to the repository root; outputs go to workdir
    (workdir / "tests" / "data").mkdir(parents=True)
    (workdir / "tests" / "data" / "lm_eval").symlink_to(ROOT / "tests" / "data" / "lm_eval")
    env = {
        **gateway["env"],
        "OPENAI_API_KEY": gateway["key"],
        "HF_DATASETS_OFFLINE": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        ["bash", "-c", command.replace(DOC_URL, gateway["url"])],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    samples: dict[str, list[dict]] = {}
    for path in (workdir / "lm-eval-results").rglob("samples_*.jsonl"):
        task = re.match(r"samples_(.+?)_\d{4}-", path.name).group(1)
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return samples


def _check_loglikelihoods(samples: list[dict], reference) -> int:
    checked = 0
    for sample in samples:
        args = sample["arguments"]
        for key, resp in zip(sorted(args, key=lambda k: int(k.rsplit("_", 1)[1])), sample["resps"]):
            context, continuation = args[key]["arg_0"], args[key]["arg_1"]
            got_ll, got_greedy = float(resp[0][0]), resp[0][1] in (True, "True")
            want_ll, want_greedy = reference["loglikelihood"](context, continuation)
            assert abs(got_ll - want_ll) <= TOL, (context, continuation, got_ll, want_ll)
            assert got_greedy == want_greedy, (context, continuation)
            checked += 1
    return checked


def _check_generations(samples: list[dict], reference, chat: bool) -> int:
    for sample in samples:
        prompt, kwargs = sample["arguments"]["gen_args_0"]["arg_0"], sample["arguments"]["gen_args_0"]["arg_1"]
        if chat:
            # the logged prompt is the chat history as a JSON string (alone in a list)
            messages = json.loads(prompt[0] if isinstance(prompt, list) else prompt)
            assert [m["role"] for m in messages] == ["user"]
            ids = reference["chat_ids"](messages[-1]["content"])
        else:
            ids = reference["encode"](prompt)
        want = reference["generate"](ids, kwargs["max_gen_toks"], kwargs["until"])
        assert sample["resps"][0][0] == want, (prompt, sample["resps"][0][0], want)
    return len(samples)


def test_docs_show_three_lm_eval_commands():
    commands = documented_commands()
    assert len(commands) == 3
    assert sum("local-completions" in c for c in commands) == 2 and "local-chat-completions" in commands[2]
    assert "tokenized_requests=False" in commands[1] and "tokenized_requests" not in commands[0]


@pytest.mark.parametrize("which", ["token_ids", "text", "chat"])
def test_lm_eval_against_the_gateway_matches_transformers(gateway, reference, tmp_path, which):
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run the documented command")
    command = documented_commands()[["token_ids", "text", "chat"].index(which)]
    samples = _run_documented(command, gateway, tmp_path / which)
    if which == "chat":
        assert set(samples) == {"skyplex_tiny_gen"}
    else:
        assert set(samples) == {"skyplex_tiny_mc", "skyplex_tiny_gen"}
        assert _check_loglikelihoods(samples["skyplex_tiny_mc"], reference) == 16
    assert _check_generations(samples["skyplex_tiny_gen"], reference, chat=which == "chat") == 3


# --- the other commands of docs/serving.md, as written ------------------------------------------------
def _documented(prefix: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    return [line for b in blocks for line in b.strip().splitlines() if line.startswith(prefix)]


def test_documented_key_export_and_curls_answer(gateway):
    (export,) = _documented("export OPENAI_API_KEY")
    curls = _documented("curl ")
    assert len(curls) == 3
    for curl in curls:
        script = f"{export}\n{curl.replace(DOC_URL, gateway['url'])}"
        done = subprocess.run(["bash", "-c", script], env=gateway["env"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        body = json.loads(done.stdout)
        assert "error" not in body, body
    echo = json.loads(
        subprocess.run(["bash", "-c", f"{export}\n{curls[0].replace(DOC_URL, gateway['url'])}"], env=gateway["env"], capture_output=True, text=True).stdout
    )
    lp = echo["choices"][0]["logprobs"]
    assert lp["token_logprobs"][0] is None and echo["usage"]["completion_tokens"] == 0


def test_documented_score_command(gateway):
    (command,) = _documented("skyplex models score")
    env = {**gateway["env"], "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "'" in line and "│" in line]
    assert "' Paris'" in rows[0] and "yes" in rows[0] and "' Lyon'" in rows[1]
    bad = subprocess.run(["bash", "-c", 'skyplex models score "only a context"'], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "CONTINUATIONS" in bad.stderr
