"""The vectorised simulator: a large territory's run computed as numpy arrays (devices ×
times) and written as native payloads column by column, for accelerated telemetry-only
runs (`phare simulate --engine vector`, `engine.batches`). See docs/simulators.md."""
