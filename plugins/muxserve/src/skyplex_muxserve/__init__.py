"""MuxServe for skyplex: multiplexed placement, simulation and scheduling of many LLMs."""
