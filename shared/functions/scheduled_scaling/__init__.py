"""ScheduledScalingFunction of shared/cfn/scheduled-scaling.yaml (a CloudFormation custom resource).

CodeUri is this folder and Handler is ``handler.handler``.
"""
