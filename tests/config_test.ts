import assert from "node:assert/strict";
import { ConfigError, helpText, parseConfig, SETTINGS, VARIABLES } from "../lib/config.ts";
import type { Source } from "../lib/target.ts";

const authorizationOf = (source: Source) =>
  source.kind === "container" ? source.authorization : undefined;

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const HOME = { HOME: "/home/app" };

function configError(vars: Record<string, string>, args: string[] = []): string {
  try {
    parseConfig(env({ ...HOME, ...vars }), { args });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error.message;
  }
  assert.fail(`expected ${JSON.stringify(vars)} to be rejected`);
}

Deno.test("parseConfig() applies every documented default", () => {
  const config = parseConfig(env(HOME));
  assert.equal(config.command, "run");
  assert.equal(config.targets[0]!.source.endpoint.href, "http://localhost:8080/creds");
  assert.deepEqual(authorizationOf(config.targets[0]!.source), { kind: "none" });
  assert.equal(config.targets[0]!.refreshIntervalSeconds, 900);
  assert.equal(config.targets[0]!.refreshBeforeExpirySeconds, 300);
  assert.equal(config.targets[0]!.region, "us-east-2");
  assert.equal(config.targets[0]!.output, undefined);
  assert.equal(config.targets[0]!.profile, "default");
  assert.equal(config.targets[0]!.credentialsFile, "/home/app/.aws/credentials");
  assert.equal(config.targets[0]!.configFile, "/home/app/.aws/config");
  assert.equal(config.listenPort, 3000);
  assert.equal(config.listenAddress, "0.0.0.0");
  assert.equal(config.targets[0]!.fileMode, 0o600);
  assert.equal(config.targets[0]!.writeMode, "atomic");
  // ALLOW_INSECURE_ENDPOINT defaults to false: plain http elsewhere than loopback is refused.
  assert.throws(
    () => parseConfig(env({ ...HOME, AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://10.0.0.5/" })),
    /plain http is only allowed to loopback/,
  );
  assert.equal(config.logLevel, "info");
  assert.equal(config.logFormat, "text");
  assert.ok(Object.isFrozen(config));
});

Deno.test("parseConfig() reads every variable", () => {
  const config = parseConfig(env({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "https://creds.example.com/v1",
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "tok",
    AWS_REFRESH_INTERVAL: "60",
    REFRESH_BEFORE_EXPIRY: "0",
    AWS_REGION: "eu-west-1",
    AWS_DEFAULT_REGION: "ap-south-1",
    AWS_DEFAULT_OUTPUT: "json",
    AWS_PROFILE: "app.role-1",
    AWS_SHARED_CREDENTIALS_FILE: "/shared/creds",
    AWS_CONFIG_FILE: "/shared/conf",
    LISTEN_PORT: ":9000",
    LISTEN_ADDRESS: "127.0.0.1",
    CREDENTIALS_FILE_MODE: "0640",
    WRITE_MODE: "inplace",
    LOG_LEVEL: "debug",
    LOG_FORMAT: "json",
  }));
  assert.equal(config.targets[0]!.source.endpoint.href, "https://creds.example.com/v1");
  assert.deepEqual(authorizationOf(config.targets[0]!.source), { kind: "value", token: "tok" });
  assert.equal(config.targets[0]!.refreshIntervalSeconds, 60);
  assert.equal(config.targets[0]!.refreshBeforeExpirySeconds, 0);
  assert.equal(config.targets[0]!.region, "eu-west-1");
  assert.equal(config.targets[0]!.output, "json");
  assert.equal(config.targets[0]!.profile, "app.role-1");
  assert.equal(config.targets[0]!.credentialsFile, "/shared/creds");
  assert.equal(config.targets[0]!.configFile, "/shared/conf");
  assert.equal(config.listenPort, 9000);
  assert.equal(config.listenAddress, "127.0.0.1");
  assert.equal(config.targets[0]!.fileMode, 0o640);
  assert.equal(config.targets[0]!.writeMode, "inplace");
  assert.equal(config.logLevel, "debug");
  assert.equal(config.logFormat, "json");
});

Deno.test("parseConfig() lets RELATIVE_URI win over FULL_URI, as the AWS spec says", () => {
  const config = parseConfig(env({
    ...HOME,
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/abc",
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://localhost:8080/creds",
  }));
  assert.equal(config.targets[0]!.source.endpoint.href, "http://169.254.170.2/v2/credentials/abc");
});

Deno.test("parseConfig() lets the token file win over the token", () => {
  const config = parseConfig(env({
    ...HOME,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/var/run/token",
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "inline",
  }));
  assert.deepEqual(authorizationOf(config.targets[0]!.source), {
    kind: "file",
    path: "/var/run/token",
  });
});

Deno.test("parseConfig() uses AWS_DEFAULT_REGION when AWS_REGION is unset", () => {
  assert.equal(
    parseConfig(env({ ...HOME, AWS_DEFAULT_REGION: "us-west-2" })).targets[0]!.region,
    "us-west-2",
  );
});

Deno.test("parseConfig() accepts the AWS SDK plain-http allow-list", () => {
  for (
    const uri of [
      "http://127.0.0.1:8080/creds",
      "http://127.10.0.3/creds",
      "http://localhost/creds",
      "http://[::1]:8080/creds",
      "http://169.254.170.2/v2/credentials",
      "http://169.254.170.23/v1/credentials",
      "http://[fd00:ec2::23]/v1/credentials",
    ]
  ) {
    assert.equal(
      parseConfig(env({ ...HOME, AWS_CONTAINER_CREDENTIALS_FULL_URI: uri })).targets[0]!.source
        .endpoint.href,
      new URL(uri).href,
    );
  }
});

Deno.test("parseConfig() rejects each bad value with one line naming variable, value and rule", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [
      { AWS_REFRESH_INTERVAL: "0" },
      'AWS_REFRESH_INTERVAL must be a whole number of seconds from 1 to 604800, got "0"',
    ],
    [{ AWS_REFRESH_INTERVAL: "-5" }, 'got "-5"'],
    [{ AWS_REFRESH_INTERVAL: "abc" }, 'got "abc"'],
    [{ AWS_REFRESH_INTERVAL: "1.5" }, 'got "1.5"'],
    [{ AWS_REFRESH_INTERVAL: "99999999999999999999" }, 'got "99999999999999999999"'],
    [{ REFRESH_BEFORE_EXPIRY: "-1" }, "REFRESH_BEFORE_EXPIRY must be a whole number"],
    [
      { LISTEN_PORT: "99999" },
      'LISTEN_PORT must be a port from 1 to 65535, as 3000 or :3000, got "99999"',
    ],
    [
      { LISTEN_PORT: "abc" },
      'LISTEN_PORT must be a port from 1 to 65535, as 3000 or :3000, got "abc"',
    ],
    [{ LISTEN_PORT: "0" }, 'got "0"'],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "not a uri" },
      'AWS_CONTAINER_CREDENTIALS_FULL_URI must be an absolute http or https URI, got "not a uri"',
    ],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "ftp://localhost/creds" },
      'AWS_CONTAINER_CREDENTIALS_FULL_URI is not allowed: scheme must be http or https, got "ftp"',
    ],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://10.0.0.5:8080/creds" },
      "AWS_CONTAINER_CREDENTIALS_FULL_URI is not allowed: plain http is only allowed to loopback",
    ],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://user:pw@localhost/creds" },
      "user information in the URI is not allowed",
    ],
    [
      { CREDENTIALS_FILE_MODE: "600x" },
      'CREDENTIALS_FILE_MODE must be an octal mode such as 0600 or 0640, got "600x"',
    ],
    [{ CREDENTIALS_FILE_MODE: "-0600" }, 'got "-0600"'],
    [{ CREDENTIALS_FILE_MODE: "0666" }, 'got "0666"'],
    [{ CREDENTIALS_FILE_MODE: "0400" }, 'got "0400"'],
    [{ CREDENTIALS_FILE_MODE: "0755" }, 'got "0755"'],
    [{ WRITE_MODE: "copy" }, 'WRITE_MODE must be atomic or inplace, got "copy"'],
    [{ AWS_PROFILE: "bad profile" }, "AWS_PROFILE must be 1 to 64 characters"],
    [{ AWS_PROFILE: "pröfile" }, 'got "pröfile"'],
    [{ AWS_PROFILE: "a]b" }, 'got "a]b"'],
    [{ AWS_PROFILE: "x".repeat(65) }, "AWS_PROFILE must be"],
    [{ AWS_REGION: "Mars" }, 'AWS_REGION must be a region name such as us-east-2, got "Mars"'],
    [
      { AWS_DEFAULT_OUTPUT: "xml" },
      'AWS_DEFAULT_OUTPUT must be json, text, table, yaml, yaml-stream, got "xml"',
    ],
    [
      { ALLOW_INSECURE_ENDPOINT: "maybe" },
      'ALLOW_INSECURE_ENDPOINT must be true or false, got "maybe"',
    ],
    [{ LOG_LEVEL: "trace" }, 'LOG_LEVEL must be debug or info or warn or error, got "trace"'],
    [{ LOG_FORMAT: "xml" }, 'LOG_FORMAT must be text or json, got "xml"'],
    [{ LISTEN_ADDRESS: "example.com" }, "LISTEN_ADDRESS must be an IPv4 or IPv6 address"],
    [
      { AWS_SHARED_CREDENTIALS_FILE: "/x/same", AWS_CONFIG_FILE: "/x/same" },
      "AWS_CONFIG_FILE must be a path other than AWS_SHARED_CREDENTIALS_FILE",
    ],
  ];
  for (const [vars, expected] of cases) {
    const message = configError(vars);
    assert.ok(message.includes(expected), `${JSON.stringify(vars)}: ${message}`);
    assert.ok(!message.includes("\n"), message);
  }
});

Deno.test("parseConfig() permits an insecure host only with ALLOW_INSECURE_ENDPOINT=true", () => {
  const config = parseConfig(env({
    ...HOME,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://10.0.0.5:8080/creds",
    ALLOW_INSECURE_ENDPOINT: "true",
  }));
  assert.equal(config.targets[0]!.source.endpoint.hostname, "10.0.0.5");
});

Deno.test("parseConfig() never echoes a malformed authorization token", () => {
  const message = configError({ AWS_CONTAINER_AUTHORIZATION_TOKEN: "secret\r\nX-Evil: 1" });
  assert.equal(
    message,
    "AWS_CONTAINER_AUTHORIZATION_TOKEN must not contain line breaks or control characters",
  );
});

Deno.test("parseConfig() requires HOME only when a file path is left to default", () => {
  assert.throws(() => parseConfig(env({})), /HOME is not set/);
  const config = parseConfig(env({ AWS_SHARED_CREDENTIALS_FILE: "/a", AWS_CONFIG_FILE: "/b" }));
  assert.equal(config.targets[0]!.credentialsFile, "/a");
});

Deno.test("parseConfig() reads the command and its flags", () => {
  assert.equal(parseConfig(env(HOME), { args: ["once"] }).command, "once");
  assert.equal(parseConfig(env(HOME), { args: ["run"] }).command, "run");
  assert.equal(parseConfig(env(HOME), { args: ["--help"] }).command, "help");
  assert.equal(parseConfig(env(HOME), { args: ["--version"] }).command, "version");
  const probe = parseConfig(env(HOME), { args: ["healthcheck", "--wait", "30"] });
  assert.equal(probe.command, "healthcheck");
  assert.equal(probe.healthcheckWaitSeconds, 30);
  assert.match(configError({}, ["frobnicate"]), /unknown command "frobnicate"/);
  assert.match(configError({}, ["--bogus"]), /bad command line/);
  assert.match(configError({}, ["once", "--wait", "3"]), /--wait is only valid/);
});

Deno.test("helpText() lists every variable and flag with its default", () => {
  const lines = helpText().split("\n");
  for (const variable of VARIABLES) {
    const line = lines.find((l) => l.trim().split(/[ ,]+/).includes(variable.name));
    assert.ok(line !== undefined, `${variable.name} missing from --help`);
    assert.ok(line.endsWith(`[${variable.default}]`), line);
  }
  for (const setting of SETTINGS) {
    const line = lines.find((l) => l.trimStart().startsWith(setting.flag + ","));
    assert.ok(line?.includes(setting.variables.join(", ")), `${setting.flag}: ${line}`);
  }
});
Deno.test("parseConfig() refuses profile names the parsers treat specially", () => {
  for (const name of ["DEFAULT", "Default", "dEfAuLt", "__proto__", "constructor", "prototype"]) {
    assert.equal(
      configError({ AWS_PROFILE: name }),
      `AWS_PROFILE must be a name other than DEFAULT (in any case but "default") and the JavaScript object names (__proto__, constructor, prototype, toString, …), got ${
        JSON.stringify(name)
      }`,
    );
  }
  assert.equal(
    parseConfig(env({ ...HOME, AWS_PROFILE: "default" })).targets[0]!.profile,
    "default",
  );
  assert.equal(
    parseConfig(env({ ...HOME, AWS_PROFILE: "defaults" })).targets[0]!.profile,
    "defaults",
  );
});

Deno.test("parseConfig() expands ~ and $HOME in file paths as botocore does, and refuses the rest", () => {
  const config = parseConfig(env({
    ...HOME,
    AWS_SHARED_CREDENTIALS_FILE: "~/.aws/creds",
    AWS_CONFIG_FILE: "${HOME}/cfg/$HOME.d/config",
  }));
  assert.equal(config.targets[0]!.credentialsFile, "/home/app/.aws/creds");
  assert.equal(config.targets[0]!.configFile, "/home/app/cfg//home/app.d/config");
  assert.equal(
    parseConfig(
      env({ HOME: "/root/", AWS_SHARED_CREDENTIALS_FILE: "$HOME/c", AWS_CONFIG_FILE: "~" }),
    )
      .targets[0]!.configFile,
    "/root",
  );
  const cases: Array<[Record<string, string>, string]> = [
    [
      { AWS_SHARED_CREDENTIALS_FILE: "~other/.aws/credentials" },
      'AWS_SHARED_CREDENTIALS_FILE must be an absolute path; only a leading ~ and $HOME are expanded, got "~other/.aws/credentials"',
    ],
    [
      { AWS_CONFIG_FILE: "$XDG_CONFIG_HOME/aws/config" },
      'AWS_CONFIG_FILE must be an absolute path; only a leading ~ and $HOME are expanded, got "$XDG_CONFIG_HOME/aws/config"',
    ],
    [
      { AWS_CONFIG_FILE: ".aws/config" },
      'AWS_CONFIG_FILE must be an absolute path (or one starting with ~ or $HOME), got ".aws/config"',
    ],
  ];
  for (const [vars, message] of cases) assert.equal(configError(vars), message);
  assert.throws(
    () => parseConfig(env({ AWS_SHARED_CREDENTIALS_FILE: "~/c", AWS_CONFIG_FILE: "/c" })),
    /AWS_SHARED_CREDENTIALS_FILE must be a path that does not use ~ or \$HOME, since HOME is not set/,
  );
});

Deno.test("parseConfig() selects IMDS by the SDKs' variables; container variables win", () => {
  const imds = (vars: Record<string, string>) =>
    parseConfig(env({ ...HOME, ...vars })).targets[0]!.source;
  assert.deepEqual(
    imds({ AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:9911" }),
    { kind: "imds", endpoint: new URL("http://127.0.0.1:9911"), instanceProfileName: undefined },
  );
  for (
    const [mode, url] of [["IPv4", "http://169.254.169.254"], ["ipv6", "http://[fd00:ec2::254]"]]
  ) {
    const source = imds({ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: mode! });
    assert.equal(source.endpoint.href, new URL(url!).href, mode);
  }
  const named = imds({
    AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://[fd00:ec2::23]",
    AWS_EC2_INSTANCE_PROFILE_NAME: "my-role",
  });
  assert.deepEqual([named.kind, named.kind === "imds" && named.instanceProfileName], [
    "imds",
    "my-role",
  ]);
  // The container source wins, as in the SDKs' default chain.
  const both = imds({
    AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:9911",
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1:8080/creds",
  });
  assert.deepEqual([both.kind, both.endpoint.href], ["container", "http://127.0.0.1:8080/creds"]);
  assert.equal(imds({}).kind, "container");
});

Deno.test("parseConfig() refuses bad IMDS settings with one line", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [
      { AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: "IPv5" },
      'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, got "IPv5"',
    ],
    [
      { AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://10.0.0.1" },
      'AWS_EC2_METADATA_SERVICE_ENDPOINT is not allowed: plain http is only allowed to loopback, 169.254.169.254, [fd00:ec2::254] and [fd00:ec2::23], got host "10.0.0.1" (set ALLOW_INSECURE_ENDPOINT=true to permit it), got "http://10.0.0.1"',
    ],
    [
      { AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:9911/latest" },
      'AWS_EC2_METADATA_SERVICE_ENDPOINT must be a scheme, host and port only, such as http://127.0.0.1:9911, got "http://127.0.0.1:9911/latest"',
    ],
    [
      {
        AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:9911",
        AWS_EC2_INSTANCE_PROFILE_NAME: "a/b",
      },
      'AWS_EC2_INSTANCE_PROFILE_NAME must be an IAM role name (1 to 128 of A-Z a-z 0-9 + = , . @ _ -), got "a/b"',
    ],
  ];
  for (const [vars, message] of cases) assert.equal(configError(vars), message);
  // Plain http to the EC2 metadata address, and https anywhere, are fine.
  assert.equal(
    parseConfig(env({ ...HOME, AWS_EC2_METADATA_SERVICE_ENDPOINT: "https://imds.example.com" }))
      .targets[0]!.source.kind,
    "imds",
  );
});

Deno.test("parseConfig() marks the region as a default only when nothing set it", () => {
  const target = (vars: Record<string, string>) =>
    parseConfig(env({ ...HOME, ...vars })).targets[0]!;
  assert.deepEqual([target({}).region, target({}).regionIsDefault], ["us-east-2", true]);
  assert.equal(target({ AWS_REGION: "us-east-2" }).regionIsDefault, false);
  assert.equal(target({ AWS_DEFAULT_REGION: "eu-west-1" }).regionIsDefault, false);
  assert.equal(
    parseConfig(env(HOME), { args: ["--region", "eu-west-1"] }).targets[0]!.regionIsDefault,
    false,
  );
});

Deno.test("parseConfig(): a token alone does not select the container source; credential-process ignores the app's variables", () => {
  const source = parseConfig(env({
    ...HOME,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:9911",
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "tok",
  })).targets[0]!.source;
  assert.equal(source.kind, "imds");
  assert.equal(
    parseConfig(env({ ...HOME, AWS_REGION: "eusc-de-east-1" })).targets[0]!.region,
    "eusc-de-east-1",
  );
  // The application's environment: values that are not ours to judge.
  const appEnv = env({
    LOG_LEVEL: "INFO",
    LOG_FORMAT: "console",
    LISTEN_PORT: "8080/tcp",
    AWS_REGION: "aws-global",
    AWS_REFRESH_INTERVAL: "0",
    CREDENTIAL_HELPER_CONFIG: "/etc/app.json",
    CREDENTIAL_PROCESS_PROFILE: "default",
  });
  const config = parseConfig(appEnv, {
    args: [
      "credential-process",
      "--profile",
      "keys",
      "--endpoint",
      "http://127.0.0.1:9/creds",
      "--credentials-file",
      "/x/credentials",
      "--config-file",
      "/x/config",
      "--credential-process-cache",
      "/x/cache.json",
    ],
  });
  assert.equal(config.targets[0]!.profile, "keys");
  assert.equal(config.targets[0]!.source.endpoint.href, "http://127.0.0.1:9/creds");
  assert.equal(config.logLevel, "info");
});
