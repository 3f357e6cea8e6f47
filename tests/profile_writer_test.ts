/**
 * The profile writer: both files for one profile, config first, with the
 * file semantics of the contract.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { denoFileSystem, type FileSystem } from "../lib/atomic_file.ts";
import type { Credentials } from "../lib/credentials.ts";
import { FileQueue } from "../lib/file_queue.ts";
import {
  checkProfile,
  profileProblem,
  type ProfileWriterOptions,
  renderConfigFile,
  renderCredentialsFile,
  writeProfile,
} from "../lib/profile_writer.ts";

const CREDENTIALS: Credentials = {
  accessKeyId: "ASIAEXAMPLE",
  secretAccessKey: "secret-value",
  sessionToken: "token-value",
  expiration: new Date("2026-11-27T12:00:00Z"),
};

async function setup(): Promise<{ dir: string; options: ProfileWriterOptions }> {
  const dir = await Deno.makeTempDir({ prefix: "profile-writer-test-" });
  return {
    dir,
    options: {
      profile: "dev",
      credentialsFile: join(dir, "credentials"),
      configFile: join(dir, "config"),
      region: "eu-west-1",
      output: undefined,
      fileMode: 0o600,
      writeMode: "atomic",
    },
  };
}

Deno.test("writeProfile() writes the config file first, so a failure there leaves credentials alone", async () => {
  const { dir, options } = await setup();
  const order: string[] = [];
  const fs: FileSystem = {
    ...denoFileSystem,
    rename: async (from, to) => {
      order.push(to.slice(dir.length + 1));
      if (to.endsWith("config") && order.length === 1) throw new Error("injected rename failure");
      await denoFileSystem.rename(from, to);
    },
  };
  await assert.rejects(
    writeProfile(CREDENTIALS, { ...options, fs }),
    /cannot write ".*config": injected rename failure/,
  );
  assert.deepEqual(order, ["config"]);
  await assert.rejects(Deno.stat(options.credentialsFile), Deno.errors.NotFound);
  const outcome = await writeProfile(CREDENTIALS, { ...options, fs }, { queue: new FileQueue() });
  assert.deepEqual(outcome, { config: "written", credentials: "written" });
  assert.deepEqual(order, ["config", "config", "credentials"]);
  assert.equal(
    await Deno.readTextFile(options.credentialsFile),
    "[dev]\naws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = secret-value\n" +
      "aws_session_token = token-value\n",
  );
  assert.equal(await Deno.readTextFile(options.configFile), "[profile dev]\nregion = eu-west-1\n");
  assert.deepEqual(await writeProfile(CREDENTIALS, options), {
    config: "unchanged",
    credentials: "unchanged",
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeProfile() refuses a file that is not UTF-8 and leaves its bytes alone", async () => {
  const { dir, options } = await setup();
  const latin1 = new Uint8Array([0x5b, 0x78, 0x5d, 0x0a, 0x6b, 0x3d, 0xe9, 0x0a]); // "[x]\nk=é" in Latin-1
  await Deno.writeFile(options.credentialsFile, latin1);
  await assert.rejects(
    writeProfile(CREDENTIALS, options),
    new RegExp(
      `cannot write "${options.credentialsFile}": it is not UTF-8 text; refusing to edit it`,
    ),
  );
  assert.deepEqual(await Deno.readFile(options.credentialsFile), latin1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("renderCredentialsFile() keeps a byte-order mark and still finds the section after it", () => {
  const text = "\ufeff[dev]\naws_access_key_id = OLD\n";
  assert.equal(
    renderCredentialsFile(text, "dev", CREDENTIALS),
    "\ufeff[dev]\naws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = secret-value\n" +
      "aws_session_token = token-value\n",
  );
});

Deno.test("renderCredentialsFile() adds aws_account_id when sent and removes it when not", () => {
  const withAccount = renderCredentialsFile("", "dev", {
    ...CREDENTIALS,
    accountId: "123456789012",
  });
  assert.equal(
    withAccount,
    "[dev]\naws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = secret-value\n" +
      "aws_session_token = token-value\naws_account_id = 123456789012\n",
  );
  assert.equal(
    renderCredentialsFile(withAccount + "[other]\naws_account_id = 999\n", "dev", CREDENTIALS),
    "[dev]\naws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = secret-value\n" +
      "aws_session_token = token-value\n[other]\naws_account_id = 999\n",
  );
});

Deno.test("renderConfigFile() writes region and output in [default] or [profile NAME]", () => {
  assert.equal(
    renderConfigFile("", "default", "us-east-2", "json"),
    "[default]\nregion = us-east-2\noutput = json\n",
  );
  assert.equal(
    renderConfigFile("", "dev", "us-east-2", undefined),
    "[profile dev]\nregion = us-east-2\n",
  );
});

Deno.test("profileProblem() and checkProfile() say what another writer changed", async () => {
  const { dir, options } = await setup();
  assert.equal(await checkProfile(CREDENTIALS, options), "credentials file is missing");
  await writeProfile(CREDENTIALS, options);
  assert.equal(await checkProfile(CREDENTIALS, options), undefined);
  const files = {
    credentials: await Deno.readTextFile(options.credentialsFile),
    config: await Deno.readTextFile(options.configFile),
  };
  const cases: Array<[Partial<typeof files>, string]> = [
    [{ credentials: "[other]\nx = 1\n" }, "credentials file has no [dev] section"],
    [
      { credentials: files.credentials.replace("secret-value", "changed") },
      "credentials file's [dev] aws_secret_access_key changed",
    ],
    [
      { credentials: files.credentials + "aws_security_token = stale\n" },
      "credentials file's [dev] aws_security_token changed",
    ],
    [{ config: "" }, "config file has no [profile dev] section"],
    [
      { config: "[profile dev]\nregion = us-east-1\n" },
      "config file's [profile dev] region changed",
    ],
    [
      { credentials: files.credentials + files.credentials },
      "credentials file is unreadable: duplicate section [dev]",
    ],
  ];
  for (const [change, problem] of cases) {
    assert.equal(profileProblem({ ...files, ...change }, options, CREDENTIALS), problem);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("renderConfigFile() keeps a region the user set unless a region was configured", () => {
  const user = "[profile dev]\nregion = ap-south-1\n";
  // The seed's default (no AWS_REGION, AWS_DEFAULT_REGION or config value) never replaces it...
  assert.equal(renderConfigFile(user, "dev", "us-east-2", undefined, true), user);
  // ...but fills it in where there is none...
  assert.equal(
    renderConfigFile("[profile dev]\noutput = json\n", "dev", "us-east-2", undefined, true),
    "[profile dev]\noutput = json\nregion = us-east-2\n",
  );
  // ...and an explicit region still replaces it.
  assert.equal(
    renderConfigFile(user, "dev", "eu-west-1", undefined, false),
    "[profile dev]\nregion = eu-west-1\n",
  );
  // A kept region counts as ours for the repair check.
  const credentials = renderCredentialsFile("", "dev", CREDENTIALS);
  const options = { profile: "dev", region: "us-east-2", output: undefined, regionIsDefault: true };
  assert.equal(profileProblem({ credentials, config: user }, options, CREDENTIALS), undefined);
  assert.equal(
    profileProblem({ credentials, config: "[profile dev]\n" }, options, CREDENTIALS),
    "config file's [profile dev] region changed",
  );
});
