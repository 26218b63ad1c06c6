"""AutoStopFunction of shared/cfn/auto-stop.yaml.

CodeUri is this folder and Handler is ``handler.handler``.
"""
