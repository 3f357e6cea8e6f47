import assert from "node:assert/strict";
import { EndpointClient, EndpointError, errorDetail, isLoopbackHost } from "../lib/endpoint.ts";
import { startFakeEndpoint } from "./support/fake_endpoint.ts";

async function failure(promise: Promise<unknown>): Promise<EndpointError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EndpointError, `expected EndpointError, got ${error}`);
    return error;
  }
  assert.fail("expected the fetch to fail");
}

/** Serve one handler on 127.0.0.1 for the length of `body`. */
async function withServer(
  handler: (request: Request) => Response | Promise<Response>,
  body: (url: URL) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    await body(new URL(`http://127.0.0.1:${server.addr.port}/creds`));
  } finally {
    await server.shutdown();
  }
}

Deno.test("EndpointClient sends GET with Accept: application/json and the token", async () => {
  const fake = startFakeEndpoint({ requiredToken: "Bearer abc" });
  try {
    const client = new EndpointClient(new URL(fake.url), {
      authorization: { kind: "value", token: "Bearer abc" },
    });
    const credentials = await client.fetchCredentials();
    assert.equal(credentials.accessKeyId, fake.last().AccessKeyId);
    assert.equal(credentials.secretAccessKey, fake.last().SecretAccessKey);
    assert.equal(credentials.sessionToken, fake.last().Token);
    assert.equal(credentials.expiration.toISOString(), fake.last().Expiration);
    assert.equal(fake.requests[0]?.get("accept"), "application/json");
    assert.equal(fake.requests[0]?.get("authorization"), "Bearer abc");
  } finally {
    await fake.close();
  }
});

Deno.test("EndpointClient re-reads the token file on every fetch and trims the newline", async () => {
  const fake = startFakeEndpoint();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/token`;
  try {
    const secrets: string[] = [];
    const client = new EndpointClient(new URL(fake.url), {
      authorization: { kind: "file", path },
      onSecret: (s) => secrets.push(s),
    });
    await Deno.writeTextFile(path, "first-token\n");
    await client.fetchCredentials();
    await Deno.writeTextFile(path, "second-token\r\n");
    await client.fetchCredentials();
    assert.deepEqual(fake.requests.map((h) => h.get("authorization")), [
      "first-token",
      "second-token",
    ]);
    assert.ok(secrets.includes("first-token") && secrets.includes("second-token"));
    assert.ok(secrets.includes(fake.last().SecretAccessKey) && secrets.includes(fake.last().Token));

    await Deno.writeTextFile(path, "abc\r\nInjected: yes\n");
    const injected = await failure(client.fetchCredentials());
    assert.equal(injected.kind, "token-file");
    assert.match(injected.message, /holds a line break or control character inside the token/);
    assert.ok(!injected.message.includes("abc"));

    await Deno.writeTextFile(path, "\n");
    assert.match((await failure(client.fetchCredentials())).message, /is empty/);

    await Deno.writeTextFile(path, "x".repeat(20_000));
    assert.match(
      (await failure(client.fetchCredentials())).message,
      /cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ".*": it is larger than 16384 bytes/,
    );
    const endless = new EndpointClient(new URL(fake.url), {
      authorization: { kind: "file", path: "/dev/zero" },
    });
    assert.match((await failure(endless.fetchCredentials())).message, /larger than 16384 bytes/);

    await Deno.remove(path);
    assert.match(
      (await failure(client.fetchCredentials())).message,
      /cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE/,
    );
    assert.equal(fake.requests.length, 2, "no request is sent without a valid token");
  } finally {
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EndpointClient times out a hung endpoint at the headers deadline", async () => {
  const fake = startFakeEndpoint();
  fake.fault = "hang";
  try {
    const client = new EndpointClient(new URL(fake.url), { connectTimeoutMs: 200 });
    const started = performance.now();
    const error = await failure(client.fetchCredentials());
    assert.equal(error.kind, "timeout");
    assert.equal(error.message, "no response headers within 200 ms");
    assert.ok(performance.now() - started < 2000);
  } finally {
    await fake.close();
  }
});

Deno.test("EndpointClient times out a trickling body at the total deadline", async () => {
  const fake = startFakeEndpoint();
  fake.fault = "trickle";
  try {
    const client = new EndpointClient(new URL(fake.url), { totalTimeoutMs: 300 });
    const error = await failure(client.fetchCredentials());
    assert.equal(error.kind, "timeout");
    assert.equal(error.message, "no complete response within 300 ms");
  } finally {
    await fake.close();
  }
});

Deno.test("EndpointClient stops reading past the body cap", async () => {
  const fake = startFakeEndpoint();
  fake.fault = "huge";
  try {
    const client = new EndpointClient(new URL(fake.url), { totalTimeoutMs: 10_000 });
    const error = await failure(client.fetchCredentials());
    assert.equal(error.kind, "too-large");
    assert.equal(error.message, "HTTP response body exceeds the 1048576-byte cap");
  } finally {
    await fake.close();
  }
  await withServer(
    () => new Response("x".repeat(2048), { headers: { "content-length": "2048" } }),
    async (url) => {
      const error = await failure(
        new EndpointClient(url, { maxBodyBytes: 1024 }).fetchCredentials(),
      );
      assert.equal(error.message, "HTTP response body of 2048 bytes exceeds the 1024-byte cap");
    },
  );
});

Deno.test("EndpointClient refuses a redirect to another host and follows one on the same origin", async () => {
  const fake = startFakeEndpoint();
  fake.fault = "redirect-other-host";
  try {
    const error = await failure(new EndpointClient(new URL(fake.url)).fetchCredentials());
    assert.equal(error.kind, "redirect");
    assert.equal(
      error.message,
      `HTTP 302 redirect to another origin http://127.0.0.2:${fake.port} refused`,
    );
    assert.equal(fake.requests.length, 1);
  } finally {
    await fake.close();
  }
  const fake2 = startFakeEndpoint();
  try {
    await withServer(
      (request) =>
        new URL(request.url).pathname === "/creds"
          ? new Response(null, { status: 307, headers: { Location: "/real" } })
          : fetch(fake2.url),
      async (url) => {
        const credentials = await new EndpointClient(url).fetchCredentials();
        assert.equal(credentials.accessKeyId, fake2.last().AccessKeyId);
      },
    );
  } finally {
    await fake2.close();
  }
});

Deno.test("EndpointClient reports each bad response in one safe line", async () => {
  const fake = startFakeEndpoint();
  const client = new EndpointClient(new URL(fake.url), { totalTimeoutMs: 3000 });
  const expected: Array<[typeof fake.fault, string, string]> = [
    [
      "500-json",
      "http-status",
      "endpoint answered HTTP 500: InternalError: the role session could not be created",
    ],
    [
      "403",
      "http-status",
      "endpoint answered HTTP 403: AccessDenied: not authorized to assume the role",
    ],
    ["404", "http-status", "endpoint answered HTTP 404"],
    ["not-json", "not-json", "HTTP 200 body is not JSON (19 bytes)"],
    ["html", "not-json", "HTTP 200 body is not JSON (looks like HTML) (45 bytes)"],
    ["null", "invalid", "response is null, not a JSON object"],
    ["array", "invalid", "response is an array, not a JSON object"],
    ["missing-fields", "invalid", "response has no Token"],
    ["empty-strings", "invalid", "response field SecretAccessKey is empty"],
    [
      "bad-date",
      "invalid",
      'response field Expiration is not an RFC 3339 timestamp: "next tuesday"',
    ],
  ];
  try {
    for (const [fault, kind, message] of expected) {
      fake.fault = fault;
      const error = await failure(client.fetchCredentials());
      assert.deepEqual([error.kind, error.message], [kind, message], fault);
    }
    fake.fault = "expired";
    const expired = await failure(client.fetchCredentials());
    assert.match(expired.message, /^credentials already expired at \d{4}-/);
    fake.fault = "slow-then-reset";
    const reset = await failure(client.fetchCredentials());
    assert.equal(reset.kind, "network");
  } finally {
    await fake.close();
  }
});

Deno.test("EndpointClient reports a refused connection as a network error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const error = await failure(
    new EndpointClient(new URL(`http://127.0.0.1:${port}/creds`)).fetchCredentials(),
  );
  assert.equal(error.kind, "network");
  assert.match(error.message, /^request failed: .*(refused|os error 111)/i);
});

Deno.test("EndpointClient stops at once when its signal aborts", async () => {
  const fake = startFakeEndpoint();
  fake.fault = "hang";
  try {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const error = await failure(
      new EndpointClient(new URL(fake.url)).fetchCredentials(abort.signal),
    );
    assert.equal(error.kind, "aborted");
  } finally {
    await fake.close();
  }
});

Deno.test("errorDetail() reads the error shapes the agents use", () => {
  assert.equal(errorDetail({ code: "C", message: "m" }), "C: m");
  assert.equal(errorDetail({ Code: "C", Message: "m" }), "C: m");
  assert.equal(errorDetail({ Message: "only message" }), "only message");
  assert.equal(errorDetail({ error: "invalid_token" }), "invalid_token");
  assert.equal(errorDetail({ other: 1 }), undefined);
  assert.equal(errorDetail("text"), undefined);
  assert.equal(errorDetail({ message: "x".repeat(300) })?.length, 201);
});

Deno.test("isLoopbackHost() knows 127.0.0.0/8, localhost and [::1] only", () => {
  for (const host of ["127.0.0.1", "127.255.0.9", "localhost", "[::1]"]) {
    assert.ok(isLoopbackHost(host), host);
  }
  for (const host of ["128.0.0.1", "127.0.0.256", "localhost.example.com", "[::2]", "127.1"]) {
    assert.ok(!isLoopbackHost(host), host);
  }
});
