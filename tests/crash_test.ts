/**
 * Crash consistency: SIGKILL the helper at random moments while it rewrites
 * the files as fast as it can, with a strict reader parsing them in a tight
 * loop in another process. Atomic mode must show zero bad reads; in-place
 * mode's torn reads are counted as evidence for the README's trade-off.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TEMP_PREFIX } from "../lib/atomic_file.ts";
import { freePort, startFakeEndpoint } from "./support/fake_endpoint.ts";
import { assertNoSecretsIn, listDir, ROOT, runHelper, spawnHelper, tempHome } from "./helpers.ts";
import { judgeConfig, judgeCredentials } from "./support/strict_reader.ts";

const KILLS = 100;

interface CrashSummary {
  reads: number;
  ok: number;
  missing: number;
  empty: number;
  torn: number;
  examples: string[];
  tempFilesSeenAfterKills: number;
}

async function crashLoop(writeMode: "atomic" | "inplace"): Promise<CrashSummary> {
  const home = await tempHome();
  const aws = join(home, ".aws");
  const fake = startFakeEndpoint();
  const env = {
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
    AWS_REFRESH_INTERVAL: "1",
    WRITE_MODE: writeMode,
    LISTEN_ADDRESS: "127.0.0.1",
  };
  // Start from complete files, so "missing" can only come from a crash.
  assert.equal((await runHelper(env, { args: ["once"] })).code, 0);

  const stopFile = join(home, "stop");
  const reader = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      join(ROOT, "tests/support/strict_reader.ts"),
      join(aws, "credentials"),
      join(aws, "config"),
      stopFile,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();

  let tempFilesSeenAfterKills = 0;
  try {
    for (let kill = 0; kill < KILLS; kill++) {
      const helper = spawnHelper({ ...env, LISTEN_PORT: String(freePort()) });
      await helper.waitForLine(/INFO started /);
      // Drive refreshes back to back, so the kill lands mid-write often.
      const driver = setInterval(() => helper.kill("SIGHUP"), 3);
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 180));
      clearInterval(driver);
      helper.kill("SIGKILL");
      await helper.status;
      tempFilesSeenAfterKills += (await listDir(aws)).filter((n) =>
        n.startsWith(TEMP_PREFIX)
      ).length;
    }
  } finally {
    await Deno.writeTextFile(stopFile, "");
  }
  const summary = JSON.parse(new TextDecoder().decode((await reader.output()).stdout));

  // The next start sweeps what the kills left and writes a complete set.
  const final = await runHelper(env, { args: ["once"] });
  assert.equal(final.code, 0, final.stderr.join("\n"));
  assert.deepEqual((await listDir(aws)).filter((n) => n.startsWith(TEMP_PREFIX)), [], "swept");
  assert.equal(judgeCredentials(await Deno.readTextFile(join(aws, "credentials"))), "ok");
  assert.equal(judgeConfig(await Deno.readTextFile(join(aws, "config"))), "ok");
  await fake.close();
  assertNoSecretsIn(fake.secrets());
  assert.ok(fake.issued.length > KILLS, `only ${fake.issued.length} refreshes happened`);
  console.log(
    `  ${writeMode}: ${KILLS} SIGKILLs over ${fake.issued.length} refreshes; reader made ` +
      `${summary.reads} reads: ${summary.ok} ok, ${summary.missing} missing, ${summary.empty} empty, ` +
      `${summary.torn} torn; ${tempFilesSeenAfterKills} temp files left by kills, all swept`,
  );
  return { ...summary, tempFilesSeenAfterKills };
}

Deno.test("crash: atomic mode never shows a reader a missing, empty or partial file", async () => {
  const summary = await crashLoop("atomic");
  assert.ok(summary.reads > 1000, `only ${summary.reads} reads`);
  assert.deepEqual(
    { missing: summary.missing, empty: summary.empty, torn: summary.torn },
    { missing: 0, empty: 0, torn: 0 },
    summary.examples.join("; "),
  );
});

Deno.test("crash: inplace mode is counted, not judged (README trade-off evidence)", async () => {
  const summary = await crashLoop("inplace");
  assert.ok(summary.reads > 1000, `only ${summary.reads} reads`);
  // The file is never replaced, so it never goes missing; torn reads are the
  // documented cost, reported above.
  assert.equal(summary.missing, 0);
  assert.equal(summary.tempFilesSeenAfterKills, 0, "inplace uses no temp files");
});

Deno.test("crash: the strict reader rejects truncated, duplicated and mixed sets", () => {
  const whole = "[default]\naws_access_key_id = ASIAFAKE000000000007\n" +
    `aws_secret_access_key = fakeSecret7-${"a".repeat(30)}\n` +
    `aws_session_token = fakeSessionToken7-${"b".repeat(150)}\n`;
  assert.equal(judgeCredentials(whole), "ok");
  assert.equal(judgeCredentials(undefined), "missing");
  assert.equal(judgeCredentials(""), "empty");
  assert.equal(judgeCredentials(whole.slice(0, -1)), "torn", "no final newline");
  assert.equal(judgeCredentials(whole + "\n\n"), "ok", "blank lines are harmless");
  assert.equal(judgeCredentials(whole.slice(0, 120)), "torn", "truncated");
  assert.equal(judgeCredentials(whole + "aws_session_token = x\n"), "torn", "duplicate key");
  assert.equal(judgeCredentials(whole + whole), "torn", "duplicate section");
  assert.equal(judgeCredentials(whole.replace("fakeSessionToken7", "fakeSessionToken8")), "torn");
  assert.equal(judgeConfig("[default]\nregion = us-east-2\n"), "ok");
  assert.equal(judgeConfig("[default]\nregion = us-e"), "torn");
});
