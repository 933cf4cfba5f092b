#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for the end-to-end tests (loopback only).

Stands in for a trust's outbound HTTPS proxy: it accepts CONNECT host:port,
opens the TCP connection, answers 200 and relays bytes both ways. TLS runs
end to end through the tunnel, so the proxy sees only ciphertext. Every
CONNECT is logged to stdout as `CONNECT host:port`. Writes the port it
listens on to the file given as its only argument.
"""
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    request = await client_reader.readuntil(b"\r\n\r\n")
    method, target, _ = request.split(b"\r\n", 1)[0].decode().split(" ", 2)
    if method != "CONNECT":
        client_writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        client_writer.close()
        return
    host, port = target.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        client_writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
        client_writer.close()
        return
    print(f"CONNECT {target}", flush=True)
    upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
    client_writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await client_writer.drain()
    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


async def main(port_file):
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]) + "\n")
    import os
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
