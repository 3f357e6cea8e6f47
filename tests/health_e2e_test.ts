/**
 * End-to-end: the health listener in the spawned process, and the
 * `healthcheck` self-probe.
 */
import assert from "node:assert/strict";
import { freePort, startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  assertNoSecretsIn,
  helperEnv,
  httpGet,
  runHelper,
  spawnHelper,
  tempHome,
  waitFor,
} from "./helpers.ts";
import { parsePrometheus } from "./support/prometheus.ts";

const secrets: string[] = [];

Deno.test("e2e health: /readyz is 503 before the first write, 200 after; /healthz is 200 throughout", async () => {
  const home = await tempHome();
  const endpointPort = freePort();
  const port = freePort();
  const helper = spawnHelper({
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${endpointPort}/creds`,
    LISTEN_PORT: `:${port}`, // the ":3000" form
    LISTEN_ADDRESS: "127.0.0.1",
    AWS_REFRESH_INTERVAL: "1",
  });
  let fake;
  try {
    await helper.waitForLine(/ERROR refresh failed/);
    assert.deepEqual(await httpGet(`http://127.0.0.1:${port}/readyz`), {
      status: 503,
      body:
        "no credentials written yet; last error: request failed: Connection refused (os error 111)\n",
    });
    assert.equal((await httpGet(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const before = parsePrometheus((await httpGet(`http://127.0.0.1:${port}/metrics`)).body);
    assert.equal(before.get('credential_helper_ready{profile="default"}'), 0);
    assert.ok(
      before.get('credential_helper_refresh_total{profile="default",result="failure"}')! >= 1,
    );
    assert.equal(
      before.get('credential_helper_refresh_total{profile="default",result="success"}'),
      0,
    );

    fake = startFakeEndpoint({ port: endpointPort });
    await helper.waitForLine(/INFO refreshed /);
    assert.deepEqual(await httpGet(`http://127.0.0.1:${port}/readyz`), {
      status: 200,
      body: "ready\n",
    });
    const after = parsePrometheus((await httpGet(`http://127.0.0.1:${port}/metrics`)).body);
    assert.equal(after.get('credential_helper_ready{profile="default"}'), 1);
    assert.ok(
      after.get('credential_helper_refresh_total{profile="default",result="success"}')! >= 1,
    );
    assert.equal(
      after.get('credential_helper_credentials_expiration_timestamp_seconds{profile="default"}'),
      Date.parse(fake.issued[0]!.Expiration) / 1000,
    );
    assert.equal(after.get('credential_helper_build_info{version="0.1.0"}'), 1);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/nope`)).status, 404);
    secrets.push(...fake.secrets());
  } finally {
    helper.kill();
    await helper.status;
    await fake?.close();
  }
});

Deno.test("e2e health: /readyz turns 503 after expiry while the endpoint fails", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint({ lifetimeSeconds: 3 });
  const env = helperEnv(home, fake.url, {
    REFRESH_BEFORE_EXPIRY: "0",
  });
  const port = env.LISTEN_PORT;
  const helper = spawnHelper(env);
  try {
    await helper.waitForLine(/INFO refreshed /);
    fake.fault = "500-json";
    assert.equal((await httpGet(`http://127.0.0.1:${port}/readyz`)).status, 200);
    const expiration = new Date(fake.issued[0]!.Expiration).toISOString();
    const response = await waitFor("readiness to drop", async () => {
      const response = await httpGet(`http://127.0.0.1:${port}/readyz`);
      return response.status === 503 ? response : undefined;
    }, 10_000);
    assert.equal(response.body, `credentials expired at ${expiration}\n`);
    assert.ok(Date.now() >= Date.parse(expiration));
    const metrics = parsePrometheus((await httpGet(`http://127.0.0.1:${port}/metrics`)).body);
    assert.equal(metrics.get('credential_helper_ready{profile="default"}'), 0);
    // The loop is alive and failing, which is not a liveness failure.
    assert.equal((await httpGet(`http://127.0.0.1:${port}/healthz`)).status, 200);
    secrets.push(...fake.secrets());
  } finally {
    helper.kill();
    await helper.status;
    await fake.close();
  }
});

Deno.test("e2e health: a taken LISTEN_PORT exits 2 with one line and writes nothing", async () => {
  const home = await tempHome();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  const fake = startFakeEndpoint();
  try {
    const result = await runHelper({
      HOME: home,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
      LISTEN_PORT: String(port),
      LISTEN_ADDRESS: "127.0.0.1",
    });
    assert.equal(result.code, 2);
    assert.equal(result.stderr.length, 1, result.stderr.join("\n"));
    assert.match(
      result.stderr[0]!,
      new RegExp(
        `^credential-helper: cannot listen on 127\\.0\\.0\\.1:${port} \\(LISTEN_ADDRESS/LISTEN_PORT\\): .*[Aa]ddress already in use`,
      ),
    );
    assert.equal(fake.issued.length, 0, "no fetch before the listener is up");
  } finally {
    blocker.close();
    await fake.close();
  }
});

Deno.test("e2e health: healthcheck exits 0 against a ready helper, 1 against nothing or not ready", async () => {
  const home = await tempHome();
  const port = String(freePort());
  const nothing = await runHelper({ HOME: home, LISTEN_PORT: port }, { args: ["healthcheck"] });
  assert.equal(nothing.code, 1);
  assert.equal(nothing.stderr.length, 1);
  assert.match(
    nothing.stderr[0]!,
    new RegExp(
      `^credential-helper healthcheck: cannot reach http://127\\.0\\.0\\.1:${port}/readyz: `,
    ),
  );

  const endpointPort = freePort();
  const helper = spawnHelper({
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${endpointPort}/creds`,
    LISTEN_PORT: port,
    AWS_REFRESH_INTERVAL: "1",
  });
  let fake;
  try {
    await helper.waitForLine(/ERROR refresh failed/);
    const notReady = await runHelper({ HOME: home, LISTEN_PORT: port }, { args: ["healthcheck"] });
    assert.equal(notReady.code, 1);
    assert.equal(
      notReady.stderr[0],
      `credential-helper healthcheck: http://127.0.0.1:${port}/readyz answered 503: no credentials written yet; last error: request failed: Connection refused (os error 111)`,
    );
    // --wait keeps probing until the first write, as systemd's ExecStartPost needs.
    const waiting = runHelper({ HOME: home, LISTEN_PORT: port }, {
      args: ["healthcheck", "--wait", "20"],
    });
    await new Promise((r) => setTimeout(r, 300));
    fake = startFakeEndpoint({ port: endpointPort });
    const waited = await waiting;
    assert.equal(waited.code, 0, waited.stderr.join("\n"));
    const ready = await runHelper({ HOME: home, LISTEN_PORT: port }, { args: ["healthcheck"] });
    assert.deepEqual([ready.code, ready.stderr], [0, []]);
    secrets.push(...fake.secrets());
  } finally {
    helper.kill();
    await helper.status;
    await fake?.close();
  }
});

Deno.test("e2e health: no secret reached any listener response or log line", () => {
  assertNoSecretsIn(secrets, 10);
});
