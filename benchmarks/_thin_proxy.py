"""The thinnest Python gateway there is, for benchmarks/serve.py's floor: Starlette under
uvicorn, forwarding each chat request's bytes to the fake upstream with aiohttp (the
model "m-1-slow" to the slow fake), no routing, no checks. What it adds over a direct call
is what any Python gateway pays on the machine before it does any work of its own.

    THIN_FAST=http://127.0.0.1:P/p/v1 THIN_SLOW=http://127.0.0.1:Q/slow/v1 \
        uvicorn --app-dir benchmarks _thin_proxy:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = {"m-1": os.environ["THIN_FAST"], "m-1-slow": os.environ["THIN_SLOW"]}
_session: aiohttp.ClientSession | None = None


async def chat(request: Request) -> Response:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession()
    body = await request.body()
    model = "m-1-slow" if b'"m-1-slow"' in body else "m-1"
    body = body.replace(b'"m-1-slow"', b'"m-1"')
    url = UPSTREAM[model] + "/chat/completions"
    upstream = await _session.post(url, data=body, headers={"content-type": "application/json"})
    if b'"stream": true' not in body:
        content = await upstream.read()
        upstream.release()
        return Response(content, upstream.status, media_type="application/json")

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.content.iter_any():
                yield chunk
        finally:
            upstream.release()

    return StreamingResponse(relay(), upstream.status, media_type="text/event-stream")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/health", health),
    ]
)
