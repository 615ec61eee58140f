"""Setup function: the stack's custom resources (the search index with its mapping, the
first workspace and its admin key), answered to CloudFormation by engram.custom_resources."""

from engram.bootstrap import bootstrap

bootstrap(api=False)  # first: before our models are imported (cold start)

from engram.custom_resources import HANDLERS, serve  # noqa: E402
from engram.observability import lambda_entry  # noqa: E402


def setup(event: dict, context: object) -> dict:
    return serve(event, context, HANDLERS)


lambda_handler = lambda_entry(setup)
