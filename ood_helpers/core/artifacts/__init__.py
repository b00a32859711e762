"""Everything the notebooks write and cache: keys (``keys``), atomic IO (``atomic_io``), provenance sidecars
(``provenance``) and the figure and table writers (``outputs``). ``artifacts.<name>`` reaches each of them."""

from ood_helpers.core.artifacts.atomic_io import (ArtifactError, ConfigMismatchError, CorruptArtifactError,
                                                  atomic_path, atomic_save_torch, atomic_write_bytes,
                                                  atomic_write_text, load_torch)
from ood_helpers.core.artifacts.keys import (_check_name, _profile_name, cache_path, canonical_json, code_closure,
                                             code_fingerprint, config_hash, tensor_digest)
from ood_helpers.core.artifacts.outputs import output_path, save_figure, save_figures, save_table
from ood_helpers.core.artifacts.provenance import _write_sidecar, cpu_description, git_state, package_versions, provenance

__all__ = ["ArtifactError", "ConfigMismatchError", "CorruptArtifactError", "atomic_path", "atomic_save_torch",
           "atomic_write_bytes", "atomic_write_text", "cache_path", "canonical_json", "code_closure",
           "code_fingerprint", "config_hash", "cpu_description", "git_state", "load_torch", "output_path", "package_versions",
           "provenance", "save_figure", "save_figures", "save_table", "tensor_digest", "_check_name", "_profile_name",
           "_write_sidecar"]
