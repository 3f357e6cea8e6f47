/**
 * End-to-end: the real program (`deno run -P main.ts`) against a local fake
 * endpoint, with HOME in a temp directory.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Fault, freePort, startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  assertNoSecretsIn,
  credentialsBlock,
  helperEnv,
  listDir,
  readIfExists,
  runHelper,
  spawnHelper,
  tempHome,
  waitFor,
} from "./helpers.ts";
import { VERSION } from "../lib/version.ts";

const allSecrets: string[] = [];

Deno.test("e2e: first write gives exact files, region, mode 0600 and a 0700 directory", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  const helper = spawnHelper(helperEnv(home, fake.url));
  try {
    await helper.waitForLine(/INFO refreshed /);
    const issued = fake.last();
    allSecrets.push(...fake.secrets());
    const aws = join(home, ".aws");
    assert.equal(
      await Deno.readTextFile(join(aws, "credentials")),
      credentialsBlock("default", issued),
    );
    assert.equal(await Deno.readTextFile(join(aws, "config")), "[default]\nregion = us-east-2\n");
    assert.equal((await Deno.stat(join(aws, "credentials"))).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(aws, "config"))).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(aws)).mode! & 0o777, 0o700);
    assert.deepEqual(await listDir(aws), [
      "config",
      "config.lock",
      "credentials",
      "credentials.lock",
    ]);
    const refreshed = helper.lines.find((l) => l.includes("refreshed"))!;
    assert.match(
      refreshed,
      new RegExp(`refreshed access_key_id=${issued.AccessKeyId} expiration=${issued.Expiration} `),
    );
  } finally {
    helper.kill();
    assert.equal((await helper.status).code, 0);
    await fake.close();
  }
});

Deno.test("e2e: rotation is picked up on the next refresh; a named profile and output are written", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint({ accountId: "123456789012" });
  const helper = spawnHelper(helperEnv(home, fake.url, {
    AWS_REFRESH_INTERVAL: "1",
    AWS_PROFILE: "app",
    AWS_REGION: "eu-central-1",
    AWS_DEFAULT_OUTPUT: "json",
  }));
  try {
    const credentialsPath = join(home, ".aws", "credentials");
    const text = await waitFor("a second credential set", async () => {
      const text = await readIfExists(credentialsPath);
      return fake.issued.length >= 2 && text?.includes(fake.issued[1]!.AccessKeyId)
        ? text
        : undefined;
    });
    allSecrets.push(...fake.secrets());
    const second = fake.issued[1]!;
    assert.equal(text, credentialsBlock("app", second) + "aws_account_id = 123456789012\n");
    assert.equal(
      await Deno.readTextFile(join(home, ".aws", "config")),
      "[profile app]\nregion = eu-central-1\noutput = json\n",
    );
  } finally {
    helper.kill();
    await helper.status;
    await fake.close();
  }
});

Deno.test("e2e: other profiles, comments and CRLF lines survive byte for byte", async () => {
  const home = await tempHome();
  await Deno.mkdir(join(home, ".aws"), { mode: 0o755 });
  const before = "# managed by hand\r\n[prod]\r\naws_access_key_id = AKIAPROD\r\n" +
    "aws_secret_access_key = prodsecret\r\n\r\n[default]\r\naws_security_token = STALE\r\n" +
    "aws_access_key_id = OLD\r\n";
  const configBefore = "[profile prod]\nregion = us-west-2\ns3 =\n  max_concurrent_requests = 10\n";
  await Deno.writeTextFile(join(home, ".aws", "credentials"), before);
  await Deno.writeTextFile(join(home, ".aws", "config"), configBefore);
  const fake = startFakeEndpoint();
  const result = await runHelper(helperEnv(home, fake.url), { args: ["once"] });
  allSecrets.push(...fake.secrets());
  await fake.close();
  assert.equal(result.code, 0, result.stderr.join("\n"));
  const issued = fake.last();
  assert.equal(
    await Deno.readTextFile(join(home, ".aws", "credentials")),
    "# managed by hand\r\n[prod]\r\naws_access_key_id = AKIAPROD\r\n" +
      "aws_secret_access_key = prodsecret\r\n\r\n[default]\r\n" +
      `aws_access_key_id = ${issued.AccessKeyId}\r\n` +
      `aws_secret_access_key = ${issued.SecretAccessKey}\r\n` +
      `aws_session_token = ${issued.Token}\r\n`,
  );
  assert.equal(
    await Deno.readTextFile(join(home, ".aws", "config")),
    configBefore + "\n[default]\nregion = us-east-2\n",
  );
  assert.equal(
    (await Deno.stat(join(home, ".aws"))).mode! & 0o777,
    0o755,
    "existing dir mode kept",
  );
});

Deno.test("e2e: a failing endpoint leaves the last good files untouched and the helper serving", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  const env = helperEnv(home, fake.url);
  const helper = spawnHelper(env);
  const faults: Fault[] = ["500-json", "not-json", "expired", "null", "empty-strings"];
  try {
    await helper.waitForLine(/INFO refreshed /);
    const credentialsPath = join(home, ".aws", "credentials");
    const good = await Deno.readTextFile(credentialsPath);
    const goodStat = await Deno.stat(credentialsPath);
    const expected: Record<string, RegExp> = {
      "500-json":
        /ERROR refresh failed reason="endpoint answered HTTP 500: InternalError: the role session could not be created"/,
      "not-json": /ERROR refresh failed reason="HTTP 200 body is not JSON \(19 bytes\)"/,
      "expired": /ERROR refresh failed reason="credentials already expired at /,
      "null": /ERROR refresh failed reason="response is null, not a JSON object"/,
      "empty-strings": /ERROR refresh failed reason="response field SecretAccessKey is empty"/,
    };
    for (const fault of faults) {
      fake.fault = fault;
      helper.kill("SIGHUP");
      await helper.waitForLine(expected[fault]!);
      assert.equal(await Deno.readTextFile(credentialsPath), good, fault);
      assert.equal((await Deno.stat(credentialsPath)).ino, goodStat.ino, fault);
      assert.equal((await Deno.stat(credentialsPath)).mtime?.getTime(), goodStat.mtime?.getTime());
      const ready = await fetch(`http://127.0.0.1:${env.LISTEN_PORT}/readyz`);
      assert.equal(
        ready.status,
        200,
        `still ready: the good credentials have not expired (${fault})`,
      );
      await ready.body?.cancel();
    }
    assert.equal(helper.count(/WARN backing off until=/), faults.length);
    allSecrets.push(...fake.secrets());
    fake.fault = "none";
    helper.kill("SIGHUP");
    await waitFor("fresh credentials after healing", async () => {
      const text = await Deno.readTextFile(credentialsPath);
      return text.includes(fake.issued.at(-1)!.AccessKeyId) && text !== good ? true : undefined;
    });
    allSecrets.push(...fake.secrets());
  } finally {
    helper.kill();
    assert.equal((await helper.status).code, 0);
    await fake.close();
  }
});

Deno.test("e2e: endpoint down at start, then up: files appear without a restart", async () => {
  const home = await tempHome();
  const port = freePort();
  const helper = spawnHelper(helperEnv(home, `http://127.0.0.1:${port}/creds`, {
    AWS_REFRESH_INTERVAL: "1",
  }));
  let fake;
  try {
    await helper.waitForLine(/ERROR refresh failed reason="request failed: .*Connection refused/);
    assert.equal(await readIfExists(join(home, ".aws", "credentials")), undefined);
    fake = startFakeEndpoint({ port });
    await helper.waitForLine(/INFO refreshed /, 10_000);
    allSecrets.push(...fake.secrets());
    assert.equal(
      await Deno.readTextFile(join(home, ".aws", "credentials")),
      credentialsBlock("default", fake.issued[0]!),
    );
  } finally {
    helper.kill();
    assert.equal((await helper.status).code, 0);
    await fake?.close();
  }
});

Deno.test("e2e: SIGTERM and SIGINT exit 0 promptly with no temp file left", async () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    const home = await tempHome();
    const fake = startFakeEndpoint();
    const helper = spawnHelper(helperEnv(home, fake.url));
    await helper.waitForLine(/INFO refreshed /);
    allSecrets.push(...fake.secrets());
    fake.fault = "hang"; // an in-flight request must not hold the exit up
    helper.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    helper.kill(signal);
    const status = await helper.status;
    const took = Date.now() - started;
    await fake.close();
    assert.equal(status.code, 0, signal);
    assert.ok(took < 2500, `${signal} took ${took} ms`);
    assert.deepEqual(await listDir(join(home, ".aws")), [
      "config",
      "config.lock",
      "credentials",
      "credentials.lock",
    ]);
    assert.match(helper.lines.at(-1)!, /INFO stopping exit_code=0/);
  }
});

Deno.test("e2e: each bad configuration exits 2 with one line and creates nothing", async () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ AWS_REFRESH_INTERVAL: "0" }, "AWS_REFRESH_INTERVAL must be a whole number of seconds"],
    [{ AWS_REFRESH_INTERVAL: "-5" }, 'got "-5"'],
    [{ AWS_REFRESH_INTERVAL: "abc" }, 'got "abc"'],
    [{ AWS_REFRESH_INTERVAL: "1.5" }, 'got "1.5"'],
    [
      { LISTEN_PORT: "99999" },
      'LISTEN_PORT must be a port from 1 to 65535, as 3000 or :3000, got "99999"',
    ],
    [{ LISTEN_PORT: "abc" }, 'got "abc"'],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "::nonsense" },
      "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an absolute http or https URI",
    ],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "file:///etc/passwd" },
      'scheme must be http or https, got "file"',
    ],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://192.0.2.10/creds" },
      "plain http is only allowed to loopback",
    ],
    [{ CREDENTIALS_FILE_MODE: "888" }, "CREDENTIALS_FILE_MODE must be an octal mode"],
    [{ CREDENTIALS_FILE_MODE: "-1" }, 'got "-1"'],
    [{ WRITE_MODE: "fast" }, 'WRITE_MODE must be atomic or inplace, got "fast"'],
    [{ AWS_PROFILE: "my profile" }, "AWS_PROFILE must be 1 to 64 characters"],
    [{ AWS_PROFILE: "профиль" }, "AWS_PROFILE must be"],
    [{ AWS_REFRESH_INTERVAL: "1".repeat(400) }, "AWS_REFRESH_INTERVAL must be"],
  ];
  for (const [vars, message] of cases) {
    const home = await tempHome();
    const result = await runHelper({ HOME: home, ...vars });
    assert.equal(result.code, 2, JSON.stringify(vars));
    assert.equal(result.stderr.length, 1, result.stderr.join("\n"));
    assert.ok(result.stderr[0]!.startsWith("credential-helper: "), result.stderr[0]);
    assert.ok(result.stderr[0]!.includes(message), `${result.stderr[0]} lacks ${message}`);
    assert.deepEqual(await listDir(home), [], "nothing created");
    for (const command of ["once", "healthcheck"]) {
      assert.equal((await runHelper({ HOME: home, ...vars }, { args: [command] })).code, 2);
    }
  }
});

Deno.test("e2e: once exits 0 when written and 1 after bounded retries when not", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  const ok = await runHelper(helperEnv(home, fake.url), { args: ["once"] });
  allSecrets.push(...fake.secrets());
  assert.equal(ok.code, 0, ok.stderr.join("\n"));
  assert.equal(
    await Deno.readTextFile(join(home, ".aws", "credentials")),
    credentialsBlock("default", fake.last()),
  );
  const good = await Deno.readTextFile(join(home, ".aws", "credentials"));
  fake.fault = "500-json";
  const started = Date.now();
  const failed = await runHelper(helperEnv(home, fake.url), { args: ["once"] });
  assert.equal(failed.code, 1);
  assert.ok(Date.now() - started < 15_000);
  assert.equal(failed.stderr.filter((l) => l.includes("ERROR refresh failed")).length, 3);
  assert.equal(await Deno.readTextFile(join(home, ".aws", "credentials")), good);
  await fake.close();
});

Deno.test("e2e: --help lists every variable and --version prints the version", async () => {
  const help = await runHelper({}, { args: ["--help"] });
  assert.equal(help.code, 0);
  for (
    const name of ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "LISTEN_PORT", "WRITE_MODE", "LOG_FORMAT"]
  ) {
    assert.ok(help.stdout.includes(name), name);
  }
  assert.match(
    help.stdout,
    /--refresh-interval, AWS_REFRESH_INTERVAL +seconds between refreshes, 1 to 604800 \[900\]/,
  );
  const version = await runHelper({}, { args: ["--version"] });
  assert.deepEqual([version.code, version.stdout], [0, `credential-helper ${VERSION}\n`]);
});

Deno.test("e2e: the token file's content is sent as the Authorization header and never logged", async () => {
  const home = await tempHome();
  const token = "Bearer e2e-token-" + crypto.randomUUID();
  await Deno.writeTextFile(join(home, "token"), token + "\n");
  const fake = startFakeEndpoint({ requiredToken: token });
  const result = await runHelper(
    helperEnv(home, fake.url, {
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(home, "token"),
      LOG_LEVEL: "debug",
    }),
    { args: ["once"] },
  );
  allSecrets.push(...fake.secrets());
  await fake.close();
  assert.equal(result.code, 0, result.stderr.join("\n"));
  assert.equal(fake.requests[0]?.get("authorization"), token);
});

Deno.test("e2e: LOG_FORMAT=json writes one JSON object per line", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  const result = await runHelper(helperEnv(home, fake.url, { LOG_FORMAT: "json" }), {
    args: ["once"],
  });
  allSecrets.push(...fake.secrets());
  await fake.close();
  const records = result.stderr.map((line) => JSON.parse(line));
  assert.deepEqual(records.map((r) => r.msg), ["started", "refreshed", "stopping"]);
  assert.equal(records[1].access_key_id, fake.last().AccessKeyId);
  assert.equal(records[1].level, "info");
});

Deno.test("e2e: an https endpoint is verified against the CA in DENO_CERT, and refused without it", async () => {
  const dir = await tempHome();
  const openssl = async (...args: string[]) => {
    const result = await new Deno.Command("openssl", { args, cwd: dir, stderr: "piped" }).output();
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  };
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=credential-helper test CA",
  );
  await openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  await Deno.writeTextFile(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost\n");
  await openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  );
  const fake = startFakeEndpoint({
    tls: {
      cert: await Deno.readTextFile(join(dir, "server.pem")),
      key: await Deno.readTextFile(join(dir, "server.key")),
    },
  });
  try {
    const trusted = await runHelper(
      helperEnv(join(dir, "home"), fake.url, { DENO_CERT: join(dir, "ca.pem") }),
      { args: ["once"] },
    );
    assert.equal(trusted.code, 0, trusted.stderr.join("\n"));
    assert.equal(
      await Deno.readTextFile(join(dir, "home", ".aws", "credentials")),
      credentialsBlock("default", fake.last()),
    );
    const untrusted = await runHelper(helperEnv(join(dir, "other"), fake.url), { args: ["once"] });
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.stderr.find((l) => l.includes("refresh failed"))!,
      /certificate|UnknownIssuer/i,
    );
    assert.equal(await readIfExists(join(dir, "other", ".aws", "credentials")), undefined);
    allSecrets.push(...fake.secrets());
  } finally {
    await fake.close();
  }
});

Deno.test("e2e: no secret issued in this file ever reached a log line or HTTP body", () => {
  assert.ok(allSecrets.length >= 10, `collected ${allSecrets.length} secrets`);
  assertNoSecretsIn(allSecrets, 20);
});

Deno.test("e2e: fatal errors are one JSON object under LOG_FORMAT=json; --once suggests once", async () => {
  const bad = await runHelper({
    HOME: "/nonexistent",
    LOG_FORMAT: "json",
    AWS_REFRESH_INTERVAL: "0",
  });
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.length, 1);
  const record = JSON.parse(bad.stderr[0]!);
  assert.deepEqual([record.level, record.msg], [
    "error",
    'AWS_REFRESH_INTERVAL must be a whole number of seconds from 1 to 604800, got "0"',
  ]);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const home = await tempHome();
    const taken = await runHelper({
      HOME: home,
      LOG_FORMAT: "json",
      LISTEN_ADDRESS: "127.0.0.1",
      LISTEN_PORT: String(listener.addr.port),
    });
    assert.equal(taken.code, 2);
    assert.equal(taken.stderr.length, 1, taken.stderr.join("\n"));
    assert.match(
      JSON.parse(taken.stderr[0]!).msg,
      new RegExp(
        `^cannot listen on 127\\.0\\.0\\.1:${listener.addr.port} \\(LISTEN_ADDRESS/LISTEN_PORT\\): `,
      ),
    );
    await Deno.remove(home, { recursive: true });
  } finally {
    listener.close();
  }
  const typo = await runHelper({ HOME: "/nonexistent" }, { args: ["--once"] });
  assert.deepEqual([typo.code, typo.stderr], [2, [
    'credential-helper: bad command line: unknown option "--once"; did you mean "once"?',
  ]]);
  for (const [command, flag] of [["help", "--help"], ["version", "--version"]]) {
    const byCommand = await runHelper({}, { args: [command!] });
    const byFlag = await runHelper({}, { args: [flag!] });
    assert.equal(byCommand.code, 0);
    assert.equal(byCommand.stdout, byFlag.stdout, command);
  }
});
