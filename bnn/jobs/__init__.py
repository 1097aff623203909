"""Runs: the run itself (run), its folder on disk (run_folders), a run training in the
background (training_job), studies of many runs (studies) and the careful reading of
untrusted files (safe_io)."""
