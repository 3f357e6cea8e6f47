/**
 * Many targets in one process, end to end: a hanging source never delays
 * another target, `once` says which profiles failed, and ten targets writing
 * the same two files under a SIGHUP storm never lose or regress a profile.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configSection, credentialsSection, readSection } from "../lib/shared_file.ts";
import { type FakeEndpoint, freePort, startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  assertNoSecretsIn,
  httpGet,
  readIfExists,
  runHelper,
  spawnHelper,
  tempHome,
  waitFor,
} from "./helpers.ts";
import { parsePrometheus } from "./support/prometheus.ts";

const secrets: string[] = [];

async function writeConfig(home: string, json: unknown): Promise<string> {
  const path = join(home, "credential-helper.json");
  await Deno.writeTextFile(path, JSON.stringify(json, null, 2));
  return path;
}

function serial(accessKeyId: string | undefined): number {
  return accessKeyId === undefined ? 0 : Number(accessKeyId.slice(-12));
}

Deno.test("e2e targets: a hanging source never delays another target", async () => {
  const home = await tempHome();
  const rotating = startFakeEndpoint();
  const hanging = startFakeEndpoint();
  hanging.fault = "hang";
  const port = freePort();
  const config = await writeConfig(home, {
    listen_address: "127.0.0.1",
    listen_port: port,
    refresh_interval: 1,
    profiles: { fast: { endpoint: rotating.url }, stuck: { endpoint: hanging.url } },
  });
  const helper = spawnHelper({ HOME: home, CREDENTIAL_HELPER_CONFIG: config, LISTEN_PORT: "1" });
  try {
    await helper.waitForLine(/INFO started .*profiles=fast,stuck/);
    await helper.waitForLine(
      /WARN the config file defines every setting; ignoring these variables variables=LISTEN_PORT$/,
    );
    // While "stuck" waits out its 5 s request deadline, "fast" refreshes every second.
    await waitFor("four refreshes of fast", () => rotating.issued.length >= 4 || undefined, 8000);
    assert.equal(hanging.issued.length, 0);
    const credentials = await Deno.readTextFile(join(home, ".aws", "credentials"));
    const fast = readSection(credentials, credentialsSection("fast"));
    assert.equal(serial(fast?.get("aws_access_key_id")) >= 3, true);
    assert.equal(readSection(credentials, credentialsSection("stuck")), undefined);
    const ready = await httpGet(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(
      ready.body,
      /^1 of 2 profiles not ok\nprofile fast: ok: ready\nprofile stuck: not ok: no credentials written yet/,
    );
    const metrics = parsePrometheus((await httpGet(`http://127.0.0.1:${port}/metrics`)).body);
    assert.equal(metrics.get('credential_helper_ready{profile="fast"}'), 1);
    assert.equal(metrics.get('credential_helper_ready{profile="stuck"}'), 0);
    // Every line about a target names it.
    const targetLines = helper.lines.filter((l) => / (refreshed|refresh failed) /.test(l));
    assert.ok(targetLines.length >= 4);
    for (const line of targetLines) assert.match(line, / profile=(fast|stuck) /, line);
    helper.kill("SIGTERM");
    assert.equal((await helper.status).code, 0);
    secrets.push(...rotating.secrets());
  } finally {
    helper.kill("SIGKILL");
    await helper.status;
    await rotating.close();
    await hanging.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e targets: once writes every target and says which failed", async () => {
  const home = await tempHome();
  const good = startFakeEndpoint();
  const bad = startFakeEndpoint();
  bad.fault = "500-json";
  try {
    const config = await writeConfig(home, {
      profiles: { good: { endpoint: good.url }, bad: { endpoint: bad.url } },
    });
    const failed = await runHelper({ HOME: home }, { args: ["once", "--config", config] });
    assert.equal(failed.code, 1);
    assert.ok(
      failed.stderr.some((l) =>
        l.endsWith("ERROR some profiles were not written failed=bad written=1 of=2")
      ),
      failed.stderr.join("\n"),
    );
    const credentials = await Deno.readTextFile(join(home, ".aws", "credentials"));
    assert.equal(
      readSection(credentials, credentialsSection("good"))?.get("aws_access_key_id"),
      good.last().AccessKeyId,
    );
    bad.fault = "none";
    const ok = await runHelper({ HOME: home, CREDENTIAL_HELPER_CONFIG: config }, {
      args: ["once"],
    });
    assert.equal(ok.code, 0, ok.stderr.join("\n"));
    const config2 = await Deno.readTextFile(join(home, ".aws", "config"));
    for (const profile of ["good", "bad"]) {
      assert.equal(readSection(config2, configSection(profile))?.get("region"), "us-east-2");
    }
    secrets.push(...good.secrets(), ...bad.secrets());
  } finally {
    await good.close();
    await bad.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e targets: ten targets on the same two files under a SIGHUP storm lose nothing", async () => {
  const home = await tempHome();
  const names = Array.from({ length: 10 }, (_, i) => `p${i}`);
  const endpoints: FakeEndpoint[] = names.map(() => startFakeEndpoint());
  const port = freePort();
  const config = await writeConfig(home, {
    listen_address: "127.0.0.1",
    listen_port: port,
    profiles: Object.fromEntries(names.map((name, i) => [name, { endpoint: endpoints[i]!.url }])),
  });
  const helper = spawnHelper({ HOME: home, CREDENTIAL_HELPER_CONFIG: config });
  const credentialsPath = join(home, ".aws", "credentials");
  const configPath = join(home, ".aws", "config");
  let samples = 0;
  const problems: string[] = [];
  let sampling = true;
  try {
    await waitFor("every profile written", async () => {
      const text = await readIfExists(credentialsPath);
      return text !== undefined &&
          names.every((n) => readSection(text, credentialsSection(n)) !== undefined) ||
        undefined;
    });
    // A reader samples both files every few ms: no profile may go missing
    // or go back to older keys.
    const highest = new Map<string, number>();
    const reader = (async () => {
      while (sampling) {
        const credentials = await Deno.readTextFile(credentialsPath);
        const configText = await Deno.readTextFile(configPath);
        samples++;
        for (const name of names) {
          const keys = readSection(credentials, credentialsSection(name));
          const now = serial(keys?.get("aws_access_key_id"));
          if (keys === undefined) problems.push(`${name} missing`);
          else if (now < (highest.get(name) ?? 0)) problems.push(`${name} went back to ${now}`);
          highest.set(name, Math.max(now, highest.get(name) ?? 0));
          if (readSection(configText, configSection(name))?.get("region") !== "us-east-2") {
            problems.push(`${name} config section missing`);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    })();
    const stormEnd = Date.now() + 20_000;
    while (Date.now() < stormEnd) {
      helper.kill("SIGHUP");
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    // Settle: every endpoint's last issue reaches the file.
    await waitFor("the last keys", async () => {
      const text = await Deno.readTextFile(credentialsPath);
      return names.every((name, i) =>
        readSection(text, credentialsSection(name))?.get("aws_access_key_id") ===
          endpoints[i]!.last().AccessKeyId
      ) || undefined;
    }, 10_000);
    sampling = false;
    await reader;
    assert.deepEqual(problems.slice(0, 5), []);
    assert.ok(samples > 500, `${samples} samples`);
    const rotations = endpoints.map((e) => e.issued.length);
    assert.ok(rotations.every((n) => n >= 20), `rotations: ${rotations}`);
    const metrics = parsePrometheus((await httpGet(`http://127.0.0.1:${port}/metrics`)).body);
    for (const name of names) {
      assert.equal(
        metrics.get(`credential_helper_refresh_total{profile="${name}",result="failure"}`),
        0,
      );
    }
    helper.kill("SIGTERM");
    assert.equal((await helper.status).code, 0);
    for (const endpoint of endpoints) secrets.push(...endpoint.secrets());
  } finally {
    sampling = false;
    helper.kill("SIGKILL");
    await helper.status;
    for (const endpoint of endpoints) await endpoint.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e targets: no secret reached a log line or response", () => {
  assertNoSecretsIn(secrets, 10);
});
