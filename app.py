#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy` run this (see cdk.json). Configuration comes from cdk.json context."""

import sys

from aws_cdk import App

from stacks.application import build_application
from stacks.config import ConfigError

app = App()
try:
    build_application(app)
except ConfigError as error:
    sys.exit(f"Configuration error: {error}")
app.synth()
