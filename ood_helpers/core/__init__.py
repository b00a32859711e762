"""The shared core: knows no paper. Run sizes (``profile``), per-method settings and overrides, paths, seeds,
data, networks, the training loop, torchrun launching (``launch``, ``worker``), the artifact store, metrics,
tables and plot style. Every paper package builds on it; nothing here imports a paper."""
