"""Placeholder so the CDK app can package this Lambda; the MLOps work (issue 5) replaces it."""


def lambda_handler(event, context):
    raise NotImplementedError("not implemented yet")
