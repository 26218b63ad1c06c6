"""Shared Lambda layer for the FSx for ONTAP S3 Access Point serverless patterns.

Modules are imported individually (``from shared.s3ap import AccessPoint``); this package
deliberately imports nothing so that a handler pays only for what it uses at cold start.
"""
