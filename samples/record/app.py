"""The sample chat apps archcmp records itself, and how to serve one on its own.

Why this exists: archcmp needs captures whose ground truth is known exactly.  Recording
a real third-party chat app would mean shipping someone else's traffic (and faking or
leaking vendor infrastructure), so instead small local apps do what modern chat front
ends do, over TLS on 127.0.0.1, and nothing else.  Two *flavours* differ on purpose, so
that ``archcmp compare`` / ``archcmp diff`` of the two shipped samples has something real
to find:

* ``anthropic`` (default, ``flavour_anthropic.py``): TLS + HTTP/2, REST, session cookie +
  bearer, UUIDv7 ids, gzip/br/zstd, an ``event:``-typed SSE stream and an NDJSON stream;
  recorded as ``samples/chat-chromium-h2.har``;
* ``openai`` (``flavour_openai.py``): TLS + HTTP/1.1 only, REST + GraphQL, bearer +
  ``x-csrf-token``, prefixed base62 ids, data-only ``chat.completion.chunk`` SSE ending
  in ``data: [DONE]``; recorded as ``samples/chat-chromium-h1.har``.

Shared plumbing is in ``app_common.py`` (ids, TLS, content-coding) and ``app_server.py``
(request log, routing, serving).  While it serves, an app logs every request it answered;
``record.py`` writes that log next to the HAR as the *truth* file tests compare with.

Run one on its own to poke at it in a browser (the certificate is self-signed)::

    python samples/record/app.py --port 8443                   # anthropic-like, h2
    python samples/record/app.py --flavour openai --port 8443  # openai-like, http/1.1
"""

from __future__ import annotations

import argparse
import json
import threading
from contextlib import suppress
from typing import Final

from app_server import Flavour, running_server
from flavour_anthropic import FLAVOUR as ANTHROPIC
from flavour_openai import FLAVOUR as OPENAI

FLAVOURS: Final[dict[str, Flavour]] = {f.name: f for f in (ANTHROPIC, OPENAI)}
DEFAULT_FLAVOUR: Final = ANTHROPIC.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flavour", choices=sorted(FLAVOURS), default=DEFAULT_FLAVOUR)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    args = parser.parse_args()
    flavour = FLAVOURS[args.flavour]
    with running_server(flavour.make_app, list(flavour.alpn), args.host, args.port) as server:
        print(
            f"serving the {flavour.name}-like app at {server.origin}/ (self-signed, ALPN "
            f"{', '.join(flavour.alpn)}); Ctrl-C to stop",
            flush=True,
        )
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
        print(json.dumps(server.app.served(), indent=2))


if __name__ == "__main__":
    main()
