"""Offline sandbox: runs the use cases' real state machines with no AWS account and no Docker.

Not shipped to Lambda. See sandbox/README.md.
"""
