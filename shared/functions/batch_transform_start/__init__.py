"""BatchTransformStartFunction of shared/cfn/batch-transform.yaml.

CodeUri is this folder and Handler is ``handler.handler``.
"""
