"""Chatbot Arena for skyplex: pairwise battles between anonymous models and Bradley-Terry leaderboards.

Importing the package does no work; the API lives in its modules::

    from skyplex_arena.battles import load_battles
    from skyplex_arena.leaderboard import build_leaderboard

    board = build_leaderboard(load_battles("votes.jsonl"), ci="sandwich")
    board.rows[0].model, board.rows[0].rating, board.rows[0].ci_low, board.rows[0].ci_high
"""
