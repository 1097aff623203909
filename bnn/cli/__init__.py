"""The command line: ``bnn`` or ``python -m bnn`` (train, eval, export, study ...).

commands holds the parser and the subcommands; study_commands the study subcommand.
"""

from .commands import main

__all__ = ["main"]
