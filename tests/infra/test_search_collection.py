"""The Serverless collection the stack creates when no OpenSearch endpoint is given: its
encryption, network and data-access policies: the setup function creates the one index, the
functions that use it read and write its documents."""

import json

from engram_local.resources import load_template

RESOURCES = load_template()["Resources"]


def _index_users() -> set[str]:
    """Functions whose IAM lets them call OpenSearch (es:* or aoss:*)."""
    users = set()
    for name, res in RESOURCES.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        for policy in res["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                if any(a.startswith(("es:", "aoss:")) for a in actions):
                    users.add(name)
    return users


def test_collection_and_policies_are_conditional_on_no_endpoint():
    for name in (
        "SearchCollection",
        "SearchEncryptionPolicy",
        "SearchNetworkPolicy",
        "SearchDataAccessPolicy",
    ):
        assert RESOURCES[name]["Condition"] == "CreateCollection"
    collection = RESOURCES["SearchCollection"]
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    assert set(collection["DependsOn"]) == {"SearchEncryptionPolicy", "SearchNetworkPolicy"}
    kinds = {
        RESOURCES[n]["Properties"]["Type"]
        for n in ("SearchEncryptionPolicy", "SearchNetworkPolicy")
    }
    assert kinds == {"encryption", "network"}


def _rendered(admin: str) -> list[dict]:
    """The data-access policy as CloudFormation would render it, `admin` being what the
    IndexAdmin variable resolves to."""
    text, variables = RESOURCES["SearchDataAccessPolicy"]["Properties"]["Policy"]["Fn::Sub"]
    rendered = (
        text.replace("${Stage}", "dev")
        .replace("${OpenSearchIndex}", "engram-memories")
        .replace("${IndexAdmin}", admin)
    )
    for name in variables:
        rendered = rendered.replace("${" + name + "}", f"arn:{name}")
    return json.loads(rendered)


def _permissions(statement: dict) -> set[str]:
    return {p for rule in statement["Rules"] for p in rule["Permission"]}


def test_only_the_setup_function_may_create_the_index_and_only_that_one():
    _, variables = RESOURCES["SearchDataAccessPolicy"]["Properties"]["Policy"]["Fn::Sub"]
    functions = {k: v for k, v in variables.items() if k != "IndexAdmin"}
    principals = {v["Fn::GetAtt"][0].removesuffix("Role") for v in functions.values()}
    assert principals == _index_users()
    create, use = _rendered("")
    assert create["Principal"] == ["arn:Setup"]
    assert _permissions(create) == {"aoss:CreateIndex", "aoss:DescribeIndex", "aoss:UpdateIndex"}
    assert use["Principal"] == [f"arn:{name}" for name in functions if name != "Setup"]
    assert _permissions(use) == {
        "aoss:DescribeIndex",
        "aoss:ReadDocument",
        "aoss:WriteDocument",
        "aoss:DescribeCollectionItems",
    }
    for statement in (create, use):
        index_rules = [r for r in statement["Rules"] if r["ResourceType"] == "index"]
        assert [r["Resource"] for r in index_rules] == [["index/engram-dev/engram-memories"]]


def test_the_index_admin_is_granted_data_access_only_when_given():
    variables = RESOURCES["SearchDataAccessPolicy"]["Properties"]["Policy"]["Fn::Sub"][1]
    condition, given, absent = variables["IndexAdmin"]["Fn::If"]
    assert condition == "HasIndexAdmin" and absent == ""
    arn = "arn:aws:iam::123456789012:role/ops"
    create, use = _rendered(given["Fn::Sub"].replace("${IndexAdminArn}", arn))
    functions = [f"arn:{name}" for name in variables if name not in ("IndexAdmin", "Setup")]
    assert create["Principal"] == ["arn:Setup", arn]
    assert use["Principal"] == [*functions, arn]
    assert load_template()["Conditions"]["HasIndexAdmin"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "IndexAdminArn"}, ""]}]
    }


def test_functions_get_the_endpoint_and_signing_service_of_whichever_is_used():
    env = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["OPENSEARCH_ENDPOINT"]["Fn::If"][0] == "CreateCollection"
    assert env["OPENSEARCH_SERVICE"] == {"Fn::If": ["CreateCollection", "aoss", "es"]}


def test_functions_use_the_index_name_the_cli_defaults_to():
    from engram.config import Settings

    env = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["OPENSEARCH_INDEX"] == {"Ref": "OpenSearchIndex"}
    default = load_template()["Parameters"]["OpenSearchIndex"]["Default"]
    assert default == Settings.model_fields["opensearch_index"].default
