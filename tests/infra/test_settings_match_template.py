"""Workers know their last attempt from settings; those must match the queues' redrive."""

from engram.config import Settings
from engram.local.resources import load_template


def _max_receives(queue: str) -> int:
    return load_template()["Resources"][queue]["Properties"]["RedrivePolicy"]["maxReceiveCount"]


def test_embed_attempts_match_the_embed_queue():
    assert Settings.model_fields["embed_max_attempts"].default == _max_receives("EmbedQueue")


def test_extract_attempts_match_the_extract_queue():
    assert Settings.model_fields["extract_max_attempts"].default == _max_receives("ExtractQueue")
