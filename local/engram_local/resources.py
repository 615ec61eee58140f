"""Creates the table and queues that `template.yaml` declares, from the template's own
resource properties, in whatever AWS endpoint the clients point at (moto, in tests and
the local stack). There is one definition of every table and queue: the template's."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...) as their long form."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


@dataclass
class LocalResources:
    """Physical names of what was created, by logical id (what `!Ref`/`!GetAtt` resolve to)."""

    tables: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)

    def ref(self, logical_id: str) -> str | None:
        return (
            self.tables.get(logical_id)
            or self.queue_urls.get(logical_id)
            or self.secrets.get(logical_id)
            or self.buckets.get(logical_id)
        )


def table_kwargs(properties: dict[str, Any], name: str) -> dict[str, Any]:
    """CreateTable arguments from an AWS::DynamoDB::Table's properties."""
    kwargs: dict[str, Any] = {
        k: properties[k]
        for k in (
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
        )
        if k in properties
    }
    stream = properties.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **stream}
    return {"TableName": name, **kwargs}


def create_table(dynamodb: Any, logical_id: str, properties: dict[str, Any], name: str) -> None:
    dynamodb.create_table(**table_kwargs(properties, name))
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr:
        dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)


def _queue_attributes(properties: dict[str, Any], made: LocalResources) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for key, value in properties.items():
        if key == "QueueName" or key == "Tags":
            continue
        if key == "RedrivePolicy":
            target = value["deadLetterTargetArn"]["Fn::GetAtt"][0]
            value = {
                "deadLetterTargetArn": made.queue_arns[target],
                "maxReceiveCount": value["maxReceiveCount"],
            }
        attributes[key] = _attribute_value(value)
    return attributes


def _attribute_value(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _queue_order(queues: dict[str, dict[str, Any]]) -> list[str]:
    """Dead-letter queues first: a queue's redrive policy needs its DLQ's ARN."""

    def depends(name: str) -> bool:
        return "RedrivePolicy" in queues[name].get("Properties", {})

    return sorted(queues, key=depends)


def create_resources(
    dynamodb: Any, sqs: Any, prefix: str = "engram-local", template: dict[str, Any] | None = None
) -> LocalResources:
    """Creates every table and queue of the template; names are `<prefix>-<LogicalId>`."""
    template = template or load_template()
    made = LocalResources()
    for logical_id, res in resources_of_type(template, "AWS::DynamoDB::Table").items():
        name = f"{prefix}-{logical_id}"
        create_table(dynamodb, logical_id, res.get("Properties", {}), name)
        made.tables[logical_id] = name
    queues = resources_of_type(template, "AWS::SQS::Queue")
    for logical_id in _queue_order(queues):
        properties = queues[logical_id].get("Properties", {})
        fifo = ".fifo" if properties.get("FifoQueue") else ""
        url = sqs.create_queue(
            QueueName=f"{prefix}-{logical_id}{fifo}", Attributes=_queue_attributes(properties, made)
        )["QueueUrl"]
        made.queue_urls[logical_id] = url
        made.queue_arns[logical_id] = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
    _create_secrets(dynamodb, prefix, template, made)
    return made


def _create_secrets(
    dynamodb: Any, prefix: str, template: dict[str, Any], made: LocalResources
) -> None:
    """Each AWS::SecretsManager::Secret, with a fresh random value as GenerateSecretString
    would make (the JWT signing secret), and each AWS::S3::Bucket (exports); same endpoint
    and region as the table client."""
    import secrets

    import boto3

    endpoint = dynamodb.meta.endpoint_url
    secrets_client = boto3.client(
        "secretsmanager",
        region_name=dynamodb.meta.region_name,
        endpoint_url=None if "amazonaws.com" in endpoint else endpoint,
    )  # emulator or default
    for logical_id in resources_of_type(template, "AWS::SecretsManager::Secret"):
        made.secrets[logical_id] = secrets_client.create_secret(
            Name=f"{prefix}-{logical_id}", SecretString=secrets.token_urlsafe(48)
        )["ARN"]
    s3 = boto3.client(
        "s3",
        region_name=dynamodb.meta.region_name,
        endpoint_url=None if "amazonaws.com" in endpoint else endpoint,
    )
    for logical_id in resources_of_type(template, "AWS::S3::Bucket"):
        name = f"{prefix}-{logical_id}".lower()
        region = dynamodb.meta.region_name
        where = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=name, **where)
        made.buckets[logical_id] = name


def function_environment(
    made: LocalResources, template: dict[str, Any] | None = None
) -> dict[str, str]:
    """The Globals environment variables that name created resources (TABLE_NAME, the queue
    URLs), resolved to the local ones. Literal and parameter values are left to settings."""
    template = template or load_template()
    variables = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    env: dict[str, str] = {}
    for name, value in variables.items():
        ref = made.ref(value["Ref"]) if isinstance(value, dict) and "Ref" in value else None
        if ref:
            env[name] = ref
    return env
