"""The CDK application: constructs (one per concern) composed into the data, training and serving stacks."""
