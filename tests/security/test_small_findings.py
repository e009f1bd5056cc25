"""The review's smaller findings, each named after what it found, each failing before its fix."""

from tests.support.http import bearer


async def test_regression_get_admin_without_the_slash_redirects_instead_of_a_500(client):
    answer = await client.get("/admin", allow_redirects=False)
    assert answer.status in (302, 303) and answer.headers["Location"] == "/admin/"


async def test_regression_a_5000_digit_json_integer_is_a_400_not_a_500(client, admin_key):
    for path in ("/v1/check", "/v1/suppressions", "/v1/links"):
        answer = await client.post(path, data='{"emails": [' + "1" * 5000 + "]}",
                                   headers={"Content-Type": "application/json", **bearer(admin_key)})
        assert answer.status == 400, path
        assert "not valid JSON" in (await answer.json())["error"]


async def test_regression_head_healthz_is_answered_as_the_405_promised(client):
    answer = await client.head("/healthz")
    assert answer.status == 200
    assert (await client.put("/healthz")).headers["Allow"] == "GET, HEAD"


async def test_the_server_header_names_no_software_version(client):
    for path in ("/healthz", "/admin/", "/u/not-a-token", "/v1/nothing"):
        server = (await client.get(path)).headers.get("Server", "")
        assert "aiohttp" not in server and "Python" not in server, (path, server)


async def test_regression_a_403_names_the_keys_that_may_in_plain_words(client, check_key, sync_key):
    # Before: "this needs a admin key or an admin key".
    refused = await client.post("/v1/suppressions", json={"email": "a@example.com"}, headers=bearer(check_key))
    assert refused.status == 403
    assert (await refused.json())["error"].endswith("is a check key; this needs an admin key")
    refused = await client.get("/v1/changes", headers=bearer(check_key))
    assert (await refused.json())["error"].endswith("this needs a sync or an admin key")
