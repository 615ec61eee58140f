"""Workers know their last attempt from settings; those must match the queues' redrive."""

from engram.config import Settings
from engram_local.resources import load_template


def _max_receives(queue: str) -> int:
    return load_template()["Resources"][queue]["Properties"]["RedrivePolicy"]["maxReceiveCount"]


def test_embed_attempts_match_the_embed_queue():
    assert Settings.model_fields["embed_max_attempts"].default == _max_receives("EmbedQueue")


def test_extract_attempts_match_the_extract_queue():
    assert Settings.model_fields["extract_max_attempts"].default == _max_receives("ExtractQueue")


def test_every_variable_the_template_sets_is_a_setting_or_powertools():
    """A misspelt or removed setting would otherwise be ignored in silence (extra="ignore")."""
    template = load_template()
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            names |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    settings = {name.upper() for name in Settings.model_fields}
    unknown = sorted(n for n in names if n not in settings and not n.startswith("POWERTOOLS_"))
    assert unknown == []
