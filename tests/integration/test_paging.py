"""Every paged list takes the same `limit`, `cursor` and `offset` (engram/paging.py): the
settings' default page size without a limit, the rest of the items through `next_cursor`,
`offset` items skipped, and a 4xx with a sentence for a bad limit, cursor or offset, or a
parameter the list does not take."""

from __future__ import annotations

import json

import pytest

from engram.config import get_settings

pytestmark = pytest.mark.usefixtures("fake_dns")  # webhook URLs are resolved when created
CREATES = {
    "/v1/agents": lambda i: {"name": f"agent {i}"},
    "/v1/sessions": lambda i: {},
    "/v1/memories": lambda i: {"content": f"memory {i}"},
    "/v1/api-keys": lambda i: {"name": f"key {i}"},
    "/v1/webhooks": lambda i: {
        "url": f"https://hooks.example.com/{i}",
        "events": ["session.created"],
    },
}
LISTS = [*CREATES, "/v1/webhooks/wh_unknown/deliveries"]


@pytest.fixture
def page_size_two(monkeypatch):
    monkeypatch.setenv("DEFAULT_PAGE_SIZE", "2")
    get_settings.cache_clear()
    assert get_settings().default_page_size == 2


@pytest.mark.parametrize("path", list(CREATES))
def test_default_page_size_and_the_cursor_walk(client, auth, page_size_two, path):
    for i in range(3):
        assert client.post(path, json=CREATES[path](i), headers=auth).status_code == 201
    first = client.get(path, headers=auth).json()
    assert len(first["data"]) == 2 and first["has_more"] and first["next_cursor"]
    rest = client.get(
        path, params={"cursor": first["next_cursor"], "limit": 100}, headers=auth
    ).json()
    seen = [json.dumps(item, sort_keys=True) for item in first["data"] + rest["data"]]
    assert len(seen) == len(set(seen)) >= 3 and not rest["has_more"]


@pytest.mark.parametrize("path", list(CREATES))
def test_offset_skips_that_many_items(client, auth, path):
    for i in range(4):
        assert client.post(path, json=CREATES[path](i), headers=auth).status_code == 201
    whole = client.get(path, params={"limit": 100}, headers=auth).json()["data"]
    assert len(whole) >= 4
    skipped = client.get(path, params={"offset": 1, "limit": 2}, headers=auth).json()
    assert skipped["data"] == whole[1:3] and skipped["has_more"]
    after = client.get(
        path, params={"offset": 1, "limit": 2, "cursor": skipped["next_cursor"]}, headers=auth
    ).json()
    assert after["data"] == whole[4:6]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "c" * 2049}, {"offset": -1}],
)
def test_a_bad_limit_or_cursor_is_a_422_with_a_sentence(client, auth, path, params):
    response = client.get(path, params=params, headers=auth)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.endswith(".") and next(iter(params)) in detail


@pytest.mark.parametrize("path", ["/v1/memories", "/v1/agents", "/v1/workspaces"])
def test_a_parameter_a_list_does_not_take_is_a_422(client, auth, path):
    response = client.get(path, params={"colour": "red"}, headers=auth)
    assert response.status_code == 422, response.text
    assert "colour" in response.json()["detail"]


@pytest.mark.parametrize("path", list(CREATES))
def test_a_cursor_that_is_not_ours_is_a_400(client, auth, path):
    response = client.get(path, params={"cursor": "not-a-cursor"}, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].endswith(".")
