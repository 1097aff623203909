"""Analysis of a trained run: what is wrong and how to fix it (probe, reference, findings,
diagnosis), its weights and activations (inspection), a drawn digit (preprocess, drawing) and
small timings (stopwatch)."""
