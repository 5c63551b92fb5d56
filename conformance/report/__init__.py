"""The run file: building and streaming it, reading it back, and what the terminal shows."""
