"""`engram smoke --stack-name`: the URL and admin key come from a stack's outputs and its
key secret, read through CloudFormation and Secrets Manager (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from engram.smoke import target_from_stack

KEY = "ek_smoke-test-key"


def _stack(secret_value: str, outputs: dict) -> None:
    """A stack with the outputs given, and the secret (moto's CloudFormation makes no secrets,
    so it is made beside it)."""
    boto3.client("secretsmanager").create_secret(
        Name="engram-smoke/admin-key", SecretString=secret_value
    )
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
    boto3.client("cloudformation").create_stack(
        StackName="engram-smoke", TemplateBody=json.dumps(template)
    )


OUTPUTS = {
    "ApiUrl": {"Value": "https://abc.execute-api.us-east-1.amazonaws.com/dev"},
    "AdminKeySecretName": {"Value": "engram-smoke/admin-key"},
}


@mock_aws
def test_the_stack_gives_the_url_and_the_secret_the_key():
    _stack(json.dumps({"api_key": KEY, "workspace_id": "ws_1", "key_id": "key_1"}), OUTPUTS)
    target = target_from_stack("engram-smoke", "us-east-1")
    assert (target.url, target.key) == (OUTPUTS["ApiUrl"]["Value"], KEY)


@mock_aws
def test_a_secret_not_yet_written_is_said_so():
    _stack("{}", OUTPUTS)
    with pytest.raises(ValueError, match="holds no api_key yet"):
        target_from_stack("engram-smoke", "us-east-1")


@mock_aws
def test_a_stack_without_the_outputs_is_said_so():
    _stack("{}", {"TableName": {"Value": "t"}})
    with pytest.raises(ValueError, match="has no output ApiUrl, AdminKeySecretName"):
        target_from_stack("engram-smoke", "us-east-1")
