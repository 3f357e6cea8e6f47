/**
 * Which config keys shadow the keys we write, checked against botocore's
 * actual provider chain (Debian's python3-botocore): for each case, the
 * warning says "shadowed" exactly when botocore does not use the keys from
 * the credentials file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configSection, readSection } from "../lib/shared_file.ts";
import { shadowsOf } from "../lib/shadow.ts";
import { freePort, startFakeEndpoint } from "./support/fake_endpoint.ts";
import { helperEnv, spawnHelper, tempHome } from "./helpers.ts";

const BOTOCORE_METHOD = `
import sys, botocore.session
s = botocore.session.Session(profile=sys.argv[1])
try:
    c = s.get_credentials()
    print(c.method if c is not None else "none")
except Exception as e:
    print("error:" + type(e).__name__)
`;

async function botocoreMethod(home: string, profile: string): Promise<string> {
  const result = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", BOTOCORE_METHOD, profile],
    clearEnv: true,
    env: {
      PATH: "/usr/bin:/bin",
      HOME: home,
      AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
      AWS_CONFIG_FILE: join(home, "config"),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  return new TextDecoder().decode(result.stdout).trim();
}

const CASES: Array<[string, string, string[]]> = [
  ["plain", "region = us-east-2\n", []],
  ["assume role", "role_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n", [
    "role_arn",
  ]],
  [
    "credential source",
    "role_arn = arn:aws:iam::123456789012:role/r\ncredential_source = Environment\n",
    ["role_arn"],
  ],
  ["role without source", "role_arn = arn:aws:iam::123456789012:role/r\n", ["role_arn"]],
  [
    "web identity",
    "role_arn = arn:aws:iam::123456789012:role/r\nweb_identity_token_file = /var/run/token\n",
    ["web_identity_token_file"],
  ],
  [
    "sso",
    "sso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n" +
    "sso_account_id = 123456789012\nsso_role_name = Admin\n",
    ["sso_start_url"],
  ],
  ["credential_process", "credential_process = /bin/false\n", ["credential_process"]],
];

Deno.test("shadowsOf() agrees with botocore's provider chain", async () => {
  const home = await tempHome();
  try {
    for (const [name, keys, expected] of CASES) {
      await Deno.writeTextFile(
        join(home, "credentials"),
        "[base]\naws_access_key_id = B\naws_secret_access_key = B\n" +
          "[p]\naws_access_key_id = ASIAOURS\naws_secret_access_key = ours\naws_session_token = t\n",
      );
      const config = `[profile p]\n${keys}`;
      await Deno.writeTextFile(join(home, "config"), config);
      const shadows = shadowsOf(readSection(config, configSection("p")));
      assert.deepEqual(shadows.map((s) => s.key), expected, name);
      const method = await botocoreMethod(home, "p");
      console.log(
        `  ${name}: botocore uses ${method}; warning keys: ${expected.join(",") || "none"}`,
      );
      // Our keys are used exactly when no key shadows them (credential_process is
      // shadowed by them, not the other way round).
      const oursUsed = method === "shared-credentials-file";
      const warnedShadowed = shadows.some((s) => s.key !== "credential_process");
      assert.equal(oursUsed, !warnedShadowed, `${name}: botocore method ${method}`);
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("e2e: a shadowing key is named in one warning at start, and again only when it changes", async () => {
  const home = await tempHome();
  const fake = startFakeEndpoint();
  await Deno.mkdir(join(home, ".aws"));
  await Deno.writeTextFile(
    join(home, ".aws", "config"),
    "[default]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n",
  );
  const port = freePort();
  const helper = spawnHelper({ ...helperEnv(home, fake.url), LISTEN_PORT: String(port) });
  try {
    await helper.waitForLine(/INFO refreshed /);
    const warning =
      /WARN the profile's role_arn in the config file: with source_profile, the SDKs assume the role instead of using the keys written here config_file=/;
    assert.equal(helper.count(warning), 1);
    helper.kill("SIGHUP");
    await helper.waitForLine(/INFO SIGHUP/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(helper.count(warning), 1, "not repeated while unchanged");
  } finally {
    helper.kill("SIGKILL");
    await helper.status;
    await fake.close();
    await Deno.remove(home, { recursive: true });
  }
});
