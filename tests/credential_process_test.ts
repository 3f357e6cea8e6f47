/**
 * `credential_process`: the profile the helper writes for it, the command
 * answering from its cache without the network while more than 15 minutes
 * are left, and the real clients (botocore, the AWS CLI, the JS SDK v3)
 * running it with their own environment.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fromIni } from "@aws-sdk/credential-provider-ini";
import { quoteWord } from "../lib/credential_process.ts";
import { configSection, readSection } from "../lib/shared_file.ts";
import { startFakeEndpoint } from "./support/fake_endpoint.ts";
import { assertNoSecretsIn, runHelper, runProgram, tempHome, transcript } from "./helpers.ts";

const secrets: string[] = [];

const output = runProgram;

/** `once`: keys into [keys], and a [profile proc] that runs credential-process. */
function writeKeysAndProcessProfile(home: string, endpoint: string) {
  return runHelper({
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint,
    AWS_PROFILE: "keys",
    CREDENTIAL_PROCESS_PROFILE: "proc",
  }, { args: ["once"] });
}

Deno.test("quoteWord() quotes words the same way for botocore's shlex and for /bin/sh", async () => {
  const words = [
    "/opt/credential helper/bin",
    "it's",
    "$HOME",
    "a*b",
    "plain-word_1.2:3=4@5%6+7,8",
  ];
  const line = words.map(quoteWord).join(" ");
  assert.equal(quoteWord("plain-word_1.2:3=4@5%6+7,8"), "plain-word_1.2:3=4@5%6+7,8");
  const python = await output("/usr/bin/python3", [
    "-c",
    "import json, shlex, sys; print(json.dumps(shlex.split(sys.argv[1])))",
    line,
  ], {});
  assert.deepEqual(JSON.parse(python.stdout), words);
  const shell = await output("/bin/sh", ["-c", `printf '%s\\n' ${line}`], { HOME: "/nowhere" });
  assert.deepEqual(shell.stdout.split("\n").slice(0, -1), words);
});

Deno.test("credential-process: the written profile runs the command, from the cache while it is fresh", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint({ lifetimeSeconds: 3600 });
  try {
    const once = await writeKeysAndProcessProfile(home, fake.url);
    assert.equal(once.code, 0, once.stderr.join("\n"));
    const config = await Deno.readTextFile(join(home, ".aws", "config"));
    const line = readSection(config, configSection("proc"))?.get("credential_process");
    assert.ok(line !== undefined, config);
    const cache = join(home, ".aws", ".credential-helper-cache.keys.json");
    assert.ok(
      line.includes(`credential-process --profile keys --credential-process-cache ${cache}`),
      line,
    );
    assert.equal((await Deno.stat(cache)).mode! & 0o777, 0o600);
    // No static keys were written into the process profile.
    const credentials = await Deno.readTextFile(join(home, ".aws", "credentials"));
    assert.ok(!credentials.includes("[proc]"), credentials);

    // The application's environment: none of the helper's variables, another HOME and directory.
    const appEnv = { HOME: "/nonexistent", PATH: "/usr/bin:/bin" };
    const requests = fake.requests.length;
    const fresh = await output("/bin/sh", ["-c", `cd / && ${line}`], appEnv);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.stderr, "");
    const printed = JSON.parse(fresh.stdout);
    assert.deepEqual(Object.keys(printed), [
      "Version",
      "AccessKeyId",
      "SecretAccessKey",
      "SessionToken",
      "Expiration",
    ]);
    assert.equal(printed.Version, 1);
    assert.equal(printed.AccessKeyId, fake.last().AccessKeyId);
    assert.equal(printed.SessionToken, fake.last().Token);
    assert.equal(fake.requests.length, requests, "no network while more than 15 minutes are left");

    // Ten minutes left: fetched once from the source, cached, printed.
    const stale = { ...printed, Expiration: new Date(Date.now() + 600_000).toISOString() };
    await Deno.writeTextFile(cache, JSON.stringify(stale));
    const refetched = await output("/bin/sh", ["-c", line], appEnv);
    assert.equal(refetched.code, 0, refetched.stderr);
    assert.equal(fake.requests.length, requests + 1);
    assert.equal(JSON.parse(refetched.stdout).AccessKeyId, fake.last().AccessKeyId);
    assert.equal(JSON.parse(await Deno.readTextFile(cache)).AccessKeyId, fake.last().AccessKeyId);

    // The source failing with a stale cache: exit 1, one line on stderr, nothing on stdout.
    await Deno.writeTextFile(cache, JSON.stringify(stale));
    fake.fault = "500-json";
    const failed = await output("/bin/sh", ["-c", line], appEnv);
    assert.deepEqual([failed.code, failed.stdout], [1, ""]);
    assert.equal(
      failed.stderr,
      "credential-helper credential-process: endpoint answered HTTP 500: InternalError: the role session could not be created\n",
    );
    transcript.push(failed.stderr);
    secrets.push(...fake.secrets());
  } finally {
    await fake.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("credential-process: static keys never go into the process profile, nor a token onto its command line", async () => {
  const home = await tempHome();
  // Static keys someone left in the process profile: named in a warning.
  await Deno.mkdir(join(home, ".aws"));
  await Deno.writeTextFile(join(home, ".aws", "credentials"), "[proc]\naws_access_key_id = OLD\n");
  const fake = startFakeEndpoint();
  const warned = await writeKeysAndProcessProfile(home, fake.url);
  await fake.close();
  secrets.push(...fake.secrets());
  assert.equal(warned.code, 0);
  assert.equal(
    warned.stderr.filter((l) =>
      l.includes(
        "WARN the credentials file has static keys in [proc]: the SDKs use them instead of its credential_process",
      )
    ).length,
    1,
  );
  const same = await runHelper({
    HOME: home,
    AWS_PROFILE: "proc",
    CREDENTIAL_PROCESS_PROFILE: "proc",
  }, { args: ["once"] });
  assert.equal(same.code, 2);
  assert.deepEqual(same.stderr, [
    'credential-helper: CREDENTIAL_PROCESS_PROFILE must differ from the profile the keys are written to ("proc"): static keys would shadow credential_process',
  ]);
  const inline = await runHelper({
    HOME: home,
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "secret-inline-token",
    CREDENTIAL_PROCESS_PROFILE: "proc",
  }, { args: ["once"] });
  assert.equal(inline.code, 2);
  assert.match(inline.stderr[0]!, /needs the authorization token in a file/);
  assert.ok(!inline.stderr.join("\n").includes("secret-inline-token"));
  await Deno.remove(home, { recursive: true });
});

Deno.test("credential-process: botocore refreshes a long-lived session, the AWS CLI and the JS SDK read it", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint({ lifetimeSeconds: 4 });
  try {
    const once = await writeKeysAndProcessProfile(home, fake.url);
    assert.equal(once.code, 0, once.stderr.join("\n"));
    const clientEnv = {
      HOME: join(home, "app-home"),
      AWS_CONFIG_FILE: join(home, ".aws", "config"),
      AWS_SHARED_CREDENTIALS_FILE: join(home, ".aws", "credentials"),
    };
    // One botocore session, kept across the first credentials' expiry.
    const python = await output("/usr/bin/python3", [
      "-c",
      [
        "import json, time, botocore.session",
        "s = botocore.session.Session(profile='proc')",
        "c = s.get_credentials()",
        "first = c.get_frozen_credentials().access_key",
        "time.sleep(5)",
        "second = c.get_frozen_credentials().access_key",
        "print(json.dumps([type(c).__name__, c.method, first, second]))",
      ].join("\n"),
    ], clientEnv);
    assert.equal(python.code, 0, python.stderr);
    const [type, method, first, second] = JSON.parse(python.stdout);
    assert.deepEqual([type, method], ["RefreshableCredentials", "custom-process"]);
    assert.notEqual(first, second, "the session saw rotated keys");
    assert.ok(fake.issued.some((c) => c.AccessKeyId === second));
    console.log(`  botocore: ${type} via ${method}: ${first} then ${second}`);

    const cli = await output(
      "/usr/bin/aws",
      ["configure", "export-credentials", "--profile", "proc"],
      clientEnv,
    );
    assert.equal(cli.code, 0, cli.stderr);
    const exported = JSON.parse(cli.stdout);
    assert.ok(fake.issued.some((c) => c.AccessKeyId === exported.AccessKeyId));
    assert.equal(
      exported.SessionToken,
      fake.issued.find((c) => c.AccessKeyId === exported.AccessKeyId)!.Token,
    );
    console.log(`  aws-cli-v2: export-credentials -> ${exported.AccessKeyId}`);

    const saved = { ...Deno.env.toObject() };
    for (const [name, value] of Object.entries(clientEnv)) Deno.env.set(name, value);
    try {
      const js = await fromIni({ profile: "proc" })();
      assert.ok(fake.issued.some((c) => c.AccessKeyId === js.accessKeyId));
      console.log(`  aws-sdk-js-v3: fromIni -> ${js.accessKeyId}`);
    } finally {
      for (const name of Object.keys(clientEnv)) {
        if (saved[name] === undefined) Deno.env.delete(name);
        else Deno.env.set(name, saved[name]);
      }
    }
    secrets.push(...fake.secrets());
  } finally {
    await fake.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("credential-process: no secret reached a log line or stderr", () => {
  assertNoSecretsIn(secrets, 3);
});

Deno.test("credential-process: a planted cache (symlink, FIFO, another uid's, group-writable) is never served", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint({ lifetimeSeconds: 3600 });
  try {
    const cache = join(home, "cache.json");
    const planted = JSON.stringify({
      Version: 1,
      AccessKeyId: "ASIAPLANTED000000001",
      SecretAccessKey: "planted-secret",
      SessionToken: "planted-token",
      Expiration: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const args = [
      "credential-process",
      "--endpoint",
      fake.url,
      "--credential-process-cache",
      cache,
      "--credentials-file",
      join(home, "credentials"),
      "--config-file",
      join(home, "config"),
    ];
    const plants: Array<[string, () => Promise<void>]> = [
      ["symlink", async () => {
        await Deno.writeTextFile(join(home, "elsewhere.json"), planted);
        await Deno.symlink(join(home, "elsewhere.json"), cache);
      }],
      ["another uid", async () => {
        await Deno.writeTextFile(cache, planted, { mode: 0o600 });
        await Deno.chown(cache, 65533, 65533);
      }],
      ["group-writable", async () => {
        await Deno.writeTextFile(cache, planted);
        await Deno.chmod(cache, 0o660);
      }],
      ["FIFO", async () => {
        const made = await new Deno.Command("mkfifo", { args: [cache] }).output();
        assert.equal(made.code, 0);
      }],
    ];
    for (const [name, plant] of plants) {
      await Deno.remove(cache).catch(() => {});
      await plant();
      const started = performance.now();
      const result = await runHelper({ HOME: home }, { args });
      assert.ok(performance.now() - started < 10_000, name);
      assert.equal(result.code, 0, `${name}: ${result.stderr.join("\n")}`);
      assert.equal(JSON.parse(result.stdout).AccessKeyId, fake.last().AccessKeyId, name);
    }
    secrets.push(...fake.secrets());
  } finally {
    await fake.close();
    await Deno.remove(home, { recursive: true });
  }
});
