"""The template contract: template.yaml, translated offline by aws-sam-translator, agrees
with the code (routes both ways) and with DESIGN.md (batch failures, DLQs and alarms,
runtime, layer, least privilege, table settings, parameters)."""

from __future__ import annotations

import copy
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from engram_local.resources import load_template

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = "python3.12"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ANY_METHOD = "x-amazon-apigateway-any-method"


class _NoManagedPolicies:
    """Offline: SAM policy templates need no lookup; named managed policies are not used."""

    def load(self) -> dict[str, str]:
        return {}


def translate(sam: dict[str, Any]) -> dict[str, Any]:
    """SAM → CloudFormation without AWS calls: code URIs become s3:// placeholders."""
    sam = copy.deepcopy(sam)
    for res in sam["Resources"].values():
        props = res.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://placeholder-bucket/{props[key].strip('/')}"
    return transform(sam, {}, _NoManagedPolicies())


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def referenced_ids(value: Any) -> set[str]:
    """Logical ids a CloudFormation value points at through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(inner, list):
                    found |= referenced_ids(inner[1])
            else:
                found |= referenced_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= referenced_ids(inner)
    return found


def normalise_path(path: str) -> str:
    """Parameters become `{}`; a greedy one (`{proxy+}`) stays, it matches a whole subtree."""
    return re.sub(r"\{[^}+]+\}", "{}", path)


_GREEDY = re.compile(r"^(.*)/\{\w+\+\}$")


def route_owner(declared: dict[tuple[str, str], str], method: str, path: str) -> str | None:
    """The function API Gateway sends `method path` to: an exact route before a greedy one."""
    exact = declared.get((method, path)) or declared.get(("ANY", path))
    if exact:
        return exact
    for (declared_method, declared_path), owner in declared.items():
        greedy = _GREEDY.match(declared_path)
        if greedy and declared_method in (method, "ANY") and path.startswith(greedy[1] + "/"):
            return owner
    return None


# ---- the checks, as functions so they can be tested on hand-made templates ----


def http_routes(cfn: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(METHOD, normalised path) → function logical id, from every HttpApi's OpenAPI body."""
    routes: dict[tuple[str, str], str] = {}
    for api_id, api in of_type(cfn, "AWS::ApiGatewayV2::Api").items():
        body = api["Properties"].get("Body") or {}
        for path, operations in body.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in HTTP_METHODS and method != ANY_METHOD:
                    continue
                uri = operation["x-amazon-apigateway-integration"]["uri"]
                targets = [i for i in referenced_ids(uri) if not i.startswith("AWS::")]
                assert len(targets) == 1, f"{api_id} {method} {path}: integration {uri}"
                key = ("ANY" if method == ANY_METHOD else method.upper(), normalise_path(path))
                routes[key] = targets[0]
    return routes


def sqs_mappings_missing_batch_failures(cfn: dict[str, Any]) -> list[str]:
    """Every SQS event source mapping must report partial batch failures."""
    queues = set(of_type(cfn, "AWS::SQS::Queue"))
    missing = []
    for name, mapping in of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        props = mapping["Properties"]
        source = props.get("EventSourceArn")
        is_sqs = bool(referenced_ids(source) & queues) or ":sqs:" in str(source)
        if is_sqs and "ReportBatchItemFailures" not in props.get("FunctionResponseTypes", []):
            missing.append(name)
    return missing


def visibility_problems(cfn: dict[str, Any]) -> list[str]:
    """A queue feeding a function hides a message for at least 6x the function's timeout."""
    queues = of_type(cfn, "AWS::SQS::Queue")
    problems = []
    for name, mapping in of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        props = mapping["Properties"]
        for queue_id in referenced_ids(props.get("EventSourceArn")) & set(queues):
            (function_id,) = referenced_ids(props["FunctionName"])
            timeout = cfn["Resources"][function_id]["Properties"].get("Timeout", 3)
            visibility = (queues[queue_id].get("Properties") or {}).get("VisibilityTimeout", 30)
            if int(visibility) < 6 * int(timeout):
                problems.append(
                    f"{name}: {queue_id} VisibilityTimeout {visibility} < 6 x "
                    f"{function_id} Timeout {timeout}"
                )
    return problems


def queue_problems(cfn: dict[str, Any]) -> list[str]:
    """Each queue that is not a DLQ redrives to a queue of the template; each DLQ has an alarm."""
    queues = of_type(cfn, "AWS::SQS::Queue")
    problems, dlqs = [], set()
    for queue in queues.values():
        redrive = (queue.get("Properties") or {}).get("RedrivePolicy")
        if isinstance(redrive, dict):
            dlqs |= referenced_ids(redrive.get("deadLetterTargetArn")) & set(queues)
    for name, queue in queues.items():
        if name in dlqs:
            continue
        redrive = (queue.get("Properties") or {}).get("RedrivePolicy")
        if not isinstance(redrive, dict):
            problems.append(f"{name}: no RedrivePolicy")
        elif not referenced_ids(redrive.get("deadLetterTargetArn")) & set(queues):
            problems.append(f"{name}: RedrivePolicy target is not a queue of the template")
        elif not redrive.get("maxReceiveCount"):
            problems.append(f"{name}: RedrivePolicy has no maxReceiveCount")
    alarmed = set()
    for alarm in of_type(cfn, "AWS::CloudWatch::Alarm").values():
        alarmed |= referenced_ids(alarm["Properties"].get("Dimensions", []))
    problems += [f"{dlq}: dead-letter queue without an alarm" for dlq in sorted(dlqs - alarmed)]
    return problems


def broad_permissions(template: dict[str, Any]) -> list[str]:
    """`*FullAccess` managed policies and `"*"` actions anywhere in IAM or SAM policies."""
    found = []

    def walk(where: str, value: Any) -> None:
        if isinstance(value, str) and "FullAccess" in value:
            found.append(f"{where}: {value}")
        elif isinstance(value, dict):
            for key, inner in value.items():
                if key == "Action":
                    actions = inner if isinstance(inner, list) else [inner]
                    found.extend(f"{where}: Action {a}" for a in actions if a == "*")
                walk(where, key)
                walk(where, inner)
        elif isinstance(value, list):
            for inner in value:
                walk(where, inner)

    for name, res in template["Resources"].items():
        props = res.get("Properties") or {}
        if res["Type"].startswith("AWS::IAM::"):
            walk(name, props)
        elif res["Type"] == "AWS::Serverless::Function":
            walk(name, props.get("Policies", []))
    return found


# ---- fixtures ----


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return copy.deepcopy(load_template())


@pytest.fixture(scope="module")
def cfn(sam) -> dict[str, Any]:
    return translate(sam)


def _handler_module(sam: dict[str, Any], function_id: str):
    props = sam["Resources"][function_id]["Properties"]
    code_dir = Path(props["CodeUri"].strip("/"))
    module_file, _, attribute = props["Handler"].rpartition(".")
    assert (ROOT / code_dir / f"{module_file}.py").is_file(), f"{function_id}: no handler file"
    module = importlib.import_module(".".join((*code_dir.parts, module_file)))
    assert callable(getattr(module, attribute, None)), f"{function_id}: no {props['Handler']}"
    return module


def _app_routes(module) -> set[tuple[str, str]]:
    paths = module.app.openapi()["paths"]
    return {
        (method.upper(), normalise_path(path))
        for path, operations in paths.items()
        for method in operations
        if method in HTTP_METHODS
    }


# ---- the template as it is ----


def test_template_translates_and_declares_routes(cfn):
    assert of_type(cfn, "AWS::ApiGatewayV2::Api")
    assert http_routes(cfn)


def test_every_route_is_served_by_its_functions_app(sam, cfn):
    for (method, path), function_id in sorted(http_routes(cfn).items()):
        served = _app_routes(_handler_module(sam, function_id))
        greedy = _GREEDY.match(path)
        if greedy:
            under = [p for _, p in served if p.startswith(greedy[1] + "/")]
            assert under, f"{function_id} serves nothing under {greedy[1]}"
        elif method == "ANY":
            assert any(p == path for _, p in served), f"{function_id} does not serve {path}"
        else:
            assert (method, path) in served, f"{function_id}'s app does not serve {method} {path}"


def test_every_app_route_is_declared_in_the_template(sam, cfn):
    declared = http_routes(cfn)
    for function_id in of_type(sam, "AWS::Serverless::Function"):
        module = _handler_module(sam, function_id)
        if not hasattr(module, "app"):
            continue  # a worker
        for method, path in sorted(_app_routes(module)):
            owner = route_owner(declared, method, path)
            assert owner == function_id, (
                f"{function_id}'s app serves {method} {path} but the template routes it to {owner}"
            )


def test_every_function_folder_is_deployed(sam):
    deployed = {
        Path(res["Properties"]["CodeUri"].strip("/"))
        for res in of_type(sam, "AWS::Serverless::Function").values()
    }
    on_disk = {p.parent.relative_to(ROOT) for p in (ROOT / "functions").glob("*/handler.py")}
    assert on_disk - deployed == set(), "function folders missing from template.yaml"


def test_sqs_event_sources_report_batch_item_failures(cfn):
    assert sqs_mappings_missing_batch_failures(cfn) == []


def test_queue_visibility_covers_function_timeouts(cfn):
    assert visibility_problems(cfn) == []


def test_queues_have_dead_letter_queues_and_alarms(cfn):
    assert of_type(cfn, "AWS::SQS::Queue")
    assert queue_problems(cfn) == []


def test_functions_run_python_312_with_the_core_layer(sam, cfn):
    functions = of_type(cfn, "AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == RUNTIME, name
        layers = set().union(*(referenced_ids(layer) for layer in props.get("Layers", [])))
        assert any(layer.startswith("CoreLayer") for layer in layers), f"{name}: no CoreLayer"
    layer = sam["Resources"]["CoreLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/core"
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    assert layer["Metadata"]["BuildMethod"] == "makefile"  # layers/core/Makefile (test_layer.py)


def test_no_broad_permissions(sam, cfn):
    assert broad_permissions(sam) == []
    assert broad_permissions(cfn) == []


def test_table_settings(sam):
    tables = of_type(sam, "AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["TimeToLiveSpecification"]["Enabled"] is True
        assert props["TimeToLiveSpecification"]["AttributeName"]


def test_parameters(sam):
    assert {"Stage", "OpenSearchEndpoint"} <= set(sam["Parameters"])


def test_embed_worker_concurrency_is_bounded_by_a_parameter(sam, cfn):
    # Each instance has BEDROCK_EMBEDDING_CONCURRENCY calls in flight: unbounded instances
    # on a backlog would be throttled by Bedrock until their records are dead-lettered.
    parameter = sam["Parameters"]["EmbedWorkerMaxConcurrency"]
    assert parameter["MinValue"] >= 2 and parameter["MaxValue"] <= 1000  # Lambda's range
    embed_mappings = [
        m["Properties"]
        for m in of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if "EmbedQueue" in referenced_ids(m["Properties"]["EventSourceArn"])
    ]
    assert len(embed_mappings) == 1
    assert embed_mappings[0]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "EmbedWorkerMaxConcurrency"}
    }


# ---- the checks themselves, on hand-made templates ----


def _worker_template(response_types: list[str] | None) -> dict[str, Any]:
    event: dict[str, Any] = {"Queue": {"Fn::GetAtt": ["Jobs", "Arn"]}, "BatchSize": 10}
    if response_types is not None:
        event["FunctionResponseTypes"] = response_types
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Jobs": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDLQ", "Arn"]},
                        "maxReceiveCount": 3,
                    }
                },
            },
            "JobsDLQ": {"Type": "AWS::SQS::Queue"},
            "JobsWorker": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/jobs_worker/",
                    "Handler": "handler.lambda_handler",
                    "Runtime": RUNTIME,
                    "Events": {"Jobs": {"Type": "SQS", "Properties": event}},
                },
            },
        },
    }


def test_check_catches_a_worker_without_batch_item_failures():
    assert sqs_mappings_missing_batch_failures(translate(_worker_template(None))) == [
        "JobsWorkerJobs"
    ]
    assert sqs_mappings_missing_batch_failures(translate(_worker_template([]))) == [
        "JobsWorkerJobs"
    ]


def test_check_passes_a_worker_with_batch_item_failures():
    cfn = translate(_worker_template(["ReportBatchItemFailures"]))
    assert of_type(cfn, "AWS::Lambda::EventSourceMapping")
    assert sqs_mappings_missing_batch_failures(cfn) == []


def test_visibility_check_catches_a_short_visibility_timeout():
    cfn = translate(_worker_template(["ReportBatchItemFailures"]))
    cfn["Resources"]["JobsWorker"]["Properties"]["Timeout"] = 10
    assert visibility_problems(cfn) == [
        "JobsWorkerJobs: Jobs VisibilityTimeout 30 < 6 x JobsWorker Timeout 10"
    ]
    cfn["Resources"]["Jobs"]["Properties"]["VisibilityTimeout"] = 60
    assert visibility_problems(cfn) == []


def test_queue_check_catches_missing_redrive_and_missing_alarm():
    cfn = translate(_worker_template(["ReportBatchItemFailures"]))
    assert queue_problems(cfn) == ["JobsDLQ: dead-letter queue without an alarm"]
    cfn["Resources"]["JobsDLQAlarm"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["JobsDLQ", "QueueName"]}}]
        },
    }
    assert queue_problems(cfn) == []
    del cfn["Resources"]["Jobs"]["Properties"]["RedrivePolicy"]
    assert queue_problems(cfn) == ["Jobs: no RedrivePolicy", "JobsDLQ: no RedrivePolicy"]


def test_permission_check_catches_full_access_and_star_actions():
    sam = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Policies": ["AmazonDynamoDBFullAccess"]},
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {
                            "PolicyDocument": {
                                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
                            }
                        }
                    ]
                },
            },
        }
    }
    assert broad_permissions(sam) == ["Fn: AmazonDynamoDBFullAccess", "Role: Action *"]


def test_route_owner_prefers_an_exact_route_to_a_greedy_one():
    declared = {
        ("ANY", "/remembr/{proxy+}"): "Remembr",
        ("GET", "/remembr/api/v1/health"): "Health",
        ("GET", "/v1/sessions/{}"): "Sessions",
    }
    assert route_owner(declared, "GET", "/remembr/api/v1/health") == "Health"
    assert route_owner(declared, "POST", "/remembr/api/v1/memory/{}") == "Remembr"
    assert route_owner(declared, "GET", "/v1/sessions/{}") == "Sessions"
    assert route_owner(declared, "GET", "/remembrance") is None
