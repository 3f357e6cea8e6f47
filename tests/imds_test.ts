/**
 * The IMDSv2 source against a fake as strict as the real service: the
 * protocol, token reuse and renewal, 401 recovery, and every fault leaving
 * a safe one-line error, with no IMDSv1 request ever made.
 */
import assert from "node:assert/strict";
import { EndpointError } from "../lib/endpoint.ts";
import { ImdsClient, TOKEN_TTL_SECONDS } from "../lib/imds.ts";
import { type FakeImds, startFakeImds } from "./support/fake_imds.ts";

async function failure(promise: Promise<unknown>): Promise<EndpointError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EndpointError, String(error));
    return error;
  }
  assert.fail("expected a failure");
}

/** Run `body` against a fresh fake, closing it afterwards. */
async function withImds(body: (imds: FakeImds) => Promise<void>): Promise<void> {
  const imds = startFakeImds();
  try {
    await body(imds);
  } finally {
    await imds.close();
  }
}

/** No request for credentials or the role list ever went without a session token. */
function assertNoImdsV1(imds: FakeImds): void {
  for (const request of imds.requests) {
    if (request.method === "GET") assert.ok(request.token !== null, `IMDSv1 GET ${request.path}`);
  }
}

Deno.test("fake IMDS: token required, TTL 1..21600, X-Forwarded-For refused, 401 and 405", async () => {
  await withImds(async (imds) => {
    const call = async (path: string, init: RequestInit = {}) => {
      const response = await fetch(imds.url + path, init);
      return [response.status, await response.text()] as const;
    };
    const put = (ttl?: string, extra: Record<string, string> = {}) =>
      call("/latest/api/token", {
        method: "PUT",
        headers: {
          ...(ttl === undefined ? {} : { "x-aws-ec2-metadata-token-ttl-seconds": ttl }),
          ...extra,
        },
      });
    assert.equal((await put())[0], 400);
    assert.equal((await put("0"))[0], 400);
    assert.equal((await put("21601"))[0], 400);
    assert.equal((await put("60", { "X-Forwarded-For": "10.0.0.1" }))[0], 403);
    assert.equal((await call("/latest/api/token"))[0], 405);
    const [status, token] = await put("60");
    assert.equal(status, 200);
    const list = "/latest/meta-data/iam/security-credentials/";
    assert.equal((await call(list))[0], 401, "no token");
    assert.equal((await call(list, { headers: { "x-aws-ec2-metadata-token": "forged" } }))[0], 401);
    assert.deepEqual(await call(list, { headers: { "x-aws-ec2-metadata-token": token } }), [
      200,
      imds.roleName + "\n",
    ]);
    assert.equal(
      (await call(list, { method: "POST", headers: { "x-aws-ec2-metadata-token": token } }))[0],
      405,
    );
    imds.revokeTokens();
    assert.equal((await call(list, { headers: { "x-aws-ec2-metadata-token": token } }))[0], 401);
  });
});

Deno.test("ImdsClient: token, role, credentials; the token is reused", async () => {
  await withImds(async (imds) => {
    const secrets: string[] = [];
    const client = new ImdsClient(new URL(imds.url), { onSecret: (s) => secrets.push(s) });
    const first = await client.fetchCredentials();
    assert.equal(first.accessKeyId, imds.issued[0]!.AccessKeyId);
    assert.equal(first.sessionToken, imds.issued[0]!.Token);
    const second = await client.fetchCredentials();
    assert.equal(second.accessKeyId, imds.issued[1]!.AccessKeyId);
    assert.deepEqual(imds.requests.map((r) => `${r.method} ${r.path}`), [
      "PUT /latest/api/token",
      "GET /latest/meta-data/iam/security-credentials/",
      `GET /latest/meta-data/iam/security-credentials/${imds.roleName}`,
      "GET /latest/meta-data/iam/security-credentials/",
      `GET /latest/meta-data/iam/security-credentials/${imds.roleName}`,
    ]);
    assert.equal(imds.requests[0]!.ttl, String(TOKEN_TTL_SECONDS));
    assert.ok(secrets.includes(imds.tokens[0]!), "the session token is registered as a secret");
    assertNoImdsV1(imds);
  });
});

Deno.test("ImdsClient: a named role skips the listing", async () => {
  const imds = startFakeImds({ roleName: "named-role" });
  try {
    const client = new ImdsClient(new URL(imds.url), { instanceProfileName: "named-role" });
    await client.fetchCredentials();
    assert.deepEqual(imds.requests.map((r) => r.path), [
      "/latest/api/token",
      "/latest/meta-data/iam/security-credentials/named-role",
    ]);
  } finally {
    await imds.close();
  }
});

Deno.test("ImdsClient: the token is renewed before its TTL ends, and a 401 gets a new one", async () => {
  await withImds(async (imds) => {
    let now = 0;
    const client = new ImdsClient(new URL(imds.url), {
      clock: { now: () => Date.now(), monotonic: () => now },
    });
    imds.maxTokenTtlSeconds = 2; // the service grants less than asked
    await client.fetchCredentials();
    now = 500;
    await client.fetchCredentials(); // reused: half of a 2 s TTL has not passed
    now = 1100;
    await client.fetchCredentials(); // renewed before it ends
    assert.equal(imds.tokens.length, 2);
    // The service forgets its tokens (a restart): one 401, a new token, success.
    imds.revokeTokens();
    const healed = await client.fetchCredentials();
    assert.equal(healed.accessKeyId, imds.issued.at(-1)!.AccessKeyId);
    assert.equal(imds.tokens.length, 3);
    assert.deepEqual(imds.requests.slice(-4).map((r) => r.method), ["GET", "PUT", "GET", "GET"]);
    assertNoImdsV1(imds);
  });
});

Deno.test("ImdsClient: each fault is one safe line, and no IMDSv1 request follows", async () => {
  const cases: Array<[Parameters<typeof Object.assign>[1], RegExp]> = [
    [{ fault: "token-500" }, /^metadata service answered HTTP 500 to the session token request$/],
    [{ fault: "token-403" }, /^metadata service answered HTTP 403 to the session token request$/],
    [{ fault: "empty-roles" }, /^metadata service lists no instance profile role$/],
    [{ fault: "not-success" }, /^metadata service answered Code AssumeRoleUnauthorizedAccess$/],
    [{ fault: "zeroed" }, /^response field AccessKeyId is empty$/],
    [{ lifetimeSeconds: -60 }, /^credentials already expired at /],
  ];
  for (const [settings, expected] of cases) {
    await withImds(async (imds) => {
      Object.assign(imds, settings);
      const error = await failure(new ImdsClient(new URL(imds.url)).fetchCredentials());
      assert.match(error.message, expected, JSON.stringify(settings));
      for (const secret of imds.secrets()) assert.ok(!error.message.includes(secret));
      assertNoImdsV1(imds);
    });
  }
});

Deno.test("ImdsClient: a hung service times out at the headers deadline", async () => {
  await withImds(async (imds) => {
    imds.fault = "hang";
    const started = performance.now();
    const error = await failure(
      new ImdsClient(new URL(imds.url), { connectTimeoutMs: 200 }).fetchCredentials(),
    );
    assert.equal(error.message, "no response headers within 200 ms");
    assert.ok(performance.now() - started < 2000);
  });
});

Deno.test('ImdsClient: a listed role name that is not an IAM name ("..") is refused, not put in a path', async () => {
  const imds = startFakeImds({ roleName: ".." });
  try {
    const error = await failure(new ImdsClient(new URL(imds.url)).fetchCredentials());
    assert.equal(error.message, "metadata service listed an invalid role name");
    assert.deepEqual(imds.requests.map((r) => r.path), [
      "/latest/api/token",
      "/latest/meta-data/iam/security-credentials/",
    ]);
  } finally {
    await imds.close();
  }
});
