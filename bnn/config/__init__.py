"""The settings of a run, in plain Python (no PyTorch): the layers grammar (architecture), the
settings themselves (schema), how each is described and checked (spec, descriptions), the links
that share a setup (links) and the presets (presets)."""
