"""Plugin routes marked PUBLIC_PAGE open in a browser without the API key; nothing else does."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from skyplex import hookimpl  # noqa: E402


class _PagesPlugin:
    """A plugin with a public page, a page-marked POST route (must stay protected) and a data route."""

    @hookimpl
    def skyplex_register_routes(self, router, kernel):
        from fastapi.responses import HTMLResponse

        from skyplex.gateway.middleware import PUBLIC_PAGE

        @router.get("/", response_class=HTMLResponse, openapi_extra=PUBLIC_PAGE)
        def page():
            return HTMLResponse("<p>the page</p>")

        @router.post("/", openapi_extra=PUBLIC_PAGE)
        def post_page():
            return {"wrote": True}

        @router.get("/data")
        def data():
            return {"secret": 1}


@pytest.fixture
def client(tmp_path):
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("pages", _PagesPlugin())])
    kernel = Kernel(settings=Settings(data_dir=tmp_path / "d"), pm=pm).startup()
    try:
        with TestClient(create_app(kernel, api_key="k", auth=True)) as c:
            yield c
    finally:
        kernel.close()


def test_public_page_opens_without_the_key_and_nothing_else_does(client):
    page = client.get("/plugins/pages/")
    assert page.status_code == 200 and "the page" in page.text
    assert client.head("/plugins/pages/").status_code in (200, 405)  # never 401
    assert client.post("/plugins/pages/").status_code == 401  # the marker makes GET public, not other methods
    assert client.get("/plugins/pages/data").status_code == 401
    assert client.get("/plugins/pages/data", headers={"Authorization": "Bearer k"}).json() == {"secret": 1}
    assert client.get("/plugins/pages/data", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_openapi_documents_the_page_as_public(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "security" not in paths["/plugins/pages/"]["get"]
    assert paths["/plugins/pages/"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/plugins/pages/data"]["get"]["security"] == [{"bearerAuth": []}]
