/**
 * The JSON config file (CREDENTIAL_HELPER_CONFIG / --config): several
 * targets, top-level defaults, per-profile overrides, and one exact line for
 * every mistake, naming the key path and never a secret.
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../lib/config.ts";
import type { Source } from "../lib/target.ts";

const authorizationOf = (source: Source) =>
  source.kind === "container" ? source.authorization : undefined;

const HOME = "/home/app";

function parse(json: unknown, vars: Record<string, string> = {}, args: string[] = []) {
  const env = { HOME, CREDENTIAL_HELPER_CONFIG: "/etc/credential-helper.json", ...vars };
  return parseConfig((name) => env[name as keyof typeof env], {
    args,
    readFile: (path) => {
      assert.equal(path, "/etc/credential-helper.json");
      return typeof json === "string" ? json : JSON.stringify(json);
    },
  });
}

function error(json: unknown, vars: Record<string, string> = {}, args: string[] = []): string {
  try {
    parse(json, vars, args);
  } catch (caught) {
    assert.ok(caught instanceof ConfigError, String(caught));
    assert.ok(!caught.message.includes("\n"), caught.message);
    return caught.message;
  }
  assert.fail(`expected ${JSON.stringify(json)} to be refused`);
}

const EXAMPLE = {
  credentials_file: "~/.aws/credentials",
  config_file: "~/.aws/config",
  refresh_interval: 600,
  region: "eu-west-1",
  file_mode: "0640",
  listen_port: 3001,
  log_format: "json",
  profiles: {
    dev: { endpoint: "http://127.0.0.1:8080/dev" },
    prod: {
      endpoint: "https://creds.example.com/prod",
      authorization_token_file: "/var/run/secrets/token",
      region: "us-west-2",
      output: "json",
      refresh_interval: 300,
      write_mode: "inplace",
    },
    ecs: { relative_uri: "/v2/credentials/abc", credentials_file: "/shared/ecs-credentials" },
  },
};

Deno.test("config file: top-level defaults, per-profile overrides, one target per profile", () => {
  const config = parse(EXAMPLE);
  assert.equal(config.configFile, "/etc/credential-helper.json");
  assert.equal(config.listenPort, 3001);
  assert.equal(config.logFormat, "json");
  assert.deepEqual(config.targets.map((t) => t.profile), ["dev", "prod", "ecs"]);
  const [dev, prod, ecs] = config.targets;
  assert.deepEqual(
    {
      endpoint: dev!.source.endpoint.href,
      authorization: authorizationOf(dev!.source),
      region: dev!.region,
      output: dev!.output,
      interval: dev!.refreshIntervalSeconds,
      before: dev!.refreshBeforeExpirySeconds,
      credentials: dev!.credentialsFile,
      config: dev!.configFile,
      mode: dev!.fileMode,
      write: dev!.writeMode,
    },
    {
      endpoint: "http://127.0.0.1:8080/dev",
      authorization: { kind: "none" },
      region: "eu-west-1",
      output: undefined,
      interval: 600,
      before: 300,
      credentials: "/home/app/.aws/credentials",
      config: "/home/app/.aws/config",
      mode: 0o640,
      write: "atomic",
    },
  );
  assert.deepEqual(authorizationOf(prod!.source), { kind: "file", path: "/var/run/secrets/token" });
  assert.deepEqual(
    [prod!.region, prod!.output, prod!.refreshIntervalSeconds, prod!.writeMode],
    ["us-west-2", "json", 300, "inplace"],
  );
  assert.equal(ecs!.source.endpoint.href, "http://169.254.170.2/v2/credentials/abc");
  assert.equal(ecs!.credentialsFile, "/shared/ecs-credentials");
  assert.equal(ecs!.configFile, "/home/app/.aws/config");
  assert.deepEqual(config.ignoredVariables, []);
});

Deno.test("config file: --config names it too, and flags set top-level defaults", () => {
  const config = parseConfig((name) => ({ HOME } as Record<string, string>)[name], {
    args: ["once", "--config", "/x.json", "--region=ap-south-1", "--log-level", "debug"],
    readFile: () => JSON.stringify({ profiles: { a: {}, b: { region: "eu-north-1" } } }),
  });
  assert.equal(config.command, "once");
  assert.equal(config.logLevel, "debug");
  assert.deepEqual(config.targets.map((t) => t.region), ["ap-south-1", "eu-north-1"]);
});

Deno.test("config file: variables it overrides are ignored and listed for a warning", () => {
  const config = parse(EXAMPLE, {
    AWS_PROFILE: "other",
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1:9/creds",
    LOG_LEVEL: "debug",
  });
  assert.deepEqual(config.targets.map((t) => t.profile), ["dev", "prod", "ecs"]);
  assert.equal(config.logLevel, "info");
  assert.deepEqual(
    [...config.ignoredVariables].sort(),
    ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_PROFILE", "LOG_LEVEL"],
  );
});

Deno.test("config file: every mistake is one line naming the key path, the value and the rule", () => {
  const cases: Array<[unknown, string]> = [
    [
      { profiles: { prod: { endpoint: "http://10.0.0.5/creds" } } },
      'profiles.prod.endpoint is not allowed: plain http is only allowed to loopback, 169.254.170.2, 169.254.170.23 and [fd00:ec2::23], got host "10.0.0.5" (set ALLOW_INSECURE_ENDPOINT=true to permit it), got "http://10.0.0.5/creds"',
    ],
    [
      { profiles: { prod: { endpoint: "nope" } } },
      'profiles.prod.endpoint must be an absolute http or https URI, got "nope"',
    ],
    [
      { profiles: { prod: { region: "Mars" } } },
      'profiles.prod.region must be a region name such as us-east-2, got "Mars"',
    ],
    [
      { refresh_interval: 0, profiles: { a: {} } },
      'refresh_interval must be a whole number of seconds from 1 to 604800, got "0"',
    ],
    [
      { refresh_interval: "60", profiles: { a: {} } },
      'refresh_interval must be a whole number, got a string "60"',
    ],
    [
      { profiles: { a: { refresh_interval: 1.5 } } },
      "profiles.a.refresh_interval must be a whole number, got a number 1.5",
    ],
    [
      { profiles: { a: { endpoint: 8080 } } },
      "profiles.a.endpoint must be a string, got a number 8080",
    ],
    [
      { profiles: { a: { endpont: "http://127.0.0.1/" } } },
      "profiles.a.endpont is not a known key here; allowed: allow_insecure_endpoint, authorization_token, authorization_token_file, config_file, credential_process_cache, credential_process_profile, credentials_file, endpoint, file_mode, imds_endpoint, imds_endpoint_mode, instance_profile_name, notify_command, notify_pid_file, notify_signal, output, refresh_before_expiry, refresh_interval, region, relative_uri, source, write_mode",
    ],
    [
      { endpoint: "http://127.0.0.1/", profiles: { a: {} } },
      "endpoint is not a known key here; allowed: allow_insecure_endpoint, config_file, credentials_file, file_mode, listen_address, listen_port, log_format, log_level, notify_command, notify_pid_file, notify_signal, output, profiles, refresh_before_expiry, refresh_interval, region, write_mode",
    ],
    [
      { profiles: { a: { listen_port: 3000 } } },
      "profiles.a.listen_port is not a known key here; allowed: allow_insecure_endpoint, authorization_token, authorization_token_file, config_file, credential_process_cache, credential_process_profile, credentials_file, endpoint, file_mode, imds_endpoint, imds_endpoint_mode, instance_profile_name, notify_command, notify_pid_file, notify_signal, output, refresh_before_expiry, refresh_interval, region, relative_uri, source, write_mode",
    ],
    [
      { profiles: { DEFAULT: {} } },
      'profiles must be a name other than DEFAULT (in any case but "default") and the JavaScript object names (__proto__, constructor, prototype, toString, …), got "DEFAULT"',
    ],
    [
      { profiles: { "bad name": {} } },
      'profiles must be 1 to 64 characters from A-Z a-z 0-9 _ . @ + -, got "bad name"',
    ],
    [
      { profiles: {} },
      'profiles must be an object with at least one profile, in "/etc/credential-helper.json"',
    ],
    [
      { profiles: [] },
      'profiles must be an object with at least one profile, in "/etc/credential-helper.json"',
    ],
    [{ profiles: { a: "x" } }, "profiles.a must be an object, got a string"],
    [[1], 'CREDENTIAL_HELPER_CONFIG "/etc/credential-helper.json" must hold a JSON object'],
    [
      "{ not json",
      'CREDENTIAL_HELPER_CONFIG "/etc/credential-helper.json" is not JSON (line 1 column 3)',
    ],
    [
      { profiles: { a: { file_mode: "0666" } } },
      'profiles.a.file_mode must be a mode that lets the owner read and write, and grants no execute and no write to others (0600, 0640, 0644), got "0666"',
    ],
    [
      {
        profiles: {
          a: { credentials_file: "/x/creds", config_file: "/x/config" },
          b: { credentials_file: "/x/config", config_file: "/x/other" },
        },
      },
      'profiles.a.config_file must not be another profile\'s credentials file, got "/x/config"',
    ],
  ];
  for (const [json, message] of cases) assert.equal(error(json), message, JSON.stringify(json));
});

Deno.test("config file: a secret value is never echoed, even when it has the wrong type", () => {
  assert.equal(
    error({ profiles: { a: { authorization_token: 12345678 } } }),
    "profiles.a.authorization_token must be a string, got a number (secret, not shown)",
  );
  assert.equal(
    error({ profiles: { a: { authorization_token: "Bearer abc\r\nX-Evil: 1" } } }),
    "profiles.a.authorization_token must not contain line breaks or control characters",
  );
});

Deno.test("config file: a source or profile flag cannot be mixed with it", () => {
  for (const flag of ["--profile=x", "--endpoint=http://127.0.0.1/", "--authorization-token=t"]) {
    assert.match(
      error(EXAMPLE, {}, [flag]),
      new RegExp(
        `^${flag.split("=")[0]} cannot be combined with a config file; set it per profile`,
      ),
    );
  }
});

Deno.test("config file: one that cannot be read is one line", () => {
  const message = (() => {
    try {
      parseConfig((name) => ({ HOME, CREDENTIAL_HELPER_CONFIG: "/missing.json" })[name as "HOME"], {
        readFile: () => {
          throw new Deno.errors.NotFound("No such file or directory (os error 2)");
        },
      });
    } catch (caught) {
      return (caught as Error).message;
    }
    return "accepted";
  })();
  assert.equal(
    message,
    'CREDENTIAL_HELPER_CONFIG "/missing.json" cannot be read: No such file or directory (os error 2)',
  );
});

Deno.test("config file: a profile can use IMDS, and the two sources' keys never mix", () => {
  const config = parse({
    profiles: {
      ec2: { source: "imds" },
      signer: {
        source: "imds",
        imds_endpoint: "http://127.0.0.1:9911",
        instance_profile_name: "r",
      },
      implied: { imds_endpoint: "http://127.0.0.1:9912" },
      container: { endpoint: "http://127.0.0.1:8080/creds" },
    },
  });
  assert.deepEqual(
    config.targets.map((t) => [t.profile, t.source.kind, t.source.endpoint.href]),
    [
      ["ec2", "imds", "http://169.254.169.254/"],
      ["signer", "imds", "http://127.0.0.1:9911/"],
      ["implied", "imds", "http://127.0.0.1:9912/"],
      ["container", "container", "http://127.0.0.1:8080/creds"],
    ],
  );
  assert.equal(
    error({ profiles: { x: { source: "imds", endpoint: "http://127.0.0.1/" } } }),
    "profiles.x.endpoint cannot be used with source imds",
  );
  assert.equal(
    error({ profiles: { x: { source: "container", imds_endpoint: "http://127.0.0.1/" } } }),
    "profiles.x.imds_endpoint cannot be used with source container",
  );
  assert.equal(
    error({ profiles: { x: { source: "ec2" } } }),
    'profiles.x.source must be container or imds, got "ec2"',
  );
});

Deno.test("config file: notify and credential_process settings per profile", () => {
  const config = parse({
    notify_signal: "USR1",
    profiles: {
      app: {
        notify_command: ["/usr/local/bin/reload", "--all"],
        notify_pid_file: "/run/app.pid",
        credential_process_profile: "app-process",
      },
      other: { notify_command: "/bin/true" },
    },
  });
  const [app, other] = config.targets;
  assert.deepEqual(app!.notify, {
    pidFile: "/run/app.pid",
    signal: "SIGUSR1",
    command: ["/usr/local/bin/reload", "--all"],
  });
  assert.deepEqual(other!.notify.command, ["/bin/true"]);
  assert.deepEqual(app!.credentialProcess, {
    profile: "app-process",
    cache: "/home/app/.aws/.credential-helper-cache.app.json",
  });
  assert.equal(other!.credentialProcess, undefined);
  assert.equal(
    error({ profiles: { a: { credential_process_profile: "b" }, b: {} } }),
    'profiles.a.credential_process_profile must name a profile no other entry writes, got "b"',
  );
  assert.match(
    error({ credential_process_profile: "x", profiles: { a: {} } }),
    /^credential_process_profile is not a known key here/,
  );
  assert.equal(
    error({ profiles: { a: { notify_command: [1] } } }),
    "profiles.a.notify_command must be an array of strings, got an array [1]",
  );
  assert.equal(
    error({ profiles: { a: { notify_signal: "KILL" } } }),
    'profiles.a.notify_signal must be SIGHUP, SIGUSR1, SIGUSR2, SIGTERM or SIGINT, got "KILL"',
  );
});

Deno.test("config file: caches of their own, a syntax error never quoted, --profile picks for credential-process", () => {
  assert.equal(
    error({
      profiles: {
        a: { credential_process_cache: "/x/cache.json" },
        b: { credential_process_cache: "/x/cache.json" },
      },
    }),
    'profiles.b.credential_process_cache must be a file of its own, got "/x/cache.json"',
  );
  assert.equal(
    error({ profiles: { a: { credential_process_cache: "~/.aws/credentials" } } }),
    'profiles.a.credential_process_cache must be a file other than the credentials and config files, got "~/.aws/credentials"',
  );
  const leaky = '{"profiles": {"a": {"authorization_token": \'SUPERSECRETVALUE\'}}}';
  const message = error(leaky);
  assert.ok(!message.includes("SUPERSECR"), message);
  assert.match(message, /is not JSON( \(line 1 column \d+\))?$/);
  const args = ["credential-process", "--config", "/etc/credential-helper.json", "--profile"];
  const picked = parse(EXAMPLE, {}, [...args, "prod"]);
  assert.deepEqual(picked.targets.map((t) => t.profile), ["prod"]);
  assert.equal(picked.targets[0]!.source.endpoint.href, "https://creds.example.com/prod");
  assert.match(
    error(EXAMPLE, {}, [...args, "nope"]),
    /^--profile must be one of the config file's profiles \(dev, prod, ecs\), got "nope"$/,
  );
});
