"""The HTTP surface: routes only; the work happens in the pipeline."""
