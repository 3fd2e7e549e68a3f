"""Multi-label training entry point (run_glue-based) and the code that packages it for SageMaker."""
