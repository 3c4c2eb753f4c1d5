"""skyplex-goex: the GoEX runtime for LLM actions, as a skyplex executor.

Every action (shell commands over a folder, SQL against SQLite or PostgreSQL, REST calls) is journalled
before it runs, runs confined (a sandbox over a staged copy, an uncommitted transaction, a dry run),
shows its effect for review, and is applied only on commit, keeping what is needed to undo it later.

Importing the package does no work; the executor lives in its module::

    from skyplex_goex.executor import GoexExecutor

See docs/plugins/goex.md.
"""
