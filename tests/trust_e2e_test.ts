/**
 * The real process against conditions our unit tests only model: a FIFO
 * token file, a hung endpoint and another writer's lock at SIGTERM; another
 * writer removing our section; files planted by another uid or hard-linked.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireLock, denoFileSystem } from "../lib/atomic_file.ts";
import { startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  credentialsBlock,
  helperEnv,
  httpGet,
  prepareNonRootRuntime,
  readIfExists,
  runHelper,
  spawnHelper,
  tempHome,
  waitFor,
} from "./helpers.ts";
import { parsePrometheus } from "./support/prometheus.ts";

async function mkfifo(path: string): Promise<void> {
  const result = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(result.code, 0, "mkfifo");
}

/** Milliseconds from SIGTERM to exit, and the exit code. */
async function timeSigterm(helper: ReturnType<typeof spawnHelper>) {
  const start = performance.now();
  helper.kill("SIGTERM");
  const { code } = await helper.status;
  return { ms: performance.now() - start, code };
}

Deno.test("e2e trust: SIGTERM exits within 2 s whatever blocks (FIFO token, hung endpoint, held lock)", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  try {
    const fifo = join(home, "token");
    await mkfifo(fifo);
    for (const command of ["run", "once"]) {
      const helper = spawnHelper(
        helperEnv(home, fake.url, { AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: fifo }),
        { args: [command] },
      );
      // The FIFO is refused, never opened: the failure names it.
      await helper.waitForLine(/ERROR refresh failed .*it is a FIFO, not a file/);
      const { ms, code } = await timeSigterm(helper);
      assert.ok(ms < 2000, `${command}: exited ${ms} ms after SIGTERM`);
      assert.equal(code, command === "run" ? 0 : 1, command);
    }
    assert.equal(fake.requests.length, 0, "no request without a token");

    fake.fault = "hang";
    for (const command of ["run", "once"]) {
      const helper = spawnHelper(helperEnv(home, fake.url), { args: [command] });
      await waitFor("a hung request", () => fake.requests.length > 0 || undefined);
      const { ms } = await timeSigterm(helper);
      assert.ok(ms < 2000, `${command}: exited ${ms} ms after SIGTERM during a hung request`);
      fake.requests.length = 0;
    }

    fake.fault = "none";
    const credentials = join(home, ".aws", "credentials");
    await Deno.mkdir(join(home, ".aws"), { recursive: true });
    const lock = await acquireLock(credentials, denoFileSystem);
    try {
      for (const command of ["run", "once"]) {
        const helper = spawnHelper(helperEnv(home, fake.url), { args: [command] });
        await waitFor("a request", () => fake.requests.length > 0 || undefined);
        await new Promise((resolve) => setTimeout(resolve, 300)); // now waiting for the lock
        const { ms } = await timeSigterm(helper);
        assert.ok(ms < 2000, `${command}: exited ${ms} ms after SIGTERM while waiting for a lock`);
        assert.equal(await readIfExists(credentials), undefined, "nothing written");
        fake.requests.length = 0;
      }
    } finally {
      lock.close();
    }
  } finally {
    await fake.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e trust: a section removed by another writer is rewritten and counted", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  const env = helperEnv(home, fake.url);
  const helper = spawnHelper(env);
  const credentials = join(home, ".aws", "credentials");
  try {
    await helper.waitForLine(/INFO refreshed /);
    const issued = fake.issued[0]!;
    // Another program rewrites the file with only its own profile.
    await Deno.writeTextFile(credentials, "[other]\naws_access_key_id = OTHER\n");
    const repaired = await waitFor("the repair", async () => {
      const text = await readIfExists(credentials);
      return text?.includes(issued.SecretAccessKey) ? text : undefined;
    }, 6000);
    assert.equal(
      repaired,
      "[other]\naws_access_key_id = OTHER\n\n" + credentialsBlock("default", issued),
    );
    assert.equal(fake.issued.length, 1, "repaired from the credentials held, without a fetch");
    await helper.waitForLine(
      /WARN repaired files changed by another writer reason="credentials file has no \[default\] section"/,
    );
    const metrics = parsePrometheus(
      (await httpGet(`http://127.0.0.1:${env.LISTEN_PORT}/metrics`)).body,
    );
    assert.equal(metrics.get('credential_helper_repairs_total{profile="default"}'), 1);
    assert.equal((await httpGet(`http://127.0.0.1:${env.LISTEN_PORT}/readyz`)).status, 200);
  } finally {
    helper.kill();
    await helper.status;
    await fake.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e trust: files of another uid and hard links are refused, as root and as non-root", async () => {
  const fake = startFakeEndpoint();
  const runtime = await prepareNonRootRuntime();
  const base = await Deno.makeTempDir({ prefix: "credential-helper-hostile-" });
  await Deno.chmod(base, 0o755);
  try {
    // As root (a VM's systemd service): a file planted by uid 65533 in a
    // sticky, world-writable directory is refused in both write modes,
    // even when it already holds exactly what we would write.
    const shared = join(base, "shared");
    await Deno.mkdir(shared);
    await Deno.chmod(shared, 0o1777);
    const planted = join(shared, "credentials");
    await Deno.writeTextFile(planted, "[default]\nplanted = yes\n");
    await Deno.chown(planted, 65533, 65533);
    for (const writeMode of ["atomic", "inplace"]) {
      const result = await runHelper(
        helperEnv(base, fake.url, {
          AWS_SHARED_CREDENTIALS_FILE: planted,
          AWS_CONFIG_FILE: join(base, "config"),
          WRITE_MODE: writeMode,
        }),
        { args: ["once"] },
      );
      assert.equal(result.code, 1, writeMode);
      assert.ok(
        result.stderr.some((l) =>
          l.includes(
            `it is owned by uid 65533, not by this process (uid 0), in a directory that uid does not own alone; refusing to write secrets into it`,
          )
        ),
        result.stderr.join("\n"),
      );
      assert.equal(await Deno.readTextFile(planted), "[default]\nplanted = yes\n");
      assert.equal((await Deno.stat(planted)).uid, 65533);
    }

    // As a non-root uid in a sticky world-writable directory: the same.
    const nonRootEnv = {
      HOME: shared,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
      AWS_SHARED_CREDENTIALS_FILE: planted,
      AWS_CONFIG_FILE: join(shared, "config-65532"),
    };
    const asUser = { uid: 65532, gid: 65532, runtime };
    const refused = await runHelper(nonRootEnv, { args: ["once"], asUser });
    assert.equal(refused.code, 1);
    assert.ok(
      refused.stderr.some((l) =>
        l.includes("it is owned by uid 65533, not by this process (uid 65532)")
      ),
      refused.stderr.join("\n"),
    );
    assert.equal(await Deno.readTextFile(planted), "[default]\nplanted = yes\n");

    // A hard link to a file the helper's uid can write, planted at the target.
    const victim = join(shared, "victim-65532");
    await Deno.writeTextFile(victim, "victim\n");
    await Deno.chown(victim, 65532, 65532);
    const linked = join(shared, "credentials-65532");
    await Deno.link(victim, linked);
    const linkResult = await runHelper(
      { ...nonRootEnv, AWS_SHARED_CREDENTIALS_FILE: linked },
      { args: ["once"], asUser },
    );
    assert.equal(linkResult.code, 1);
    assert.ok(
      linkResult.stderr.some((l) =>
        l.includes("it has 2 hard links; refusing to write through it")
      ),
      linkResult.stderr.join("\n"),
    );
    assert.equal(await Deno.readTextFile(victim), "victim\n");

    // A user's own ~/.aws kept by a root service: trusted, owner kept.
    const userHome = join(base, "user");
    await Deno.mkdir(join(userHome, ".aws"), { recursive: true });
    for (const dir of [userHome, join(userHome, ".aws")]) await Deno.chown(dir, 65532, 65532);
    const own = join(userHome, ".aws", "credentials");
    await Deno.writeTextFile(own, "[mine]\nx = 1\n");
    await Deno.chown(own, 65532, 65532);
    const trusted = await runHelper(helperEnv(userHome, fake.url), { args: ["once"] });
    assert.equal(trusted.code, 0, trusted.stderr.join("\n"));
    const info = await Deno.stat(own);
    assert.deepEqual([info.uid, info.gid, info.mode! & 0o777], [65532, 65532, 0o600]);
    assert.ok((await Deno.readTextFile(own)).startsWith("[mine]\nx = 1\n\n[default]\n"));
  } finally {
    await fake.close();
    await runtime.remove();
    await Deno.remove(base, { recursive: true });
  }
});
