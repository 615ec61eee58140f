"""The Serverless collection the stack creates when no OpenSearch endpoint is given: its
encryption, network and data-access policies, and exactly the functions that use the index."""

import json

from engram.local.resources import load_template

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
    for name in ("SearchCollection", "SearchEncryptionPolicy", "SearchNetworkPolicy",
                 "SearchDataAccessPolicy"):
        assert RESOURCES[name]["Condition"] == "CreateCollection"
    collection = RESOURCES["SearchCollection"]
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    assert set(collection["DependsOn"]) == {"SearchEncryptionPolicy", "SearchNetworkPolicy"}
    kinds = {RESOURCES[n]["Properties"]["Type"] for n in ("SearchEncryptionPolicy", "SearchNetworkPolicy")}
    assert kinds == {"encryption", "network"}


def test_data_access_is_granted_to_exactly_the_functions_that_use_the_index():
    policy = RESOURCES["SearchDataAccessPolicy"]["Properties"]["Policy"]["Fn::Sub"]
    text, variables = policy
    principals = {v["Fn::GetAtt"][0].removesuffix("Role") for v in variables.values()}
    assert principals == _index_users()
    rendered = text.replace("${Stage}", "dev")
    for name in variables:
        rendered = rendered.replace("${" + name + "}", "arn")
    rules = json.loads(rendered)[0]["Rules"]
    assert {r["ResourceType"] for r in rules} == {"index", "collection"}


def test_functions_get_the_endpoint_and_signing_service_of_whichever_is_used():
    env = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["OPENSEARCH_ENDPOINT"]["Fn::If"][0] == "CreateCollection"
    assert env["OPENSEARCH_SERVICE"] == {"Fn::If": ["CreateCollection", "aoss", "es"]}
