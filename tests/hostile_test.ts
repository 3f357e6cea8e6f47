/**
 * Hostile input: symlinks planted where the helper writes, and absurd
 * configuration.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TEMP_PREFIX } from "../lib/atomic_file.ts";
import { startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  assertNoSecretsIn,
  helperEnv,
  httpGet,
  listDir,
  runHelper,
  spawnHelper,
  tempHome,
} from "./helpers.ts";

const secrets: string[] = [];

Deno.test("hostile: a symlinked credentials file is refused, and its target left alone", async () => {
  const home = await tempHome();
  const aws = join(home, ".aws");
  await Deno.mkdir(aws);
  const victim = join(home, "victim");
  await Deno.writeTextFile(victim, "do not overwrite\n");
  await Deno.symlink(victim, join(aws, "credentials"));
  const fake = startFakeEndpoint();
  const env = helperEnv(home, fake.url);
  const port = env.LISTEN_PORT;
  const helper = spawnHelper(env);
  try {
    const line = await helper.waitForLine(/ERROR refresh failed/);
    assert.match(
      line,
      /cannot write \\".*\/\.aws\/credentials\\": it is a symlink; refusing to replace it/,
    );
    console.log(`  ${line.replace(/^\S+ /, "")}`);
    assert.equal(await Deno.readTextFile(victim), "do not overwrite\n");
    assert.ok((await Deno.lstat(join(aws, "credentials"))).isSymlink);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/readyz`)).status, 503);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    helper.kill();
    assert.equal((await helper.status).code, 0);
    await fake.close();
    secrets.push(...fake.secrets());
  }
});

Deno.test("hostile: symlinks planted at temp-file names are swept, never followed", async () => {
  const home = await tempHome();
  const aws = join(home, ".aws");
  await Deno.mkdir(aws);
  const victim = join(home, "victim");
  await Deno.writeTextFile(victim, "victim\n");
  for (const suffix of ["0000000000000000", "ffffffffffffffff", "0123456789abcdef"]) {
    await Deno.symlink(victim, join(aws, `${TEMP_PREFIX}credentials.${suffix}`));
    await Deno.symlink(victim, join(aws, `${TEMP_PREFIX}config.${suffix}`));
  }
  const fake = startFakeEndpoint();
  const result = await runHelper({
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
  }, { args: ["once"] });
  await fake.close();
  secrets.push(...fake.secrets());
  assert.equal(result.code, 0, result.stderr.join("\n"));
  assert.equal(result.stderr.filter((l) => l.includes("removed leftover temp file")).length, 6);
  assert.equal(await Deno.readTextFile(victim), "victim\n");
  assert.deepEqual(await listDir(aws), [
    "config",
    "config.lock",
    "credentials",
    "credentials.lock",
  ]);
});

Deno.test("hostile: absurd configuration exits 2 with one clear line", async () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [
      { AWS_REFRESH_INTERVAL: "9".repeat(30) },
      /^credential-helper: AWS_REFRESH_INTERVAL must be a whole number of seconds from 1 to 604800, got "9{30}"$/,
    ],
    [
      { REFRESH_BEFORE_EXPIRY: "1e9" },
      /^credential-helper: REFRESH_BEFORE_EXPIRY must be a whole number of seconds from 0 to 604800, got "1e9"$/,
    ],
    [
      { LISTEN_PORT: "-1" },
      /^credential-helper: LISTEN_PORT must be a port from 1 to 65535, as 3000 or :3000, got "-1"$/,
    ],
    [{ LISTEN_PORT: "3000000000000" }, /got "3000000000000"$/],
    [
      { CREDENTIALS_FILE_MODE: "-0600" },
      /^credential-helper: CREDENTIALS_FILE_MODE must be an octal mode such as 0600 or 0640, got "-0600"$/,
    ],
    [{ CREDENTIALS_FILE_MODE: "07777" }, /got "07777"$/],
    [{ CREDENTIALS_FILE_MODE: "0777" }, /grants no execute and no write to others .*got "0777"$/],
    [
      { AWS_PROFILE: "🔑" },
      /^credential-helper: AWS_PROFILE must be 1 to 64 characters from A-Z a-z 0-9 _ \. @ \+ -, got "🔑"$/,
    ],
    [
      { AWS_PROFILE: "default]\n[evil" },
      /^credential-helper: AWS_PROFILE must be .*got "default\]\\n\[evil"$/,
    ],
    [
      { AWS_REGION: "us-east-2\nevil" },
      /^credential-helper: AWS_REGION must be a region name such as us-east-2, got "us-east-2\\nevil"$/,
    ],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://[::1" },
      /must be an absolute http or https URI/,
    ],
    [
      { AWS_CONTAINER_AUTHORIZATION_TOKEN: "tok\nen-value-secret" },
      /^credential-helper: AWS_CONTAINER_AUTHORIZATION_TOKEN must not contain line breaks or control characters$/,
    ],
  ];
  for (const [vars, expected] of cases) {
    const home = await tempHome();
    const result = await runHelper({ HOME: home, ...vars });
    assert.equal(result.code, 2, JSON.stringify(vars));
    assert.equal(result.stderr.length, 1, result.stderr.join("\n"));
    assert.match(result.stderr[0]!, expected);
    assert.deepEqual(await listDir(home), []);
    console.log(`  ${JSON.stringify(vars)} -> ${result.stderr[0]}`);
  }
  secrets.push("tok\nen-value-secret", "en-value-secret");
});

Deno.test("hostile: no secret reached a log line or response", () => {
  assertNoSecretsIn(secrets, 10);
});
