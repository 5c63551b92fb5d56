"""Running scenarios: the interpreter, the runner, diffs, values, results and repros."""
