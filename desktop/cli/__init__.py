"""The command line: `connected-accounts <command>` and its output."""
