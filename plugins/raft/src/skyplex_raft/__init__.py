"""skyplex-raft: Retrieval Augmented Fine-Tuning (RAFT) for open-book question answering.

The kernel loads the plugin through :mod:`skyplex_raft.plugin`. The dataset builder is
:func:`skyplex_raft.trainer.build_dataset`, LoRA fine-tuning :func:`skyplex_raft.finetune.finetune_lora`
(both behind the trainer :class:`skyplex_raft.trainer.RaftTrainer`), and the evaluator
:class:`skyplex_raft.evaluate.RaftEvaluator`.
"""
