"""Benchmarks of the shared job services against naive baselines: `python -m bench [name ...]`
(see bench/__main__.py); results go to bench/results/<name>.json."""
