/**
 * Disk faults: a read-only directory, a full file system, a directory where
 * the file should be, and a parent that cannot be created. Each keeps the
 * last good file, leaves no temp file, logs one clear line per attempt,
 * keeps the process alive and recovers by itself once the fault is removed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TEMP_PREFIX } from "../lib/atomic_file.ts";
import { parsePrometheus } from "./support/prometheus.ts";
import { startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  assertNoSecretsIn,
  helperEnv,
  type HelperProcess,
  httpGet,
  listDir,
  prepareNonRootRuntime,
  spawnHelper,
  type SpawnOptions,
  tempHome,
  waitFor,
} from "./helpers.ts";

const secrets: string[] = [];

/** Start a helper refreshing every second; returns it with its listener port. */
async function startHelper(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<{ helper: HelperProcess; port: number; close: () => Promise<void> }> {
  const fake = startFakeEndpoint();
  const environment = helperEnv(env.HOME!, fake.url, { AWS_REFRESH_INTERVAL: "1", ...env });
  const port = Number(environment.LISTEN_PORT);
  const helper = spawnHelper(environment, options);
  await helper.waitForLine(/INFO started /);
  return {
    helper,
    port,
    close: async () => {
      helper.kill();
      assert.equal((await helper.status).code, 0);
      await fake.close();
      secrets.push(...fake.secrets());
    },
  };
}

/** Wait for a failure matching `reason`; check the one-line shape and that the process serves. */
async function expectFailure(helper: HelperProcess, port: number, reason: RegExp): Promise<string> {
  const line = await helper.waitForLine(
    new RegExp(`ERROR refresh failed reason=.*${reason.source}`),
  );
  assert.equal((await httpGet(`http://127.0.0.1:${port}/healthz`)).status, 200, "still alive");
  console.log(`  ${line.replace(/^\S+ /, "")}`);
  return line;
}

async function expectRecovery(helper: HelperProcess): Promise<void> {
  const before = helper.count(/INFO refreshed /);
  await waitFor(
    "recovery",
    () => helper.count(/INFO refreshed /) > before ? true : undefined,
    10_000,
  );
}

async function tempFiles(dir: string): Promise<string[]> {
  return (await listDir(dir)).filter((name) => name.startsWith(TEMP_PREFIX));
}

Deno.test("disk faults: a read-only directory (as uid 65532) keeps the last good file", async () => {
  const runtime = await prepareNonRootRuntime();
  const home = join(runtime.base, "home");
  await Deno.mkdir(home);
  await Deno.chown(home, 65532, 65532);
  const aws = join(home, ".aws");
  const { helper, port, close } = await startHelper({ HOME: home }, {
    asUser: { uid: 65532, gid: 65532, runtime },
  });
  try {
    await helper.waitForLine(/INFO refreshed /);
    await Deno.chmod(aws, 0o500);
    const good = await Deno.readTextFile(join(aws, "credentials"));
    await expectFailure(
      helper,
      port,
      /cannot write \\".*credentials\\": cannot create temp file: Permission denied/,
    );
    assert.equal(await Deno.readTextFile(join(aws, "credentials")), good);
    assert.deepEqual(await tempFiles(aws), []);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/readyz`)).status, 200);
    await Deno.chmod(aws, 0o700);
    await expectRecovery(helper);
    assert.notEqual(await Deno.readTextFile(join(aws, "credentials")), good);
  } finally {
    await close();
    await runtime.remove();
  }
});

Deno.test("disk faults: a full file system (tmpfs) keeps the last good file", async () => {
  const dir = await tempHome();
  const mount = join(dir, "tmpfs");
  await Deno.mkdir(mount);
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount],
    stderr: "piped",
  }).output();
  if (!mounted.success) {
    const why = new TextDecoder().decode(mounted.stderr).trim();
    // CI runs as root and must run this; elsewhere, say why it could not.
    assert.ok(Deno.env.get("CI") !== "true", `CI must be able to mount a tmpfs: ${why}`);
    console.log(`  not run: mounting a tmpfs needs root (uid ${Deno.uid()}): ${why}`);
    return;
  }
  const { helper, port, close } = await startHelper({
    HOME: dir,
    AWS_SHARED_CREDENTIALS_FILE: join(mount, "credentials"),
    AWS_CONFIG_FILE: join(mount, "config"),
  });
  const filler = join(mount, "filler");
  try {
    await helper.waitForLine(/INFO refreshed /);
    // Fill every free byte.
    const file = await Deno.open(filler, { create: true, write: true });
    const chunk = new Uint8Array(4096);
    try {
      for (;;) await file.write(chunk);
    } catch (error) {
      assert.match(String(error), /No space left on device/);
    } finally {
      file.close();
    }
    const good = await Deno.readTextFile(join(mount, "credentials"));
    await expectFailure(
      helper,
      port,
      /cannot write \\".*credentials\\": No space left on device \(os error 28\)/,
    );
    assert.equal(await Deno.readTextFile(join(mount, "credentials")), good);
    assert.deepEqual(await tempFiles(mount), []);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/readyz`)).status, 200);
    await Deno.remove(filler);
    await expectRecovery(helper);
    assert.notEqual(await Deno.readTextFile(join(mount, "credentials")), good);
    assert.deepEqual(await tempFiles(mount), []);
  } finally {
    await close();
    await new Deno.Command("umount", { args: [mount] }).output();
  }
});

Deno.test("disk faults: a directory where the file should be is reported and survived", async () => {
  const home = await tempHome();
  const aws = join(home, ".aws");
  await Deno.mkdir(join(aws, "credentials"), { recursive: true });
  const { helper, port, close } = await startHelper({ HOME: home });
  try {
    await expectFailure(helper, port, /cannot write \\".*credentials\\": it is not a regular file/);
    assert.deepEqual(await tempFiles(aws), []);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/readyz`)).status, 503);
    // The config file, written first, is intact and complete.
    assert.equal(await Deno.readTextFile(join(aws, "config")), "[default]\nregion = us-east-2\n");
    await Deno.remove(join(aws, "credentials"));
    await expectRecovery(helper);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/readyz`)).status, 200);
  } finally {
    await close();
  }
});

Deno.test("disk faults: a parent that cannot be created is reported and survived", async () => {
  const home = await tempHome();
  const blocker = join(home, "blocker");
  await Deno.writeTextFile(blocker, "a file where a directory should be");
  const { helper, port, close } = await startHelper({
    HOME: home,
    AWS_SHARED_CREDENTIALS_FILE: join(blocker, "aws", "credentials"),
  });
  try {
    await expectFailure(
      helper,
      port,
      /cannot write \\".*blocker\/aws\/credentials\\": .*Not a directory \(os error 20\)/,
    );
    // Without credentials it retries every 250 ms and logs the first failure,
    // then one line per 10 s: fewer lines than attempts, never more.
    const logged = helper.count(/ERROR refresh failed/);
    const metrics = parsePrometheus((await httpGet(`http://127.0.0.1:${port}/metrics`)).body);
    const attempts = metrics.get(
      'credential_helper_refresh_total{profile="default",result="failure"}',
    )!;
    assert.ok(
      logged >= 1 && logged <= 1 + Math.floor(attempts / 40),
      `${logged} lines, ${attempts} attempts`,
    );
    assert.equal(helper.count(/WARN backing off/), 0, "no backoff while holding no credentials");
    await Deno.remove(blocker);
    await expectRecovery(helper);
    assert.equal((await Deno.stat(join(blocker, "aws"))).mode! & 0o777, 0o700);
  } finally {
    await close();
  }
});

Deno.test("disk faults: no secret reached a log line or response", () => {
  assertNoSecretsIn(secrets, 10);
});
