"""The `topapi` command: a thin dispatcher; each part owns its subcommands."""
