"""Synthetic data with a known truth: the simulator, and the demo that audits its output."""
