"""Python client of the multi-label classification REST API (POST /classify).

    from classifier_client import Client, IamAuth
    client = Client("https://abc123.execute-api.eu-west-1.amazonaws.com/prod", auth=IamAuth())
    for prediction in client.classify(["you are an idiot", "thanks, great article"]):
        print(prediction.labels, prediction.scores)

Needs only requests and botocore. The CLI: `python -m classifier_client classify --help`.
"""

from classifier_client.auth import ApiKeyAuth, IamAuth, NoAuth, auth_from_name
from classifier_client.client import Client
from classifier_client.errors import (
    ApiError,
    AuthenticationError,
    ClassifierError,
    ConnectionFailedError,
    InvalidRequestError,
    ProtocolError,
    RequestTooLargeError,
    ServiceError,
    ThrottlingError,
)
from classifier_client.results import ClassifyResult, Prediction

__all__ = [
    "ApiError",
    "ApiKeyAuth",
    "AuthenticationError",
    "ClassifierError",
    "ClassifyResult",
    "Client",
    "ConnectionFailedError",
    "IamAuth",
    "InvalidRequestError",
    "NoAuth",
    "Prediction",
    "ProtocolError",
    "RequestTooLargeError",
    "ServiceError",
    "ThrottlingError",
    "auth_from_name",
]
