"""Mélange for skyplex: the cheapest GPU mix for an LLM workload under a latency SLO."""
