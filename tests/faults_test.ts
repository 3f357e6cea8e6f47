/**
 * Endpoint fault matrix: after a good first write, the fake endpoint turns
 * to each fault in turn. Every fault must leave the files byte-identical,
 * the process alive and on schedule, readiness right, one clear log line,
 * memory bounded, and recovery within the backoff bound once it heals.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Fault, FAULTS, startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  assertNoSecretsIn,
  helperEnv,
  httpGet,
  spawnHelper,
  tempHome,
  waitFor,
} from "./helpers.ts";

/** What the log must say for each fault. */
const EXPECTED_REASON: Record<Exclude<Fault, "none">, RegExp> = {
  "hang": /reason="no response headers within 2000 ms"/,
  "trickle": /reason="no complete response within 5000 ms"/,
  "500-json":
    /reason="endpoint answered HTTP 500: InternalError: the role session could not be created"/,
  "403": /reason="endpoint answered HTTP 403: AccessDenied: not authorized to assume the role"/,
  "404": /reason="endpoint answered HTTP 404"/,
  "not-json": /reason="HTTP 200 body is not JSON \(19 bytes\)"/,
  "html": /reason="HTTP 200 body is not JSON \(looks like HTML\) \(45 bytes\)"/,
  "null": /reason="response is null, not a JSON object"/,
  "array": /reason="response is an array, not a JSON object"/,
  "missing-fields": /reason="response has no Token"/,
  "empty-strings": /reason="response field SecretAccessKey is empty"/,
  "expired": /reason="credentials already expired at \d{4}-\d\d-\d\dT[\d:.]+Z"/,
  "bad-date": /reason="response field Expiration is not an RFC 3339 timestamp: \\"next tuesday\\""/,
  "huge": /reason="HTTP response body exceeds the 1048576-byte cap"/,
  "redirect-other-host":
    /reason="HTTP 302 redirect to another origin http:\/\/127\.0\.0\.2:\d+ refused"/,
  "slow-then-reset": /reason="request failed: .*(reset|closed|error reading a body|body)/i,
};

/** The request timeout plus slack for a loaded machine. */
const MAX_FAULT_MS = 5000 + 2500;
/** First retry after a failure is at most 1 s; plus slack. */
const MAX_RECOVERY_MS = 1000 + 3000;

function memoryKiB(pid: number): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

Deno.test("faults: every endpoint fault keeps the last good files and the helper on schedule", async () => {
  const home = await tempHome();
  let fake = startFakeEndpoint();
  const env = helperEnv(home, fake.url);
  const port = env.LISTEN_PORT;
  const helper = spawnHelper(env);
  const credentialsPath = join(home, ".aws", "credentials");
  const configPath = join(home, ".aws", "config");
  const secrets: string[] = [];
  const failures = () => helper.count(/ERROR refresh failed /);
  const successes = () => helper.count(/INFO refreshed /);
  try {
    await helper.waitForLine(/INFO refreshed /);
    for (const fault of [...FAULTS, "connection-refused" as const]) {
      const good = await Deno.readTextFile(credentialsPath);
      const goodConfig = await Deno.readTextFile(configPath);
      const goodInode = (await Deno.stat(credentialsPath)).ino;
      const memoryBefore = memoryKiB(helper.child.pid);
      const failuresBefore = failures();
      const successesBefore = successes();

      if (fault === "connection-refused") await fake.close();
      else fake.fault = fault;
      const started = Date.now();
      helper.kill("SIGHUP");
      await waitFor(
        `a failure for ${fault}`,
        () => failures() > failuresBefore ? true : undefined,
        15_000,
      );
      const tookMs = Date.now() - started;
      const line = helper.lines.filter((l) => l.includes("ERROR refresh failed")).at(-1)!;

      // The files are exactly the last good ones, same inode.
      assert.equal(await Deno.readTextFile(credentialsPath), good, fault);
      assert.equal(await Deno.readTextFile(configPath), goodConfig, fault);
      assert.equal((await Deno.stat(credentialsPath)).ino, goodInode, fault);
      // Alive, ready (the good credentials have an hour left) and not blocked.
      assert.equal((await httpGet(`http://127.0.0.1:${port}/healthz`)).status, 200, fault);
      assert.equal((await httpGet(`http://127.0.0.1:${port}/readyz`)).status, 200, fault);
      assert.ok(tookMs < MAX_FAULT_MS, `${fault} blocked the loop for ${tookMs} ms`);
      // One clear line naming the fault.
      if (fault === "connection-refused") {
        assert.match(line, /reason="request failed: .*Connection refused/);
      } else assert.match(line, EXPECTED_REASON[fault], fault);
      const memoryAfter = memoryKiB(helper.child.pid);
      const grewKiB = memoryAfter.hwm - memoryBefore.hwm;
      assert.ok(grewKiB < 16 * 1024, `${fault}: peak RSS grew ${grewKiB} KiB`);

      // Heal; the helper retries on its own within the first backoff step.
      const healedAt = Date.now();
      if (fault === "connection-refused") fake = startFakeEndpoint({ port: fake.port });
      else fake.fault = "none";
      await waitFor(
        `recovery after ${fault}`,
        () => successes() > successesBefore ? true : undefined,
        15_000,
      );
      const recoveredMs = Date.now() - healedAt;
      assert.ok(recoveredMs < MAX_RECOVERY_MS, `${fault}: recovery took ${recoveredMs} ms`);
      assert.equal(
        await Deno.readTextFile(credentialsPath),
        `[default]\naws_access_key_id = ${fake.last().AccessKeyId}\n` +
          `aws_secret_access_key = ${fake.last().SecretAccessKey}\n` +
          `aws_session_token = ${fake.last().Token}\n`,
      );
      secrets.push(...fake.secrets());
      console.log(
        `  ${fault.padEnd(20)} failed in ${String(tookMs).padStart(4)} ms, peak RSS ${
          grewKiB >= 0 ? "+" : ""
        }${grewKiB} KiB, ` +
          `healed in ${recoveredMs} ms: ${line.replace(/^.*reason=/, "")}`,
      );
    }
  } finally {
    helper.kill();
    assert.equal((await helper.status).code, 0);
    await fake.close();
  }
  assertNoSecretsIn(secrets, 30);
});
