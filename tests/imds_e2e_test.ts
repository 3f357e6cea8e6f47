/**
 * The helper process reading an IMDSv2 source, as with AWS's own Roles
 * Anywhere helper (`aws_signing_helper serve`): first write, rotation across
 * token expiry, a 401 healed by a new token, and the fault rules of the
 * container source (files untouched, one line, alive, healed).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { credentialsSection, readSection } from "../lib/shared_file.ts";
import { type ImdsFault, startFakeImds } from "./support/fake_imds.ts";
import {
  assertNoSecretsIn,
  helperEnv,
  httpGet,
  readIfExists,
  runHelper,
  spawnHelper,
  tempHome,
  waitFor,
} from "./helpers.ts";

const secrets: string[] = [];

Deno.test("e2e IMDS: writes, rotates across token expiry, heals a 401 and survives every fault", async () => {
  const home = await tempHome();
  const imds = startFakeImds();
  imds.maxTokenTtlSeconds = 2;
  const env = helperEnv(home, "unused", {
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
    AWS_REFRESH_INTERVAL: "3600",
  });
  delete (env as Record<string, string>)["AWS_CONTAINER_CREDENTIALS_FULL_URI"];
  const helper = spawnHelper(env);
  const credentialsPath = join(home, ".aws", "credentials");
  const keyInFile = async () =>
    readSection(await readIfExists(credentialsPath) ?? "", credentialsSection("default"))
      ?.get("aws_access_key_id");
  const refreshed = (count: number) =>
    waitFor(`refresh ${count}`, () => helper.count(/INFO refreshed /) >= count || undefined);
  try {
    await helper.waitForLine(
      new RegExp(`INFO started .* source=imds endpoint=${imds.url.replaceAll(".", "\\.")} `),
    );
    await refreshed(1);
    assert.equal(await keyInFile(), imds.issued[0]!.AccessKeyId);
    // Past the 2 s token TTL: the next refresh renews the token first.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    helper.kill("SIGHUP");
    await refreshed(2);
    assert.equal(imds.tokens.length, 2);
    assert.equal(await keyInFile(), imds.issued[1]!.AccessKeyId);
    // The service forgets its tokens: one 401, a new token, success.
    imds.revokeTokens();
    helper.kill("SIGHUP");
    await refreshed(3);
    assert.equal(await keyInFile(), imds.issued[2]!.AccessKeyId);
    assert.equal(helper.count(/refresh failed/), 0);

    const faults: Array<[ImdsFault, RegExp]> = [
      ["token-500", /metadata service answered HTTP 500 to the session token request/],
      ["empty-roles", /metadata service lists no instance profile role/],
      ["not-success", /metadata service answered Code AssumeRoleUnauthorizedAccess/],
      ["zeroed", /response field AccessKeyId is empty/],
      ["hang", /no response headers within 2000 ms/],
    ];
    for (const [fault, reason] of faults) {
      imds.revokeTokens(); // so the token request itself is exercised too
      const before = await Deno.readTextFile(credentialsPath);
      const failures = helper.count(/ERROR refresh failed/);
      imds.fault = fault;
      helper.kill("SIGHUP");
      const line = await waitFor(
        `a failure for ${fault}`,
        () =>
          helper.lines.slice().reverse().find((l) => l.includes("ERROR refresh failed")) &&
            helper.count(/ERROR refresh failed/) > failures
            ? helper.lines.filter((l) => l.includes("ERROR refresh failed")).at(-1)
            : undefined,
        8000,
      );
      assert.match(line, reason, fault);
      assert.equal(await Deno.readTextFile(credentialsPath), before, `${fault}: file untouched`);
      assert.equal((await httpGet(`http://127.0.0.1:${env.LISTEN_PORT}/healthz`)).status, 200);
      assert.equal((await httpGet(`http://127.0.0.1:${env.LISTEN_PORT}/readyz`)).status, 200);
      imds.fault = "none";
      const issued = imds.issued.length;
      // Healed within the backoff bound (1 s doubling to 30 s).
      await waitFor(`healing after ${fault}`, async () => {
        const key = await keyInFile();
        return imds.issued.length > issued && key === imds.issued.at(-1)!.AccessKeyId || undefined;
      }, 35_000);
    }
    // No request for credentials ever went without a session token.
    for (const request of imds.requests) {
      if (request.method === "GET") assert.ok(request.token !== null, request.path);
    }
    helper.kill("SIGTERM");
    assert.equal((await helper.status).code, 0);
    secrets.push(...imds.secrets());
  } finally {
    helper.kill("SIGKILL");
    await helper.status;
    await imds.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e container: an endpoint sending the credential_process shape (SessionToken) is read", async () => {
  const home = await tempHome();
  const body = {
    Version: 1,
    AccessKeyId: "ASIAPROCESSSHAPE0001",
    SecretAccessKey: "process-shape-secret-value",
    SessionToken: "process-shape-session-token",
    Expiration: new Date(Date.now() + 3_600_000).toISOString(),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json(body),
  );
  try {
    const env = helperEnv(home, `http://127.0.0.1:${server.addr.port}/creds`);
    const result = await runHelper(env, { args: ["once"] });
    assert.equal(result.code, 0, result.stderr.join("\n"));
    assert.equal(
      await Deno.readTextFile(join(home, ".aws", "credentials")),
      "[default]\naws_access_key_id = ASIAPROCESSSHAPE0001\n" +
        "aws_secret_access_key = process-shape-secret-value\n" +
        "aws_session_token = process-shape-session-token\n",
    );
    secrets.push(body.SecretAccessKey, body.SessionToken);
  } finally {
    await server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e IMDS: no session token or secret reached a log line or response", () => {
  assertNoSecretsIn(secrets, 10);
});
