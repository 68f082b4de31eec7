"""Hostile-input generation: Hypothesis strategies and model pre-analysis."""
