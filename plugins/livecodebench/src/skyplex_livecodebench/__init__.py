"""LiveCodeBench for skyplex: problems with contest dates, a sandboxed grader and pass@k scores."""
