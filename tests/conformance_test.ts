/**
 * Real AWS clients read what the helper writes: the AWS CLI v2 (Debian's
 * awscli), botocore (Debian's python3-botocore) and the AWS SDK for
 * JavaScript v3. These tests fail, never skip, when a client is missing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fromIni } from "@aws-sdk/credential-provider-ini";
import { loadSharedConfigFiles } from "@smithy/core/config";
import { type IssuedCredentials, startFakeEndpoint } from "./support/fake_endpoint.ts";
import { startFakeImds } from "./support/fake_imds.ts";
import {
  assertNoSecretsIn,
  helperEnv,
  runHelper,
  runProgram,
  spawnHelper,
  tempHome,
  waitFor,
} from "./helpers.ts";

/** What a client read for one profile. */
interface Reading {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string | undefined;
  region: string | undefined;
}

interface Files {
  credentials: string;
  config: string;
}

const AWS_CLI = "/usr/bin/aws"; // Debian's v2; a pip-installed v1 may shadow it on PATH
const PYTHON = "/usr/bin/python3"; // Debian's, which has python3-botocore

async function output(command: string, args: string[], env: Record<string, string>) {
  const result = await runProgram(command, args, env);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return result.stdout;
}

function clientEnv(files: Files, home: string): Record<string, string> {
  return {
    HOME: home,
    AWS_SHARED_CREDENTIALS_FILE: files.credentials,
    AWS_CONFIG_FILE: files.config,
  };
}

async function readWithAwsCli(files: Files, home: string, profile: string): Promise<Reading> {
  const env = clientEnv(files, home);
  const exported = JSON.parse(
    await output(AWS_CLI, [
      "configure",
      "export-credentials",
      "--profile",
      profile,
      "--format",
      "process",
    ], env),
  );
  const region = (await output(AWS_CLI, ["configure", "get", "region", "--profile", profile], env))
    .trim();
  return {
    accessKeyId: exported.AccessKeyId,
    secretAccessKey: exported.SecretAccessKey,
    sessionToken: exported.SessionToken,
    region: region === "" ? undefined : region,
  };
}

async function readWithBotocore(files: Files, home: string, profile: string): Promise<Reading> {
  const script = [
    "import json, sys, botocore.session",
    "s = botocore.session.Session(profile=sys.argv[1])",
    "c = s.get_credentials().get_frozen_credentials()",
    "print(json.dumps({'accessKeyId': c.access_key, 'secretAccessKey': c.secret_key,",
    "  'sessionToken': c.token, 'region': s.get_config_variable('region')}))",
  ].join("\n");
  const reading = JSON.parse(await output(PYTHON, ["-c", script, profile], clientEnv(files, home)));
  // Python's None arrives as null; the other clients say undefined.
  return {
    ...reading,
    sessionToken: reading.sessionToken ?? undefined,
    region: reading.region ?? undefined,
  };
}

async function readWithJsSdk(files: Files, _home: string, profile: string): Promise<Reading> {
  const credentials = await fromIni({
    profile,
    filepath: files.credentials,
    configFilepath: files.config,
    ignoreCache: true,
  })();
  const shared = await loadSharedConfigFiles({
    filepath: files.credentials,
    configFilepath: files.config,
    ignoreCache: true,
  });
  return {
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    sessionToken: credentials.sessionToken,
    region: shared.configFile[profile]?.region,
  };
}

const CLIENTS = {
  "aws-cli-v2": readWithAwsCli,
  "botocore": readWithBotocore,
  "aws-sdk-js-v3": readWithJsSdk,
};

async function assertEveryClientReads(
  files: Files,
  home: string,
  profile: string,
  expected: Reading,
): Promise<void> {
  for (const [name, read] of Object.entries(CLIENTS)) {
    const reading = await read(files, home, profile);
    assert.deepEqual(reading, expected, `${name} reading profile ${profile}`);
    console.log(
      `  ${name}: profile ${profile} -> ${reading.accessKeyId}, region ${reading.region}`,
    );
  }
}

function expectedFrom(issued: IssuedCredentials, region: string): Reading {
  return {
    accessKeyId: issued.AccessKeyId,
    secretAccessKey: issued.SecretAccessKey,
    sessionToken: issued.Token,
    region,
  };
}

const secrets: string[] = [];

async function writeOnce(home: string, extra: Record<string, string>) {
  const fake = startFakeEndpoint();
  const result = await runHelper({
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
    ...extra,
  }, { args: ["once"] });
  await fake.close();
  secrets.push(...fake.secrets());
  assert.equal(result.code, 0, result.stderr.join("\n"));
  return fake.last();
}

Deno.test("conformance: every client reads the default profile", async () => {
  const home = await tempHome();
  const issued = await writeOnce(home, {});
  const files = { credentials: join(home, ".aws/credentials"), config: join(home, ".aws/config") };
  await assertEveryClientReads(files, home, "default", expectedFrom(issued, "us-east-2"));
});

Deno.test("conformance: every client reads what was written from an IMDSv2 source", async () => {
  const home = await tempHome();
  const imds = startFakeImds();
  try {
    const result = await runHelper({
      HOME: home,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
      AWS_PROFILE: "from-imds",
    }, { args: ["once"] });
    secrets.push(...imds.secrets());
    assert.equal(result.code, 0, result.stderr.join("\n"));
    const issued = imds.issued.at(-1)!;
    const files = {
      credentials: join(home, ".aws/credentials"),
      config: join(home, ".aws/config"),
    };
    await assertEveryClientReads(files, home, "from-imds", {
      accessKeyId: issued.AccessKeyId,
      secretAccessKey: issued.SecretAccessKey,
      sessionToken: issued.Token,
      region: "us-east-2",
    });
  } finally {
    await imds.close();
  }
});

Deno.test("conformance: every client reads a named profile", async () => {
  const home = await tempHome();
  const issued = await writeOnce(home, { AWS_PROFILE: "app-role", AWS_REGION: "eu-west-1" });
  const files = { credentials: join(home, ".aws/credentials"), config: join(home, ".aws/config") };
  await assertEveryClientReads(files, home, "app-role", expectedFrom(issued, "eu-west-1"));
});

Deno.test("conformance: a busy pre-existing file stays readable, other profiles unchanged", async () => {
  const home = await tempHome();
  await Deno.mkdir(join(home, ".aws"));
  const files = { credentials: join(home, ".aws/credentials"), config: join(home, ".aws/config") };
  await Deno.writeTextFile(
    files.credentials,
    [
      "# Credentials kept by hand; CRLF on purpose",
      "; a semicolon comment",
      "[prod]",
      "aws_access_key_id = AKIAPRODEXAMPLE",
      "aws_secret_access_key = prodSecretValue",
      "",
      "[app]",
      "aws_access_key_id = OLDKEY",
      "aws_secret_access_key = OLDSECRET",
      "aws_session_token = OLDTOKEN",
      "aws_security_token = STALESECURITYTOKEN",
      "",
      "[staging]",
      "aws_access_key_id = AKIASTAGINGEXAMPLE",
      "aws_secret_access_key = stagingSecretValue",
      "aws_session_token = stagingToken",
      "",
    ].join("\r\n"),
  );
  await Deno.writeTextFile(
    files.config,
    [
      "[default]",
      "region = ap-southeast-2",
      "",
      "[profile prod]",
      "region = us-west-2",
      "s3 =",
      "  max_concurrent_requests = 10",
      "  multipart_threshold = 64MB",
      "",
      "[profile app]",
      "output = json",
      "",
      "[profile staging]",
      "region = eu-north-1",
      "",
    ].join("\r\n"),
  );
  const issued = await writeOnce(home, { AWS_PROFILE: "app", AWS_REGION: "ca-central-1" });
  await assertEveryClientReads(files, home, "app", expectedFrom(issued, "ca-central-1"));
  await assertEveryClientReads(files, home, "prod", {
    accessKeyId: "AKIAPRODEXAMPLE",
    secretAccessKey: "prodSecretValue",
    sessionToken: undefined,
    region: "us-west-2",
  });
  await assertEveryClientReads(files, home, "staging", {
    accessKeyId: "AKIASTAGINGEXAMPLE",
    secretAccessKey: "stagingSecretValue",
    sessionToken: "stagingToken",
    region: "eu-north-1",
  });
  const credentials = await Deno.readTextFile(files.credentials);
  assert.ok(!credentials.includes("aws_security_token"), "stale aws_security_token removed");
  assert.ok(!/(^|[^\r])\n/.test(credentials), "every line still ends in CRLF");
  const config = await Deno.readTextFile(files.config);
  assert.ok(
    config.includes("s3 =\r\n  max_concurrent_requests = 10\r\n  multipart_threshold = 64MB\r\n"),
  );
  assert.ok(config.includes("[profile app]\r\noutput = json\r\nregion = ca-central-1\r\n"));
});

Deno.test("conformance: clients read the latest set after several refreshes", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  const helper = spawnHelper(helperEnv(home, fake.url, { AWS_REFRESH_INTERVAL: "1" }));
  try {
    await waitFor("four refreshes", () => helper.count(/INFO refreshed /) >= 4 ? true : undefined);
  } finally {
    helper.kill();
    await helper.status;
    await fake.close();
  }
  secrets.push(...fake.secrets());
  const files = { credentials: join(home, ".aws/credentials"), config: join(home, ".aws/config") };
  await assertEveryClientReads(files, home, "default", expectedFrom(fake.last(), "us-east-2"));
});

Deno.test("conformance: no secret reached a helper log line", () => {
  assertNoSecretsIn(secrets, 5);
});
