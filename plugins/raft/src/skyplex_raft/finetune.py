"""LoRA fine-tuning on a RAFT dataset (chat JSONL) with peft, on CPU or whatever torch has.

The loop is written here rather than taken from a trainer library so that it can stop after any
step and resume bit-for-bit: every ``save_every`` steps one file, ``checkpoint.pt``, is replaced
atomically with the adapter weights, the optimizer state, torch's random state and the losses so far;
a run started again on the same output, dataset and options continues from it.

Loss covers the assistant turn only (the chain-of-thought answer): the documents and the question are
context, not something to learn to write. Outputs, under the run's folder:

* ``adapter/``: the LoRA adapter (peft ``save_pretrained``), loadable on the base model;
* ``model/``: the base model with the adapter merged in, plus its tokenizer -- a plain transformers
  folder that the kernel's ``local`` backend loads with ``model_dir`` (so every plugin can use it);
* ``training.json``: options, losses and counts.

torch, transformers and peft are imported only when a fine-tune runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError, ModelUnavailableError

#: names that select the kernel's packaged SmolLM2 (the ``local`` backend's weights)
LOCAL_MODEL_NAMES = {"local", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"}
CHECKPOINT = "checkpoint.pt"


@dataclass
class LoraOptions:
    """LoRA rank ``r`` and ``alpha`` on ``target_modules``; AdamW at ``learning_rate`` (linear decay to
    0); ``max_steps`` optimizer steps of ``batch_size`` examples (unset: ``epochs`` passes over the data);
    sequences longer than ``max_seq_len`` tokens lose the middle of their documents. With ``curriculum``,
    the steps go through the dataset's stages in order (records carry ``raft.stage``, easy first), each
    stage getting an equal share of the steps (see :func:`batch_order`). ``opening_tokens`` > 0 weighs the
    loss on each answer's first that many tokens ``opening_weight`` times the rest (see :func:`token_weights`):
    where an abstain-mode answer decides between quoting and abstaining, one token among dozens of copied ones."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 1
    max_seq_len: int = 1024
    max_examples: int | None = None
    save_every: int = 10
    seed: int = 0
    merge: bool = True
    threads: int | None = None
    curriculum: bool = False
    opening_tokens: int = 0
    opening_weight: float = 1.0

    def validate(self) -> None:
        """Refuse settings that cannot train, naming the setting."""
        for name in ("r", "alpha", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name}={getattr(self, name)} must be at least 1", field=name)
        if self.max_seq_len < 16:
            raise InvalidInputError(f"max_seq_len={self.max_seq_len} is too short to hold an answer; use 16 or more",
                                    field="max_seq_len")
        if self.max_steps is not None and self.max_steps < 1:
            raise InvalidInputError(f"max_steps={self.max_steps} must be at least 1", field="max_steps")
        if not self.learning_rate > 0 or not self.epochs > 0:
            raise InvalidInputError("learning_rate and epochs must be positive", field="learning_rate")
        if not 0 <= self.dropout < 1:
            raise InvalidInputError(f"dropout={self.dropout} is outside [0, 1)", field="dropout")
        if self.opening_tokens < 0 or not self.opening_weight > 0:
            raise InvalidInputError(f"opening_tokens={self.opening_tokens} must be 0 or more and opening_weight="
                                    f"{self.opening_weight} positive", field="opening_weight")
        if not self.target_modules:
            raise InvalidInputError("target_modules is empty; name the layers to adapt, e.g. q_proj,v_proj",
                                    field="target_modules")


def lora_options_from(values: dict[str, Any]) -> tuple[LoraOptions, dict[str, Any]]:
    """LoraOptions from a spec's options (values coerced to the field's type), and the options it did not use."""
    known = {f.name: f for f in fields(LoraOptions)}
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            continue
        default = getattr(LoraOptions(), name)
        try:
            if name == "target_modules":
                names = value.split(",") if isinstance(value, str) else [str(v) for v in value]
                kwargs[name] = [n.strip() for n in names if n.strip()]
            elif value is None:
                kwargs[name] = None
            elif isinstance(default, bool):
                kwargs[name] = value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
            elif name == "max_steps" or name == "max_examples" or name == "threads" or isinstance(default, int):
                kwargs[name] = int(value)
            else:
                kwargs[name] = float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(f"option {name}={value!r} is not a valid {name}", field=name) from None
    options = LoraOptions(**kwargs)
    options.validate()
    return options, {k: v for k, v in values.items() if k not in known}


def resolve_base_model(name: str, data_dir: Path) -> Path:
    """The folder of ``name``: the packaged SmolLM2 (converted into ``data_dir``) or a transformers folder."""
    if name in LOCAL_MODEL_NAMES:
        from skyplex.models import _local_weights as weights

        return weights.ensure_converted(Path(data_dir) / "models")
    folder = Path(name)
    if (folder / "config.json").is_file():
        return folder
    raise ModelUnavailableError(
        f"base model {name!r} cannot be loaded: name 'local' (the packaged SmolLM2) or a folder holding a "
        "transformers model (config.json and weights)", field="base_model")


def read_chat_records(path: Path) -> list[dict[str, Any]]:
    """The chat records of a RAFT JSONL file, refusing a file that is missing, empty or not chat JSONL."""
    if not path.is_file():
        raise InvalidInputError(f"dataset {path}: no such file; build one with `skyplex raft build`", field="dataset")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            messages = record["messages"]
            assert messages[-1]["role"] == "assistant" and all("content" in m for m in messages)
        except (ValueError, KeyError, TypeError, IndexError, AssertionError):
            raise InvalidInputError(f"dataset {path} line {n}: not a chat record (messages ending with the "
                                    "assistant's answer)", field="dataset") from None
        records.append(record)
    if not records:
        raise InvalidInputError(f"dataset {path} holds no examples", field="dataset")
    return records


def encode_example(tokenizer: Any, messages: list[dict[str, str]], max_seq_len: int) -> tuple[list[int], list[int], bool]:
    """Token ids and labels (-100 on the prompt) of one chat example; over ``max_seq_len`` the middle of the
    prompt goes (the system prompt's start and the question at its end stay) and the flag says so."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):  # a chat template that rewrites earlier turns cannot be masked this way
        raise InvalidInputError("the model's chat template does not extend the prompt with the answer",
                                field="base_model")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    truncated = len(prompt_ids) + len(answer_ids) > max_seq_len
    if truncated:
        room = max(max_seq_len - len(answer_ids), 8)
        head = room // 4
        prompt_ids = prompt_ids[:head] + prompt_ids[len(prompt_ids) - (room - head):]
        answer_ids = answer_ids[:max_seq_len - len(prompt_ids)]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids, truncated


def batch_order(n_examples: int, steps: int, batch_size: int, seed: int,
                stages: list[int] | None = None) -> list[list[int]]:
    """Example indices of every step: a fresh shuffle per pass over the data, fixed by ``seed``. Given each
    example's curriculum ``stages``, the steps are split into as many equal runs as there are stages, in
    ascending order; a run draws only from its stage's examples, a fresh shuffle per pass over them."""
    if stages is not None:
        if len(stages) != n_examples:
            raise ValueError(f"{len(stages)} stages for {n_examples} examples")
        levels = sorted(set(stages))
        members = {level: [i for i, s in enumerate(stages) if s == level] for level in levels}
        rng = random.Random(seed)
        pools: dict[int, list[int]] = {level: [] for level in levels}
        batches = []
        for step in range(steps):
            level = levels[step * len(levels) // steps]
            batch = []
            for _ in range(batch_size):
                if not pools[level]:
                    pools[level] = list(members[level])
                    rng.shuffle(pools[level])
                batch.append(pools[level].pop())
            batches.append(batch)
        return batches
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < steps * batch_size:
        epoch = list(range(n_examples))
        rng.shuffle(epoch)
        order += epoch
    return [order[s * batch_size:(s + 1) * batch_size] for s in range(steps)]


def token_weights(labels: list[int], opening_tokens: int, opening_weight: float) -> list[float]:
    """Loss weight of each position: 0 on the prompt (label -100), ``opening_weight`` on the answer's first
    ``opening_tokens`` tokens, 1 on the rest of the answer."""
    weights, seen = [], 0
    for label in labels:
        if label == -100:
            weights.append(0.0)
        else:
            weights.append(opening_weight if seen < opening_tokens else 1.0)
            seen += 1
    return weights


def weighted_loss(logits: Any, labels: Any, weights: Any) -> Any:
    """Next-token cross-entropy averaged with per-position ``weights`` (the weight of the token predicted):
    with all answer weights 1 it is the usual mean over answer tokens."""
    import torch.nn.functional as F

    logits, labels, weights = logits[:, :-1], labels[:, 1:], weights[:, 1:]
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100,
                             reduction="none").view(labels.shape)
    return (losses * weights).sum() / weights.sum().clamp(min=1e-9)


def curriculum_stages(records: list[dict[str, Any]], dataset: Path) -> list[int]:
    """Each record's curriculum stage (``raft.stage``), refusing a dataset that has none to order by."""
    stages = [r.get("raft", {}).get("stage") if isinstance(r.get("raft"), dict) else None for r in records]
    if any(not isinstance(s, int) or isinstance(s, bool) for s in stages):
        raise InvalidInputError(f"dataset {dataset}: a curriculum needs every record's raft.stage; build the "
                                "dataset with the curriculum option (skyplex raft build --curriculum)",
                                field="curriculum")
    return stages


def fingerprint(dataset: Path, base_model: str, options: LoraOptions) -> str:
    """What a checkpoint belongs to: the dataset's bytes, the base model and every option but threads."""
    digest = hashlib.sha256(dataset.read_bytes())
    settings = {k: v for k, v in asdict(options).items() if k not in {"threads", "save_every"}}
    # runs from before these options existed keep their fingerprint while the options are at their defaults
    for name, default in (("curriculum", False), ("opening_tokens", 0), ("opening_weight", 1.0)):
        if settings[name] == default:
            del settings[name]
    digest.update(json.dumps({"base": base_model, **settings}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a crash leaves the previous checkpoint whole


def finetune_lora(dataset: Path, base_model: str, output: Path, options: LoraOptions, *, data_dir: Path,
                  progress: Any = None) -> dict[str, Any]:
    """Fine-tune ``base_model`` with LoRA on the chat JSONL ``dataset`` into ``output``; resumes from the
    checkpoint there when it belongs to the same dataset and options. Returns the run's summary."""
    options.validate()
    records = read_chat_records(Path(dataset))
    if options.max_examples:
        records = records[:options.max_examples]
    # refused before the model loads: a curriculum run on a dataset without stages would only fail later
    stages = curriculum_stages(records, Path(dataset)) if options.curriculum else None
    folder = resolve_base_model(base_model, data_dir)
    output.mkdir(parents=True, exist_ok=True)
    run_id = fingerprint(Path(dataset), base_model, options)
    checkpoint_path = output / CHECKPOINT
    previous = None
    if checkpoint_path.exists():
        import torch

        previous = torch.load(checkpoint_path, weights_only=False)
        if previous.get("fingerprint") != run_id:
            raise InvalidInputError(f"{output} holds a checkpoint of another run (different dataset, base model or "
                                    "options); choose another output folder or delete it", field="output")

    import torch
    from peft import LoraConfig, get_peft_model
    from skyplex.models import _local_weights as weights
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights.set_offline()
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"base model {base_model!r} ({folder}) cannot be loaded: {exc}",
                                    field="base_model") from None
    encoded = [encode_example(tokenizer, r["messages"], options.max_seq_len) for r in records]
    config = LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                        target_modules=options.target_modules, task_type="CAUSAL_LM")
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:
        raise InvalidInputError(f"target_modules {options.target_modules}: {exc}", field="target_modules") from None
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate)
    steps = options.max_steps or max(1, math.ceil(options.epochs * len(encoded) / options.batch_size))
    batches = batch_order(len(encoded), steps, options.batch_size, options.seed,
                          stages=stages)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    losses: list[float] = []
    start = 0
    if previous is not None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, previous["adapter"])
        optimizer.load_state_dict(previous["optimizer"])
        torch.set_rng_state(previous["rng"])
        losses, start = list(previous["losses"]), int(previous["step"])
    tokens_seen = 0
    model.train()
    for step in range(start, steps):
        rows = [encoded[i] for i in batches[step]]
        width = max(len(ids) for ids, _, _ in rows)
        input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _, _ in rows])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab, _ in rows])
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _, _ in rows])
        for group in optimizer.param_groups:  # linear decay, computed from the step so resuming needs no state
            group["lr"] = options.learning_rate * (1 - step / steps)
        if options.opening_tokens:
            weights = torch.tensor([token_weights(lab, options.opening_tokens, options.opening_weight)
                                    + [0.0] * (width - len(lab)) for _, lab, _ in rows])
            loss = weighted_loss(model(input_ids=input_ids, attention_mask=mask).logits, labels, weights)
        else:
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        tokens_seen += int(mask.sum())
        if (step + 1) % options.save_every == 0 or step + 1 == steps:
            from peft import get_peft_model_state_dict

            _save_checkpoint(checkpoint_path, {
                "fingerprint": run_id, "step": step + 1, "losses": losses, "rng": torch.get_rng_state(),
                "adapter": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict()})
        if progress is not None:
            progress(step + 1, steps, f"step {step + 1}/{steps} loss {losses[-1]:.3f}")
    model.eval()
    model.save_pretrained(str(output / "adapter"))
    summary: dict[str, Any] = {
        "base_model": base_model, "base_folder": str(folder), "dataset": str(dataset), "examples": len(encoded),
        "steps": steps, "resumed_from_step": start, "tokens_trained": tokens_seen,
        "truncated_examples": sum(t for _, _, t in encoded), "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None, "losses": losses, "options": asdict(options),
        "adapter_dir": str(output / "adapter"), "fingerprint": run_id}
    if options.merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(str(output / "model"))
        tokenizer.save_pretrained(str(output / "model"))
        summary["model_dir"] = str(output / "model")
    (output / "training.json").write_text(json.dumps(summary, indent=2))
    return summary
