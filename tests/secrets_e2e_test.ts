/**
 * Secrets never reach a log line or an HTTP body, whatever the server says:
 * an endpoint that echoes the Authorization header and the last issued
 * secret in its error messages, after more than 20 rotations, with a
 * 400-character token. No 8-character fragment of a secret may appear.
 */
import assert from "node:assert/strict";
import { freePort } from "./support/fake_endpoint.ts";
import { helperEnv, httpGet, spawnHelper, tempHome, transcript, waitFor } from "./helpers.ts";

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Every 8-character window of `secret` that appears in `text`. */
function fragments(secret: string, text: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 8 <= secret.length; i++) {
    const window = secret.slice(i, i + 8);
    if (text.includes(window)) found.push(window);
  }
  return found;
}

Deno.test("e2e: an endpoint echoing the token and the last secret never gets them logged", async () => {
  const authorization = "Bearer " + randomHex(200).slice(0, 393); // 400 characters
  assert.equal(authorization.length, 400);
  const issued: Array<{ secret: string; token: string }> = [];
  let failing = false;
  const port = freePort();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (request) => {
    const header = request.headers.get("authorization") ?? "";
    const last = issued.at(-1);
    if (failing && last !== undefined) {
      // The echo puts the token across the 200-character cut of an error detail.
      return Response.json({
        code: "AccessDenied",
        message: `${"x".repeat(20)} ${header} rejected; your last key was ${last.secret} ` +
          `with session ${last.token}; token starts ${header.slice(7, 67)}, key starts ${
            last.secret.slice(0, 20)
          }`,
      }, { status: 403 });
    }
    const credentials = {
      AccessKeyId: `AKIA${randomHex(8).toUpperCase()}`,
      SecretAccessKey: randomHex(20),
      Token: randomHex(60),
      Expiration: new Date(Date.now() + 3_600_000).toISOString(),
    };
    issued.push({ secret: credentials.SecretAccessKey, token: credentials.Token });
    return Response.json(credentials);
  });
  const home = await tempHome();
  const env = helperEnv(home, `http://127.0.0.1:${port}/creds`, {
    AWS_CONTAINER_AUTHORIZATION_TOKEN: authorization,
    LOG_LEVEL: "debug",
  });
  const helper = spawnHelper(env);
  try {
    // 24 rotations, each forced by SIGHUP.
    for (let rotation = 1; rotation <= 24; rotation++) {
      await waitFor("rotation", () => helper.count(/INFO refreshed/) >= rotation || undefined);
      if (rotation < 24) helper.kill("SIGHUP");
    }
    failing = true;
    for (let attempt = 1; attempt <= 3; attempt++) {
      helper.kill("SIGHUP");
      await waitFor("failure", () => helper.count(/ERROR refresh failed/) >= attempt || undefined);
    }
    const metrics = await httpGet(`http://127.0.0.1:${env.LISTEN_PORT}/metrics`);
    assert.equal(metrics.status, 200);
    await httpGet(`http://127.0.0.1:${env.LISTEN_PORT}/readyz`);
    helper.kill("SIGTERM");
    assert.equal((await helper.status).code, 0);
    const failure = helper.lines.find((l) => l.includes("ERROR refresh failed"))!;
    assert.match(failure, /endpoint answered HTTP 403: AccessDenied: x{20} \[REDACTED\] rejected/);
    assert.ok(failure.includes("your last key was [REDACTED] with session [REDACTED]"), failure);
    const everything = transcript.join("\n");
    assert.ok(issued.length >= 24, `${issued.length} credentials issued`);
    for (const secret of [authorization.slice(7), ...issued.flatMap((i) => [i.secret, i.token])]) {
      assert.deepEqual(fragments(secret, everything), [], "no fragment of a secret");
    }
  } finally {
    helper.kill("SIGKILL");
    await helper.status;
    await server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
});
