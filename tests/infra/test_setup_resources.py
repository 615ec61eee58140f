"""The stack's own set-up in template.yaml agrees with engram/custom_resources.py: each custom
resource is served by the setup function, the index gets the endpoint, name and dimension the
functions use, the admin key reaches only its secret, and the setup role's access is scoped."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engram.adapters.bedrock_embedder import TITAN_V2_DIMENSIONS
from engram.custom_resources import HANDLERS
from engram_local.resources import load_template
from tests.infra.test_template import of_type, referenced_ids, translate


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return copy.deepcopy(load_template())


def _custom(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"].startswith("Custom::")}


def _statements(sam: dict[str, Any], function_id: str) -> dict[str, dict[str, Any]]:
    policies = sam["Resources"][function_id]["Properties"]["Policies"]
    return {s["Sid"]: s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])}


def test_every_custom_resource_type_is_served_by_the_setup_function(sam):
    custom = _custom(sam)
    assert {res["Type"] for res in custom.values()} == set(HANDLERS)
    for name, res in custom.items():
        token = res["Properties"]["ServiceToken"]
        assert token == {"Fn::GetAtt": ["SetupFunction", "Arn"]}, name
    setup = sam["Resources"]["SetupFunction"]["Properties"]
    assert (setup["CodeUri"].strip("/"), setup["Handler"]) == (
        "functions/setup",
        "handler.lambda_handler",
    )
    # the watchdog answers 10 s before the timeout: the index retries must fit well inside
    from engram import custom_resources as cr

    assert (
        cr.INDEX_ATTEMPTS * cr.INDEX_RETRY_SECONDS + cr.WATCHDOG_MARGIN_SECONDS
        < setup["Timeout"]
        <= 900
    )


def test_the_index_is_made_where_and_as_the_functions_use_it(sam):
    env = sam["Globals"]["Function"]["Environment"]["Variables"]
    props = sam["Resources"]["SearchIndex"]["Properties"]
    assert props["Endpoint"] == env["OPENSEARCH_ENDPOINT"]
    assert props["Service"] == env["OPENSEARCH_SERVICE"]
    assert props["Index"] == env["OPENSEARCH_INDEX"] == {"Ref": "OpenSearchIndex"}
    assert props["Dimension"] == env["EMBEDDING_DIMENSION"] == {"Ref": "EmbeddingDimension"}
    # the collection's data-access policy is in effect before the index is made
    assert "SearchDataAccessPolicy" in referenced_ids(props["AccessPolicy"])
    parameter = sam["Parameters"]["EmbeddingDimension"]
    assert set(parameter["AllowedValues"]) <= set(TITAN_V2_DIMENSIONS)
    assert parameter["Default"] == 1024


def test_the_admin_key_goes_only_to_its_secret(sam):
    props = sam["Resources"]["FirstWorkspace"]["Properties"]
    assert props["SecretId"] == {"Ref": "AdminKeySecret"}
    # the workspace goes to the functions' table (TABLE_NAME), which the setup role may write
    env = sam["Globals"]["Function"]["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": "Table"}
    secret = sam["Resources"]["AdminKeySecret"]["Properties"]
    outputs = sam["Outputs"]
    assert outputs["AdminKeySecretName"]["Value"] == secret["Name"]
    assert outputs["WorkspaceId"]["Value"] == {"Fn::GetAtt": ["FirstWorkspace", "WorkspaceId"]}
    for name, output in outputs.items():  # nothing else of the workspace resource is shown
        if "FirstWorkspace" in referenced_ids(output["Value"]):
            assert name == "WorkspaceId"


def test_the_setup_role_reaches_one_index_one_table_and_one_secret(sam):
    statements = _statements(sam, "SetupFunction")
    assert statements["KeepTheAdminKey"]["Resource"] == {"Ref": "AdminKeySecret"}
    assert set(statements["KeepTheAdminKey"]["Action"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
    }
    assert statements["CreateTheFirstWorkspace"]["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert not {a for a in statements["CreateTheFirstWorkspace"]["Action"] if "Delete" in a}
    index_arns = statements["CreateTheSearchIndex"]["Resource"]
    assert [arn["Fn::Sub"].rsplit(":domain/", 1)[1] for arn in index_arns] == [
        "*/${OpenSearchIndex}",
        "*/${OpenSearchIndex}/*",
    ]
    assert "es:ESHttpDelete" not in statements["CreateTheSearchIndex"]["Action"]
    collection = statements["ReachTheCollection"]["Resource"]["Fn::If"]
    assert collection[:2] == ["CreateCollection", {"Fn::GetAtt": ["SearchCollection", "Arn"]}]


def test_the_setup_function_translates_with_its_role(sam):
    cfn = translate(sam)
    assert "SetupFunctionRole" in of_type(cfn, "AWS::IAM::Role")
    for name in _custom(sam):
        assert cfn["Resources"][name]["Type"] == sam["Resources"][name]["Type"]


def test_the_index_set_up_can_be_skipped_until_your_own_opensearch_grants_the_roles(sam):
    assert sam["Resources"]["SearchIndex"]["Condition"] == "MakeSearchIndex"
    assert sam["Conditions"]["MakeSearchIndex"] == {
        "Fn::Equals": [{"Ref": "CreateSearchIndex"}, "true"]
    }
    assert sam["Parameters"]["CreateSearchIndex"]["Default"] == "true"
    assert "Condition" not in sam["Resources"]["FirstWorkspace"]
