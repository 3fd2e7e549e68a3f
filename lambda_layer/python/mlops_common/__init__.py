"""Helpers shared by the MLOps Lambdas (shipped as a Lambda layer, so each helper exists once)."""
