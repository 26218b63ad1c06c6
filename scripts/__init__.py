"""Python tooling behind the Makefile's gate (the bash scripts beside it are for operators)."""
