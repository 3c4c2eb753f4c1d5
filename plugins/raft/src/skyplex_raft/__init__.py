"""skyplex-raft: Retrieval Augmented Fine-Tuning (RAFT) data for open-book question answering.

The kernel loads the plugin through :mod:`skyplex_raft.plugin`; the dataset builder is
:func:`skyplex_raft.builder.build_raft_dataset` and the trainer :class:`skyplex_raft.trainer.RaftTrainer`.
"""
