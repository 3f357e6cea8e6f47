import assert from "node:assert/strict";
import { BodyTooLargeError, httpGet } from "../lib/http_get.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A raw TCP server that answers one connection with `reply` (written in the
 * given pieces, then closed) and records the request it received.
 */
async function withRawServer(
  reply: Array<string | Uint8Array> | "hold",
  body: (url: URL, request: () => string) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let request = "";
  const served = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(4096);
    while (!request.includes("\r\n\r\n")) {
      const read = await conn.read(buffer);
      if (read === null) break;
      request += decoder.decode(buffer.subarray(0, read));
    }
    if (reply === "hold") {
      await conn.read(buffer).catch(() => null); // until the client goes away
    } else {
      for (const piece of reply) {
        await conn.write(typeof piece === "string" ? encoder.encode(piece) : piece).catch(() => 0);
      }
    }
    try {
      conn.close();
    } catch {
      // The client closed it first.
    }
  })();
  try {
    await body(new URL(`http://127.0.0.1:${port}/creds?x=1`), () => request);
  } finally {
    listener.close();
    await served;
  }
}

Deno.test("httpGet() sends one GET with Host, Connection: close and the given headers", async () => {
  await withRawServer(["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"], async (url, request) => {
    const response = await httpGet(url, {
      headers: { Accept: "application/json", Authorization: "tok" },
    });
    assert.equal(response.status, 200);
    assert.equal(decoder.decode(response.body), "{}");
    assert.equal(
      request(),
      `GET /creds?x=1 HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n` +
        "Accept: application/json\r\nAuthorization: tok\r\n\r\n",
    );
  });
});

Deno.test("httpGet() decodes a chunked body with extensions and trailers", async () => {
  await withRawServer([
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    '4;ext=1\r\n{"a"\r\n',
    "3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n",
  ], async (url) => {
    const response = await httpGet(url);
    assert.equal(decoder.decode(response.body), '{"a":1}');
  });
});

Deno.test("httpGet() reads to the close without a length, and skips an interim 100", async () => {
  await withRawServer(
    ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 503 Busy\r\nX: y\r\n\r\n", "body to ", "the end"],
    async (url) => {
      const response = await httpGet(url);
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("x"), "y");
      assert.equal(decoder.decode(response.body), "body to the end");
    },
  );
});

Deno.test("httpGet() enforces the body cap for every framing", async () => {
  const cases: Array<[string[], string]> = [
    [["HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"], "body of 11 bytes exceeds the 10-byte cap"],
    [
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"],
      "body exceeds the 10-byte cap",
    ],
    [["HTTP/1.1 200 OK\r\n\r\n", "12345678901"], "body exceeds the 10-byte cap"],
  ];
  for (const [reply, message] of cases) {
    await withRawServer(reply, async (url) => {
      await assert.rejects(httpGet(url, { maxBodyBytes: 10 }), (error: unknown) => {
        assert.ok(error instanceof BodyTooLargeError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("httpGet() rejects malformed and truncated responses", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["SSH-2.0-OpenSSH\r\n\r\n"], /the response is not HTTP\/1\.x/],
    [["HTTP/1.1 200 OK\r\nbad header\r\n\r\n"], /malformed response header/],
    [["HTTP/1.1 200 OK\r\n folded: x\r\n\r\n"], /malformed response header/],
    [["HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n12345"], /malformed content-length/],
    [
      ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"],
      /connection closed before the end of the body/,
    ],
    [
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"],
      /unsupported transfer-encoding "gzip"/,
    ],
    [["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], /malformed chunked body/],
    [
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12"],
      /connection closed before the end of the body/,
    ],
    [["HTTP/1.1 200 OK\r\nX: " + "a".repeat(40 * 1024)], /longer than 32768 bytes/],
    [["HTTP/1.1 200"], /connection closed before the end of the status line/],
  ];
  for (const [reply, pattern] of cases) {
    await withRawServer(reply, async (url) => {
      await assert.rejects(httpGet(url), pattern, JSON.stringify(reply[0]!.slice(0, 40)));
    });
  }
});

Deno.test("httpGet() stops with the signal's reason when aborted mid-response", async () => {
  await withRawServer("hold", async (url) => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error("deadline")), 50);
    const started = performance.now();
    await assert.rejects(httpGet(url, { signal: abort.signal }), /deadline/);
    assert.ok(performance.now() - started < 1000);
  });
  const aborted = new AbortController();
  aborted.abort(new Error("already"));
  await assert.rejects(
    httpGet(new URL("http://127.0.0.1:9/"), { signal: aborted.signal }),
    /already/,
  );
});

Deno.test("httpGet() reports a refused connection with the system's reason", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(httpGet(new URL(`http://127.0.0.1:${port}/`)), /Connection refused/);
});
