"""Server-rendered ledger screens. Each view translates HTTP and calls a command or selector."""
