from __future__ import annotations

import pytest

from archcmp.analyze.kinds import exchange_kind, media_type
from archcmp.model import Body, Exchange


def _ex(url: str = "https://a.test/x", *, ctype: str | None = None, rtype: str | None = None,
        dest: str | None = None) -> Exchange:
    response = (("Content-Type", ctype),) if ctype else ()
    request = (("Sec-Fetch-Dest", dest),) if dest else ()
    return Exchange(index=0, method="GET", url=url, protocol="h2", status=200,
                    response_headers=response, request_headers=request, resource_type=rtype,
                    response_body=Body(data=b"", mime_type=ctype))


def test_media_type_strips_parameters_and_case() -> None:
    assert media_type("Text/HTML; charset=utf-8") == "text/html"
    assert media_type("") is None
    assert media_type(None) is None


@pytest.mark.parametrize(("kwargs", "kind"), [
    ({"rtype": "Script", "ctype": "application/json"}, "script"),
    ({"rtype": "fetch", "ctype": "application/json"}, "xhr"),
    ({"rtype": "eventsource"}, "stream"),
    ({"ctype": "text/event-stream; charset=utf-8"}, "stream"),
    ({"ctype": "application/vnd.api+json"}, "xhr"),
    ({"ctype": "image/avif"}, "image"),
    ({"ctype": "font/woff2"}, "font"),
    ({"ctype": "application/octet-stream", "dest": "font"}, "font"),
    ({"url": "https://a.test/app.9f8e.js"}, "script"),
    ({"url": "https://a.test/api", "dest": "empty"}, "xhr"),
    ({"url": "https://a.test/blob"}, "other"),
])
def test_exchange_kind(kwargs: dict[str, str], kind: str) -> None:
    assert exchange_kind(_ex(**kwargs)) == kind


def test_streamed_body_wins() -> None:
    assert exchange_kind(_ex(ctype="application/json"), streamed=True) == "stream"
