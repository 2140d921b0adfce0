"""The body limit is applied before a body is buffered: from ``Content-Length`` in ``prepare``,
and for a streamed (chunked) body as it arrives, without the server's memory growing by it."""

from __future__ import annotations

import asyncio
import json

import psutil

BIG = 100 * 1024 * 1024  # 100 MB


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    headers = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:] if line)
    }
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:  # chunked
        body = b""
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readline()
    return status, json.loads(body)


async def _request(api, head: str, body_chunks) -> tuple[int, dict]:
    """Send a POST to ``training/start`` on a raw connection; read the answer as it comes."""
    hostport, _, base = api.root.split("//")[1].partition("/")
    host, port = hostport.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"POST /{base}training/start HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: token {api.token}\r\nContent-Type: application/json\r\n"
            f"{head}\r\n"
        ).encode()
    )
    response = asyncio.create_task(_read_response(reader))
    try:
        for chunk in body_chunks:
            if response.done():
                break  # answered before the whole body was sent
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # the server answered and closed
    try:
        return await asyncio.wait_for(response, 60)
    finally:
        writer.close()


async def test_a_100_mb_body_is_refused_from_its_content_length(api, manager):
    rss = psutil.Process().memory_info().rss
    code, body = await _request(api, f"Content-Length: {BIG}\r\n", [b"{" + b" " * 1024])
    assert code == 413 and body["type"] == "PayloadTooLarge"
    assert body["errors"][0]["field"] == "body" and str(BIG) in body["error"]
    assert psutil.Process().memory_info().rss - rss < 50 * 1024 * 1024
    assert not manager.is_active()


async def test_a_streamed_100_mb_body_is_counted_not_kept(api, manager):
    rss = psutil.Process().memory_info().rss
    chunk = b" " * (64 * 1024)
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)  # one object sent again and again
    frames = (frame for _ in range(BIG // len(chunk)))
    code, body = await _request(api, "Transfer-Encoding: chunked\r\n", [*frames, b"0\r\n\r\n"])
    assert code == 413 and body["type"] == "PayloadTooLarge" and body["errors"][0]["field"] == "body"
    grew = psutil.Process().memory_info().rss - rss
    assert grew < 50 * 1024 * 1024, f"the server's RSS grew by {grew / 2**20:.0f} MB"
    assert not manager.is_active()
