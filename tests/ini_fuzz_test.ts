/**
 * Differential fuzz test of the shared-file editor: `renderCredentialsFile`
 * and `renderConfigFile` (lib/profile_writer.ts) against the two readers
 * that matter, botocore (Debian's python3-botocore, in one long-lived
 * /usr/bin/python3 process running tests/support/botocore_oracle.py) and the AWS SDK
 * for JavaScript v3 (`loadSharedConfigFiles` from @smithy/core/config).
 *
 * A seeded generator writes realistic, messy credentials and config files:
 * every header form botocore and the SDK know, comments, blank lines,
 * LF/CRLF/CR line ends (sometimes mixed), tabs, indented keys and headers,
 * `s3 =` blocks, odd separators and values, alias sections
 * (`[default]`/`[profile default]`, `[profile x]`/`[profile "x"]`), the odd
 * `[DEFAULT]`, no final newline, empty files. The profile we edit appears in
 * many of these shapes, or not at all. Only files botocore accepts before
 * the edit count. For each, the edited file must satisfy:
 *
 * - P1: botocore still accepts it (and the editor does not throw);
 * - P2: every other profile and section reads back the same, in botocore and
 *   in the JS SDK (config: the profile maps each builds; credentials: the
 *   parsed sections);
 * - P3: our profile reads exactly the new values: credentials
 *   `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`,
 *   `aws_account_id` when given (and none when not: profile_writer removes a
 *   stale one); config `region`, `output` when given. In botocore always; in
 *   the JS SDK where it can see our profile at all (below);
 * - P4: no `aws_security_token` in our credentials profile (botocore prefers
 *   it to `aws_session_token`);
 * - P5: every other key of our profile reads the same, so the profile means
 *   what it meant plus our keys. In botocore for both files (a new section
 *   may hold what `[DEFAULT]` gives every section); in the JS SDK where P3
 *   applies.
 *
 * Where the JS SDK cannot see our profile. Its parser splits lines at `\n`
 * only, knows fewer header forms than botocore (no `[profile NAME ]`), reads
 * an indented `[x]` as a header where botocore reads the continuation of a
 * key's value, and nests indented keys under a key with an empty value. Its
 * P3 and P5 apply when the file before the edit has no bare CR and either
 * the SDK already sees a header for our profile backed by one of botocore's
 * sections for it (found by parsing probe copies of the file), or botocore
 * does not see our profile either (so the editor must create it, and both
 * readers must see the new section). P2 is checked in both readers for
 * every file, which also catches line ends and indentation being rewritten.
 * The share of files with the JS SDK's P3 and P5 is asserted to stay high.
 *
 * The SDK's P2 and P5 leave out only what no edit can keep for both readers
 * at once; each rule is at its function: keys on a line the SDK joined to
 * others at a lone CR (`hasCr`), read from a line the edit deleted as part of
 * a key we replace or remove (`deletedLine`), under a block or header that
 * went that way (`surfaced`, `unhidden`, `headerDeleted`), our own section's
 * lines where the SDK files them under another section (`oursElsewhere`,
 * `phantomSection`), and [default] hidden by a [profile default] that now
 * has keys. The SDK's P3 is waived for a key it reads from a stale line
 * stuck between ours and a header botocore does not have (`staleAndStuck`).
 * Files no edit of our section can fix for botocore (a `[DEFAULT]` that
 * gives every section a key we remove) are counted as excluded.
 *
 * On failures, the first failing file of each kind of failure (file and
 * property) is shrunk by deleting lines (delta debugging) while that same
 * property keeps failing, printed as JSON (text, profile, property, the
 * edited text, the values written), and the test fails.
 *
 * Environment (the test runner runs with --allow-all, so these are readable):
 * - `FUZZ_SEED`: the PRNG seed, an unsigned 32-bit integer (default below);
 * - `FUZZ_COUNT`: how many botocore-accepted files to check (default 2000);
 * - `FUZZ_SHRINK`: how many failing files of each kind to shrink and print
 *   (default 1).
 *
 * For example: `FUZZ_SEED=7 FUZZ_COUNT=50000 deno test --allow-all tests/ini_fuzz_test.ts`
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { loadSharedConfigFiles } from "@smithy/core/config";
import type { Credentials } from "../lib/credentials.ts";
import { renderConfigFile, renderCredentialsFile } from "../lib/profile_writer.ts";

const DEFAULT_SEED = 20240611;
const DEFAULT_COUNT = 2000;
const PYTHON = "/usr/bin/python3"; // Debian's, which has python3-botocore
const ORACLE = fileURLToPath(new URL("./support/botocore_oracle.py", import.meta.url));
const CHUNK = 250;

// ---------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: small, fast, and good enough to drive a generator. */
class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [low, high]. */
  range(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from nothing");
    return items[this.int(items.length)]!;
  }

  /** One of `choices`, each [weight, value]. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [weight, value] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return choices[choices.length - 1]![1];
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  chars(alphabet: string, length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Each case has its own seed, so one case can be regenerated alone. */
function caseSeed(seed: number, index: number): number {
  return mix32((seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0);
}

// ---------------------------------------------------------------------------
// The generator

type Kind = "credentials" | "config";

interface Case {
  readonly index: number;
  readonly kind: Kind;
  readonly profile: string;
  readonly text: string;
  /** Credentials file: what we write. */
  readonly credentials: Credentials;
  /** Config file: what we write. */
  readonly region: string;
  readonly output: string | undefined;
}

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const BASE64 = UPPER + LOWER + DIGITS + "+/";
const NAME_CHARS = UPPER + LOWER + DIGITS + "_.@+-";
const REGIONS = [
  "us-east-1",
  "us-west-2",
  "eu-west-1",
  "eu-central-1",
  "ap-southeast-2",
  "sa-east-1",
  "cn-north-1",
  "us-gov-west-1",
];
const OUTPUTS = ["json", "text", "table", "yaml", "yaml-stream"];
const REALISTIC_NAMES = [
  "dev",
  "prod",
  "staging",
  "ci",
  "admin",
  "sandbox",
  "my-profile",
  "team.ops",
  "user@example.com",
  "ops+1",
  "a_b",
  "legacy",
  "X",
  "p1",
  "Prod",
  "Default",
];
const FORBIDDEN_NAMES = new Set(["DEFAULT", "__proto__", "constructor", "prototype"]);

/** A profile name as the helper accepts it, and one no reader treats specially. */
function usableName(name: string): boolean {
  return /^[A-Za-z0-9_.@+-]{1,20}$/.test(name) && !FORBIDDEN_NAMES.has(name) &&
    // The SDK keeps sections in a plain object: keep clear of its prototype.
    !(name in Object.prototype) &&
    // `[profile sso-session.x]` would collide with `[sso-session x]` in the SDK's map.
    !/^(profile|sso-session|services)\./.test(name);
}

function randomName(rng: Rng): string {
  for (;;) {
    const name = rng.chance(0.5)
      ? rng.pick(REALISTIC_NAMES)
      : rng.chars(NAME_CHARS, rng.range(1, 20));
    if (usableName(name) && name !== "default") return name;
  }
}

function accessKeyId(rng: Rng): string {
  return rng.pick(["AKIA", "ASIA"]) + rng.chars(UPPER + DIGITS, 16);
}

function secretKey(rng: Rng): string {
  return rng.chars(BASE64, 40);
}

function sessionToken(rng: Rng): string {
  return rng.chars(BASE64, rng.range(40, 300)) + rng.pick(["", "=", "=="]);
}

function accountId(rng: Rng): string {
  return rng.chars(DIGITS, 12);
}

/** Values a human or a tool might have left: spaces, `#`, `;`, unicode, separators. */
const ODD_VALUES = [
  "with spaces inside",
  "a # not a comment for botocore",
  "#hash",
  "x ; y",
  ";semi",
  "pass;word#1",
  "café",
  "日本語の値",
  "🙂 emoji",
  "a=b",
  "a:b",
  "key = value",
  "%(interpolation)s",
  '"quoted"',
  "tab\tinside",
  "nbsp\u00a0inside",
  "[not a header]",
  "",
];

function oldValue(rng: Rng, key: string): string {
  if (rng.chance(0.08)) return rng.pick(ODD_VALUES);
  switch (key.toLowerCase()) {
    case "region":
      return rng.pick(REGIONS);
    case "output":
      return rng.pick(OUTPUTS);
    case "aws_access_key_id":
      return accessKeyId(rng);
    case "aws_secret_access_key":
      return secretKey(rng);
    case "aws_session_token":
    case "aws_security_token":
      return sessionToken(rng);
    case "aws_account_id":
    case "sso_account_id":
      return accountId(rng);
    case "role_arn":
      return `arn:aws:iam::${accountId(rng)}:role/${rng.pick(["Admin", "ReadOnly", "ci-deploy"])}`;
    case "mfa_serial":
      return `arn:aws:iam::${accountId(rng)}:mfa/${rng.pick(["alice", "bob"])}`;
    case "source_profile":
      return randomName(rng);
    case "credential_process":
      return `/usr/local/bin/creds --profile "${randomName(rng)}" --json`;
    case "sso_start_url":
      return "https://my-sso-portal.awsapps.com/start#/";
    case "sso_region":
      return rng.pick(REGIONS);
    case "sso_session":
      return rng.pick(["my-sso", "corp"]);
    case "sso_registration_scopes":
      return "sso:account:access";
    case "cli_pager":
      return rng.pick(["", "less -R"]);
    case "max_attempts":
    case "duration_seconds":
      return String(rng.range(1, 3600));
    case "retry_mode":
      return rng.pick(["standard", "adaptive", "legacy"]);
    case "endpoint_url":
      return "http://localhost:4566";
    default:
      return rng.chance(0.5) ? rng.chars(LOWER + DIGITS, rng.range(1, 12)) : rng.pick(ODD_VALUES);
  }
}

const CREDENTIALS_KEYS = [
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
  "aws_security_token",
  "aws_account_id",
];
const CREDENTIALS_OTHER_KEYS = [
  "region",
  "output",
  "role_arn",
  "source_profile",
  "mfa_serial",
  "credential_process",
  "duration_seconds",
];
const CONFIG_OTHER_KEYS = [
  "role_arn",
  "source_profile",
  "mfa_serial",
  "credential_process",
  "sso_session",
  "sso_account_id",
  "sso_start_url",
  "sso_region",
  "cli_pager",
  "retry_mode",
  "max_attempts",
  "endpoint_url",
];
const NESTED_PARENTS = ["s3", "dynamodb", "sts", "ec2", "iam", "region", "aws_session_token"];
const NESTED_KEYS = [
  "max_concurrent_requests",
  "addressing_style",
  "signature_version",
  "endpoint_url",
  "use_accelerate_endpoint",
  "region",
  "output",
  "aws_access_key_id",
  "aws_session_token",
  "aws_security_token",
  "aws_account_id",
];

function randomKey(rng: Rng): string {
  return rng.weighted([
    [6, "x_" + rng.chars(LOWER, rng.range(1, 8))],
    [1, "Custom_Key" + rng.int(10)],
    [1, "my key" + rng.int(10)],
  ]);
}

/** A separator, as people and tools write them; `:` is botocore's too, not the SDK's. */
function separator(rng: Rng, equalsOnly = false): string {
  const equals: ReadonlyArray<readonly [number, string]> = [
    [60, " = "],
    [10, "="],
    [5, " ="],
    [5, "= "],
    [3, "\t=\t"],
    [3, "  =  "],
    [2, " =\t"],
  ];
  if (equalsOnly) return rng.weighted(equals);
  return rng.weighted([...equals, [3, " : "], [2, ":"], [2, ": "]]);
}

function trailing(rng: Rng): string {
  return rng.weighted([[92, ""], [5, " "], [3, "\t"]]);
}

function comment(rng: Rng): string {
  const marker = rng.pick(["#", ";", "# ", "; ", "##"]);
  return marker + rng.pick(["comment", "managed by hand", "[profile old]", "region = x", "é ü"]);
}

function commentOrBlank(rng: Rng, indent: string): string {
  return rng.weighted([
    [4, indent + comment(rng)],
    [2, comment(rng)],
    [3, ""],
    [1, rng.pick([" ", "\t", "  "])],
  ]);
}

/** An `s3 =`-style block: the parent key with an empty value and deeper lines. */
function nestedBlock(
  rng: Rng,
  out: string[],
  indent: string,
  parent: string,
  inside: Array<[string, string]>,
): void {
  out.push(indent + parent + rng.pick(["=", " =", " = ", "\t="]));
  const deeper = indent + rng.pick(["  ", "    ", "\t", " "]);
  const lines = [...inside];
  for (let i = rng.range(inside.length === 0 ? 1 : 0, 2); i > 0; i--) {
    const key = rng.pick(NESTED_KEYS);
    lines.push([key, oldValue(rng, key)]);
  }
  rng.shuffle(lines);
  lines.forEach(([key, value], index) => {
    // A comment or blank line inside the block does not end it, for botocore.
    if (index > 0 && rng.chance(0.15)) out.push(commentOrBlank(rng, deeper));
    // Sub-lines need "=" (botocore splits them on it); now and then one deeper still.
    const subIndent = rng.chance(0.1) ? deeper + "  " : deeper;
    const sub = rng.chance(0.02) ? " : " : separator(rng, true);
    out.push(subIndent + key + sub + value + trailing(rng));
  });
}

/**
 * A section: the header and its keys, each in one of many shapes: plain,
 * upper case, indented, inside an `s3 =` block, or indented deeper than the
 * key above (so botocore reads it as that key's continuation).
 */
function emitSection(
  rng: Rng,
  out: string[],
  headerText: string,
  keys: Array<[string, string]>,
): void {
  const headerIndent = rng.weighted([[88, ""], [5, " "], [4, "  "], [3, "\t"]]);
  const suffix = rng.weighted([[88, ""], [4, " "], [2, "\t"], [3, " # comment"], [3, " ; c"]]);
  out.push(`${headerIndent}[${headerText}]${suffix}`);
  const base = rng.weighted([[70, ""], [10, headerIndent], [8, "  "], [5, "\t"], [4, "    "], [
    3,
    " ",
  ]]);
  const used = new Set<string>();
  let previousIndent: string | undefined;
  const entries = [...keys];
  if (rng.chance(0.15)) entries.splice(rng.int(entries.length + 1), 0, ["", ""]); // a block
  for (const [key, value] of entries) {
    if (rng.chance(0.12)) out.push(commentOrBlank(rng, base));
    const shape = rng.next();
    if (key === "" || shape < 0.08) {
      const parent = rng.pick(NESTED_PARENTS.filter((p) => !used.has(p)));
      used.add(parent);
      nestedBlock(rng, out, base, parent, key === "" ? [] : [[key, value]]);
      previousIndent = base;
      continue;
    }
    if (shape < 0.16 && previousIndent !== undefined) {
      const deeper = previousIndent + rng.pick(["  ", "\t", "    "]);
      out.push(deeper + key + separator(rng) + value + trailing(rng));
      continue;
    }
    const name = rng.weighted([[92, key], [5, key.toUpperCase()], [
      3,
      key.charAt(0).toUpperCase() + key.slice(1),
    ]]);
    // A repeated key makes botocore reject the file; now and then is enough.
    if (used.has(name.toLowerCase()) && !rng.chance(0.03)) continue;
    used.add(name.toLowerCase());
    const indent = rng.chance(0.08) ? rng.pick(["  ", "\t", " "]) : base;
    out.push(indent + name + separator(rng) + value + trailing(rng));
    previousIndent = indent;
  }
  if (rng.chance(0.02)) out.push(base + "a line that is no option"); // botocore rejects it
  for (let i = rng.weighted([[40, 0], [50, 1], [10, 2]]); i > 0; i--) {
    out.push(rng.chance(0.8) ? "" : commentOrBlank(rng, ""));
  }
}

function withValues(rng: Rng, keys: string[]): Array<[string, string]> {
  return keys.map((key) => [key, oldValue(rng, key)]);
}

/** The keys of a section that is not ours. */
function otherKeys(rng: Rng, kind: Kind): Array<[string, string]> {
  const pool = kind === "credentials"
    ? [...CREDENTIALS_KEYS, ...CREDENTIALS_OTHER_KEYS]
    : ["region", "output", ...CONFIG_OTHER_KEYS, ...CREDENTIALS_KEYS];
  const keys: string[] = [];
  for (let i = rng.range(0, 5); i > 0; i--) {
    keys.push(rng.chance(0.15) ? randomKey(rng) : rng.pick(pool));
  }
  return withValues(rng, keys);
}

/** The keys our section holds before the edit. */
function targetKeys(rng: Rng, kind: Kind): Array<[string, string]> {
  const keys: string[] = [];
  if (kind === "credentials") {
    if (rng.chance(0.65)) keys.push("aws_access_key_id");
    if (rng.chance(0.65)) keys.push("aws_secret_access_key");
    if (rng.chance(0.5)) keys.push("aws_session_token");
    if (rng.chance(0.3)) keys.push("aws_security_token");
    if (rng.chance(0.25)) keys.push("aws_account_id");
    for (let i = rng.range(0, 3); i > 0; i--) {
      keys.push(rng.chance(0.2) ? randomKey(rng) : rng.pick(CREDENTIALS_OTHER_KEYS));
    }
  } else {
    if (rng.chance(0.6)) keys.push("region");
    if (rng.chance(0.4)) keys.push("output");
    for (const key of CREDENTIALS_KEYS) if (rng.chance(0.06)) keys.push(key);
    for (let i = rng.range(0, 4); i > 0; i--) {
      keys.push(rng.chance(0.2) ? randomKey(rng) : rng.pick(CONFIG_OTHER_KEYS));
    }
  }
  return withValues(rng, rng.shuffle(keys));
}

/** Header texts that name `name` as a config-file profile, for botocore. */
function configProfileHeaders(name: string): Array<readonly [number, string]> {
  return [
    [60, `profile ${name}`],
    [10, `profile "${name}"`],
    [4, `profile '${name}'`],
    [8, `profile\t${name}`],
    [7, `profile ${name} `],
    [5, `profile  ${name}`],
    [3, `profile "${name}" `],
  ];
}

/** Header texts for our section. */
function targetHeaders(rng: Rng, kind: Kind, profile: string): string[] {
  if (kind === "credentials") return [profile];
  const forms = profile === "default"
    ? [[40, "default"] as const, ...configProfileHeaders("default")]
    : configProfileHeaders(profile);
  const first = rng.weighted(forms);
  if (!rng.chance(profile === "default" ? 0.35 : 0.2)) return [first];
  // Another spelling of the same profile: botocore takes the later section
  // whole, the SDK merges them (and takes [profile default] over [default]).
  const second = profile === "default" && rng.chance(0.6)
    ? (first === "default" ? rng.weighted(configProfileHeaders("default")) : "default")
    : rng.weighted(forms);
  return second === first ? [first] : [first, second];
}

/** Headers that look like ours but are not, to any reader. */
function decoyHeader(rng: Rng, kind: Kind, profile: string): string {
  if (kind === "credentials") {
    return rng.pick([
      ` ${profile} `,
      `${profile} `,
      `profile ${profile}`,
      `sso-session ${profile}`,
      profile === "default" ? "Default" : `${profile}-old`,
    ]);
  }
  return rng.pick([
    profile === "default" ? " default " : profile,
    ` profile ${profile}`,
    `profile ${profile} extra`,
    `profile ${profile}-old`,
    `sso-session ${profile}`,
    `services ${profile}`,
  ]);
}

function otherHeader(rng: Rng, kind: Kind, profile: string): string {
  let name = randomName(rng);
  while (name === profile) name = randomName(rng);
  if (kind === "credentials") {
    return rng.weighted([
      [75, name],
      [profile === "default" ? 0 : 15, "default"],
      [4, `profile ${name}`],
      [4, ` ${name} `],
      [2, `sso-session ${name}`],
    ]);
  }
  return rng.weighted([
    [45, rng.weighted(configProfileHeaders(name))],
    [profile === "default" ? 0 : 10, "default"],
    [profile === "default" ? 0 : 4, "profile default"],
    [10, `sso-session ${rng.pick(["my-sso", "corp", name])}`],
    [10, `services ${rng.pick(["local", "dev-endpoints", name])}`],
    [8, rng.pick(["preview", "plugins", "cli"])],
    [7, name],
  ]);
}

function otherSection(rng: Rng, kind: Kind, header: string): Array<[string, string]> {
  if (header.startsWith("services")) {
    return [["", ""], ...withValues(rng, rng.chance(0.3) ? ["region"] : [])];
  }
  if (header.startsWith("sso-session")) {
    return withValues(rng, ["sso_start_url", "sso_region", "sso_registration_scopes"]);
  }
  return otherKeys(rng, kind);
}

type Eol = "lf" | "crlf" | "cr" | "mixed";

function eolFor(rng: Rng, style: Eol): string {
  switch (style) {
    case "lf":
      return "\n";
    case "crlf":
      return "\r\n";
    case "cr":
      return "\r";
    case "mixed":
      return rng.pick(["\n", "\r\n", "\r"]);
  }
}

function joinLines(rng: Rng, lines: string[]): string {
  const style = rng.weighted<Eol>([[55, "lf"], [20, "crlf"], [10, "cr"], [15, "mixed"]]);
  const finalNewline = rng.chance(0.8);
  return lines.map((line, i) =>
    line + (i < lines.length - 1 || finalNewline ? eolFor(rng, style) : "")
  )
    .join("");
}

function generateFile(rng: Rng, kind: Kind, profile: string): string {
  const special = rng.next();
  if (special < 0.03) return "";
  if (special < 0.05) {
    const lines: string[] = [];
    for (let i = rng.range(1, 4); i > 0; i--) lines.push(commentOrBlank(rng, rng.pick(["", "  "])));
    return joinLines(rng, lines);
  }
  const lines: string[] = [];
  if (rng.chance(0.3)) {
    for (let i = rng.range(1, 3); i > 0; i--) lines.push(commentOrBlank(rng, rng.pick(["", " "])));
  }
  if (rng.chance(0.01)) lines.push("region = us-east-1"); // before any header: botocore rejects
  const sections: Array<[string, Array<[string, string]>]> = [];
  const headers = new Set<string>();
  const add = (header: string, keys: Array<[string, string]>) => {
    // A repeated header makes botocore reject the file; now and then is enough.
    if (headers.has(header) && !rng.chance(0.05)) return;
    headers.add(header);
    sections.push([header, keys]);
  };
  for (let i = rng.range(0, 4); i > 0; i--) {
    const header = otherHeader(rng, kind, profile);
    add(header, otherSection(rng, kind, header));
  }
  if (rng.chance(0.15)) {
    add(decoyHeader(rng, kind, profile), targetKeys(rng, kind));
  }
  if (rng.chance(0.02)) {
    // configparser's defaults, which botocore reads into every section. Not
    // the keys we remove: no edit of our section could remove those.
    const removable = (key: string) => /^aws_(security_token|account_id)$/i.test(key);
    add("DEFAULT", otherKeys(rng, kind).filter(([key]) => !removable(key)));
  }
  if (!rng.chance(0.2)) {
    for (const header of targetHeaders(rng, kind, profile)) add(header, targetKeys(rng, kind));
  }
  for (const [header, keys] of rng.shuffle(sections)) emitSection(rng, lines, header, keys);
  // Blank lines emitSection left at the end are part of the shape, as is a file with no line.
  return joinLines(rng, lines);
}

function generateCase(seed: number, index: number): Case {
  const rng = new Rng(caseSeed(seed, index));
  const kind: Kind = rng.chance(0.5) ? "credentials" : "config";
  const profile = rng.chance(0.35) ? "default" : randomName(rng);
  const text = generateFile(rng, kind, profile);
  const base = {
    accessKeyId: accessKeyId(rng),
    secretAccessKey: secretKey(rng),
    sessionToken: sessionToken(rng),
    expiration: new Date(Date.UTC(2030, 0, 1)),
  };
  const credentials: Credentials = rng.chance(0.5) ? { ...base, accountId: accountId(rng) } : base;
  const region = rng.pick(REGIONS);
  const output = rng.chance(0.5) ? rng.pick(OUTPUTS) : undefined;
  return { index, kind, profile, text, credentials, region, output };
}

// ---------------------------------------------------------------------------
// The readers

/** botocore's reading of a file: `value` as botocore uses it, `raw` its sections. */
type BotocoreResult =
  | {
    ok: true;
    value: Record<string, unknown>;
    raw: Record<string, unknown>;
    /** The profile botocore files each section of `raw` under, if any. */
    owners: Record<string, string | null>;
  }
  | { ok: false; error: string };

/** Reads lines from a byte stream. */
class LineReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline !== -1) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) return undefined;
      this.#buffer += value;
    }
  }

  async drain(): Promise<void> {
    while (!(await this.#reader.read()).done) { /* discard */ }
  }
}

/** botocore in one long-lived Python process: tests/support/botocore_oracle.py. */
class BotocoreOracle {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: LineReader;
  readonly #stderr: Promise<string>;
  readonly #encoder = new TextEncoder();
  #queue: Promise<unknown> = Promise.resolve();
  /** The handshake: versions. */
  hello: Record<string, unknown> = {};

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = new LineReader(child.stdout);
    this.#stderr = new Response(child.stderr).text();
  }

  /** @throws {Error} when Python or botocore is missing: the test fails, never skips */
  static async start(home: string): Promise<BotocoreOracle> {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(PYTHON, {
        args: ["-I", "-X", "utf8", ORACLE],
        clearEnv: true,
        env: { PATH: "/usr/bin:/bin", HOME: home, LANG: "C.UTF-8" },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (cause) {
      throw new Error(`cannot run ${PYTHON}, which this test needs with python3-botocore`, {
        cause,
      });
    }
    const oracle = new BotocoreOracle(child);
    const line = await oracle.#lines.next();
    const hello = line === undefined ? undefined : JSON.parse(line);
    if (hello?.ready !== true || hello.utf8_mode !== 1) {
      const stderr = await oracle.close();
      throw new Error(
        `${PYTHON} ${ORACLE} did not start: ${line ?? "(no output)"} ${stderr}`.trim() +
          " (this test needs Debian's python3-botocore)",
      );
    }
    oracle.hello = hello;
    return oracle;
  }

  /** Read files as botocore does; one request at a time. */
  read(requests: ReadonlyArray<{ kind: Kind; path: string }>): Promise<BotocoreResult[]> {
    const result = this.#queue.then(() => this.#read(requests));
    this.#queue = result.catch(() => {});
    return result;
  }

  async #read(requests: ReadonlyArray<{ kind: Kind; path: string }>): Promise<BotocoreResult[]> {
    if (requests.length === 0) return [];
    await this.#writer.write(this.#encoder.encode(JSON.stringify(requests) + "\n"));
    const line = await this.#lines.next();
    if (line === undefined) {
      throw new Error(`the botocore oracle exited: ${await this.close()}`);
    }
    const results = JSON.parse(line) as BotocoreResult[];
    assert.equal(results.length, requests.length);
    return results;
  }

  /** Stop the process; its stderr. */
  async close(): Promise<string> {
    await this.#writer.close().catch(() => {});
    await this.#lines.drain();
    await this.#child.status;
    return await this.#stderr;
  }
}

type JsView = Record<string, Record<string, string | undefined>>;

/** Read a file as the JS SDK does: the config file's profile map, or the parsed credentials file. */
async function readWithJsSdk(kind: Kind, path: string, missing: string): Promise<JsView> {
  const files = await loadSharedConfigFiles(
    kind === "config"
      ? { filepath: missing, configFilepath: path, ignoreCache: true }
      : { filepath: path, configFilepath: missing, ignoreCache: true },
  );
  return kind === "config" ? files.configFile : files.credentialsFile;
}

/**
 * The text with a probe key after every line the SDK's parser takes for a
 * section header, so that the SDK lists every section it can see, even one
 * with no key it can read. (The header test is the parser's own.)
 */
function jsProbeText(text: string): string {
  let probes = 0;
  return text.split(/\r?\n/).flatMap((line) => {
    const trimmed = (line.split(/(^|\s)[;#]/)[0] ?? "").trim();
    const header = trimmed[0] === "[" && trimmed[trimmed.length - 1] === "]";
    return header ? [line, `fuzz_probe_${probes++} = 1`] : [line];
  }).join("\n");
}

/** The parser's own section names behind a section of the SDK's view. */
function rawNames(kind: Kind, section: string): string[] {
  if (kind === "credentials" || /^(sso-session|services)\./.test(section)) return [section];
  return section === "default" ? ["default", "profile.default"] : [`profile.${section}`];
}

/** How many header lines the SDK reads for each section of its view. */
async function jsHeaderCounts(
  kind: Kind,
  text: string,
  file: string,
  missing: string,
): Promise<Map<string, number>> {
  await Deno.writeTextFile(file, jsProbeText(text));
  const view = await readWithJsSdk(kind, file, missing);
  return new Map(
    Object.entries(view).map((
      [section, keys],
    ) => [section, Object.keys(keys ?? {}).filter((k) => /^fuzz_probe_\d+$/.test(k)).length]),
  );
}

/**
 * How many lines the SDK's parser reads as each `name = value` (the
 * parser's own line test, whatever section or block the line is in; an
 * empty value starts a block), as JSON [name, value]: to tell whether the
 * edit deleted a line or moved it.
 */
function jsKeyLines(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split(/\r?\n/)) {
    const trimmed = (line.split(/(^|\s)[;#]/)[0] ?? "").trim();
    const equals = trimmed.indexOf("=");
    if (equals <= 0 || (trimmed[0] === "[" && trimmed.endsWith("]"))) continue;
    const pair = JSON.stringify([
      trimmed.slice(0, equals).trim(),
      trimmed.slice(equals + 1).trim(),
    ]);
    counts.set(pair, (counts.get(pair) ?? 0) + 1);
  }
  return counts;
}

/**
 * Whether the edit deleted a line the SDK read as `key` (or as the last
 * part of `block.key`) with `value`: it was part of a key we replace or
 * remove, to botocore.
 */
function deletedLine(before: string, after: string, key: string, value: unknown): boolean {
  const [was, is] = [jsKeyLines(before), jsKeyLines(after)];
  return [...was].some(([pair, count]) => {
    const [name, text] = JSON.parse(pair) as [string, string];
    return text === value && (key === name || key.endsWith("." + name)) &&
      (is.get(pair) ?? 0) < count;
  });
}

// ---------------------------------------------------------------------------
// The properties

interface Failure {
  readonly property: string;
  readonly detail: string;
}

interface Outcome {
  /** botocore accepted the file before the edit. */
  readonly accepted: boolean;
  /** Why the file does not count after all: no edit of our section could pass. */
  readonly excluded?: string;
  readonly failures: Failure[];
  readonly edited?: string;
  /** botocore saw our profile before the edit. */
  readonly present?: boolean;
  /** The JS SDK's checks of our profile applied. */
  readonly jsChecked?: boolean;
}

const P1 = "P1 botocore rejects the edited file";
const P1_THROWS = "P1 the editor throws";
const P2_BOTOCORE = "P2 botocore: another profile or section changed";
const P2_JS = "P2 js-sdk: another profile or section changed";
const P3_BOTOCORE = "P3 botocore: our profile does not read the new values";
const P3_JS = "P3 js-sdk: our profile does not read the new values";
const P4 = "P4 botocore: a stale aws_security_token in our profile";
const P5_BOTOCORE = "P5 botocore: another key of our profile changed";
const P5_JS = "P5 js-sdk: another key of our profile changed";

/** What the edit sets, and what it removes, in our profile. */
function managedKeys(c: Case): { set: Map<string, string>; removed: Set<string> } {
  if (c.kind === "config") {
    const set = new Map([["region", c.region]]);
    if (c.output !== undefined) set.set("output", c.output);
    return { set, removed: new Set() };
  }
  const { accessKeyId, secretAccessKey, sessionToken, accountId } = c.credentials;
  const set = new Map([
    ["aws_access_key_id", accessKeyId],
    ["aws_secret_access_key", secretAccessKey],
    ["aws_session_token", sessionToken],
  ]);
  const removed = new Set(["aws_security_token"]);
  if (accountId === undefined) removed.add("aws_account_id");
  else set.set("aws_account_id", accountId);
  return { set, removed };
}

/**
 * Whether a key of our profile is one the edit manages: set or removed, in
 * any case (botocore lower-cases option names, so `AWS_ACCESS_KEY_ID` is
 * ours), or a `key.sub` key the SDK makes of an indented block under one.
 */
function isManaged(c: Case, key: string): boolean {
  const { set, removed } = managedKeys(c);
  const lower = key.toLowerCase();
  // The SDK splits at "=" only: to it, `aws_session_token: x=y` is the key
  // `aws_session_token: x`, and `s3.aws_session_token: x` under a block.
  return [...set.keys(), ...removed].some((m) =>
    lower === m || lower.startsWith(m + ".") || new RegExp(`^${m}\\s*:`).test(lower)
  );
}

function edit(c: Case, text: string): string {
  return c.kind === "credentials"
    ? renderCredentialsFile(text, c.profile, c.credentials)
    : renderConfigFile(text, c.profile, c.region, c.output);
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
}

function without(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...value };
  delete copy[key];
  return copy;
}

/** botocore's view of our profile. */
function botocoreOurs(c: Case, view: Record<string, unknown>): Record<string, unknown> | undefined {
  const profiles = c.kind === "config" ? record(view["profiles"]) : view;
  return Object.hasOwn(profiles, c.profile) ? record(profiles[c.profile]) : undefined;
}

/** botocore's view of everything else. */
function botocoreOthers(c: Case, view: Record<string, unknown>): Record<string, unknown> {
  if (c.kind === "credentials") return without(view, c.profile);
  return { ...view, profiles: without(record(view["profiles"]), c.profile) };
}

function jsOurs(c: Case, view: JsView): Record<string, unknown> | undefined {
  return Object.hasOwn(view, c.profile) ? record(view[c.profile]) : undefined;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > 600 ? text.slice(0, 600) + "…" : text;
}

/** Keys whose values differ between two readings, with both values. */
function differences(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  counts: (key: string) => boolean = () => true,
): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => !isDeepStrictEqual(before[key], after[key]) && counts(key))
    .map((key) => `${key}: ${show(before[key])} -> ${show(after[key])}`);
}

/** For each section the JS SDK sees, the options of the botocore sections behind it. */
type Backing = Map<string, Array<Record<string, unknown>>>;

/**
 * Which botocore sections stand behind each section the SDK sees: the SDK
 * itself reads a file of botocore's section names, each with its own probe
 * key (so `[profile "x"]` and `[profile x]` both land on `x`, and
 * `[profile x ]` on nothing).
 */
async function jsBacking(
  kind: Kind,
  raw: Record<string, unknown>,
  file: string,
  missing: string,
): Promise<Backing> {
  const names = Object.keys(raw);
  await Deno.writeTextFile(
    file,
    names.map((name, n) => `[${name}]\nfuzz_probe_${n} = 1\n`).join(""),
  );
  const backing: Backing = new Map();
  for (const [section, keys] of Object.entries(await readWithJsSdk(kind, file, missing))) {
    backing.set(
      section,
      Object.keys(keys ?? {}).flatMap((key) => {
        const probe = /^fuzz_probe_(\d+)$/.exec(key);
        return probe === null ? [] : [record(raw[names[Number(probe[1])]!])];
      }),
    );
  }
  return backing;
}

/**
 * What botocore reads for the SDK's key `key` of `section`: the same option
 * (botocore lower-cases names), or for the SDK's `parent.sub`, a sub-key of
 * botocore's indented block `parent`.
 */
function botocoreValues(backing: Backing, section: string, key: string): unknown[] {
  return (backing.get(section) ?? []).flatMap((options) => botocoreValuesIn(options, key));
}

function botocoreValuesIn(options: Record<string, unknown>, key: string): unknown[] {
  if (Object.hasOwn(options, key.toLowerCase())) return [options[key.toLowerCase()]];
  const dot = key.indexOf(".");
  if (dot === -1) return [];
  const parent = record(options[key.slice(0, dot).toLowerCase()]);
  const sub = key.slice(dot + 1);
  return Object.hasOwn(parent, sub) ? [parent[sub]] : [];
}

const hasCr = (value: unknown) => typeof value === "string" && value.includes("\r");

/**
 * How the SDK's reading of one section changed. What counts: every key the
 * SDK read before the edit and now reads otherwise or not at all, and every
 * key it reads only after the edit. What does not, since no edit can keep
 * it for both readers:
 * - a key or value holding a CR: a line the SDK joined to others, since it
 *   splits lines at `\n` only where botocore also splits at a lone `\r`;
 * - a key the SDK read from a line the edit deleted: to botocore that line
 *   was part of a key we replace or remove (its continuation line, which
 *   the SDK reads as a key). Any other deleted line changes what botocore
 *   reads, which botocore's P2 and P5 see.
 * `ignore` leaves out more keys.
 */
function jsChanges(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  deleted: (key: string, value: unknown) => boolean,
  ignore: (key: string) => boolean = () => false,
): string[] {
  return differences(before, after, (key) => {
    if (ignore(key) || [key, before[key], after[key]].some(hasCr)) return false;
    return !Object.hasOwn(before, key) || !deleted(key, before[key]);
  });
}

function checkBotocoreOurs(
  c: Case,
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown> | undefined,
): Failure[] {
  const failures: Failure[] = [];
  const { set, removed } = managedKeys(c);
  const wrong = [...set].filter(([key, value]) => after?.[key] !== value)
    .map(([key, value]) => `${key}: want ${show(value)}, read ${show(after?.[key])}`);
  if (removed.has("aws_account_id") && after?.["aws_account_id"] !== undefined) {
    wrong.push(`aws_account_id: want none (not given), read ${show(after["aws_account_id"])}`);
  }
  if (wrong.length > 0) failures.push({ property: P3_BOTOCORE, detail: wrong.join("; ") });
  if (c.kind === "credentials" && after?.["aws_security_token"] !== undefined) {
    failures.push({ property: P4, detail: `read ${show(after["aws_security_token"])}` });
  }
  const changed = differences(before ?? {}, after ?? {}, (key) => !isManaged(c, key));
  if (changed.length > 0) failures.push({ property: P5_BOTOCORE, detail: changed.join("; ") });
  return failures;
}

/** What the SDK checks need to know about the file before the edit, each found when needed. */
interface JsContext {
  /** For each section of the SDK's view, the botocore sections behind it. */
  backing(): Promise<Backing>;
  /**
   * What the SDK read in sections botocore does not have (a header botocore
   * reads as part of a key's value), as [key, value].
   */
  hidden(): Promise<Array<[string, unknown]>>;
  /**
   * botocore's view of our profile when botocore sees our section but the
   * SDK sees no header for it, else `undefined`. The SDK then reads our
   * section's lines as part of whatever section it read before them.
   */
  oursElsewhere(): Promise<Record<string, unknown> | undefined>;
  /** Whether the SDK sees a header botocore does not have (see `hidden`). */
  phantomHeader(): Promise<boolean>;
  /** Whether the edit deleted a line the SDK read as `key` with `value`. */
  deleted(key: string, value: unknown): boolean;
  /**
   * Whether the SDK's block `name` (a key with an empty value, whose
   * indented keys the SDK reads as `name.key`) is gone: it is a key we
   * manage, or the edit deleted its line (a continuation line of our key, to
   * botocore). Its keys then surface, or go under the block before it.
   */
  blockGone(name: string): boolean;
  /**
   * Whether the SDK sees more headers for `section` than botocore has
   * sections behind it: the extra one is a line botocore reads as part of a
   * key's value, and the lines after it are that key's section's lines.
   */
  phantomSection(section: string): Promise<boolean>;
  /** botocore's view of our profile before the edit. */
  readonly botocoreBefore: Record<string, unknown> | undefined;
  /**
   * Whether the SDK sees a header for our profile (however it reads the
   * rest) that it maps from one of botocore's own sections for it.
   */
  seesOurs(): Promise<boolean>;
  /** The parser's own view (no profile map) before and after the edit. */
  raw(): Promise<[JsView, JsView]>;
  /**
   * Whether the edit deleted a line the SDK read as a header of `section`
   * (a continuation line of a key we replace or remove, to botocore): the
   * keys after it then belong to the section before it, to the SDK.
   */
  headerDeleted(section: string): Promise<boolean>;
}

/**
 * Whether the SDK reads `key` as `value` after the edit because the edit
 * took away a header botocore does not have: replacing or removing our key
 * drops its continuation lines, and when the SDK read one of those as a
 * header, it read the lines after it in that section, not in ours.
 */
async function unhidden(js: JsContext, key: string, value: unknown): Promise<boolean> {
  return value !== undefined &&
    (await js.hidden()).some(([k, v]) => k === key && isDeepStrictEqual(v, value));
}

/**
 * Whether the SDK reads `key` as `value` after the edit because a block it
 * read them in is gone (see `blockGone`): one of our keys had an empty
 * value, and the SDK read the indented keys after it as `ours.key`. Giving
 * our key a value ends that block for the SDK, so those keys surface as
 * they are, or under the block the SDK read before ours (`s3.key`).
 */
function surfaced(
  js: JsContext,
  before: Record<string, unknown>,
  key: string,
  value: unknown,
): boolean {
  return value !== undefined && Object.entries(before).some(([k, v]) => {
    if (!isDeepStrictEqual(v, value)) return false;
    for (let dot = k.indexOf("."); dot > 0; dot = k.indexOf(".", dot + 1)) {
      const sub = k.slice(dot + 1);
      if (js.blockGone(k.slice(0, dot)) && (key === sub || key.endsWith("." + sub))) return true;
    }
    return false;
  });
}

/** Whether `key` is `block.sub` for an SDK block that is gone (see `blockGone`). */
function underGoneBlock(js: JsContext, key: string): boolean {
  for (let dot = key.indexOf("."); dot > 0; dot = key.indexOf(".", dot + 1)) {
    if (js.blockGone(key.slice(0, dot))) return true;
  }
  return false;
}

/**
 * Whether no edit can make the SDK read our new `key`: the SDK reads a stale
 * copy of it from a line that botocore reads as part of another key's value
 * (so the edit must leave that line), and the SDK sees a header botocore
 * does not have (an indented one) that may follow it in our section. Our
 * line then has to come after the stale one for the SDK, and before that
 * header for both readers, where botocore would read it as a continuation.
 */
async function staleAndStuck(
  js: JsContext,
  key: string,
  before: Record<string, unknown> | undefined,
  botocoreBefore: Record<string, unknown> | undefined,
): Promise<boolean> {
  if (before?.[key] === undefined) return false;
  if (botocoreValuesIn(botocoreBefore ?? {}, key).includes(before[key])) return false;
  return await js.phantomHeader();
}

async function checkJsOurs(
  c: Case,
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown> | undefined,
  botocoreBefore: Record<string, unknown> | undefined,
  js: JsContext,
): Promise<Failure[]> {
  const failures: Failure[] = [];
  const wrong: string[] = [];
  for (const [key, value] of managedKeys(c).set) {
    if (after?.[key] === value || await staleAndStuck(js, key, before, botocoreBefore)) continue;
    wrong.push(`${key}: want ${show(value)}, read ${show(after?.[key])}`);
  }
  if (wrong.length > 0) failures.push({ property: P3_JS, detail: wrong.join("; ") });
  // Our key, or our key read under another key's block (moving it out of
  // there is how the SDK gets to read it).
  const managed = (key: string) =>
    isManaged(c, key) || isManaged(c, key.slice(key.lastIndexOf(".") + 1));
  let b = before ?? {};
  const a = after ?? {};
  if (c.kind === "config" && c.profile === "default") {
    // The SDK's profile map takes [profile default] over [default] whole,
    // once it has a key. Writing ours to both (botocore reads the later one)
    // can make it switch to [profile default]; replacing our key can delete
    // a [profile default] line that was part of its value, switching back.
    // Then compare with what that section held before.
    const [rawBefore, rawAfter] = await js.raw();
    const source = (view: JsView) =>
      view["profile.default"] === undefined ? "default" : "profile.default";
    if (source(rawBefore) !== source(rawAfter)) b = record(rawBefore[source(rawAfter)]);
  }
  if (differences(b, a, (key) => !managed(key)).length > 0) {
    const sections = await js.backing();
    const botocore = (key: string) => botocoreValues(sections, c.profile, key);
    const unhid = new Set<string>();
    for (const key of Object.keys(a)) if (await unhidden(js, key, a[key])) unhid.add(key);
    // The SDK now reads a key of our profile as botocore always did: see unhidden.
    const converged = (key: string) => a[key] !== undefined && botocore(key).includes(a[key]);
    const ignore = (key: string) =>
      managed(key) || converged(key) || unhid.has(key) || surfaced(js, b, key, a[key]) ||
      underGoneBlock(js, key);
    const changed = jsChanges(b, a, js.deleted, ignore);
    if (changed.length > 0) failures.push({ property: P5_JS, detail: changed.join("; ") });
  }
  return failures;
}

/** P2 in the SDK: see {@linkcode jsChanges} and {@linkcode JsContext}. */
async function checkJsOthers(
  c: Case,
  before: JsView,
  after: JsView,
  js: JsContext,
): Promise<Failure[]> {
  const others = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((section) => section !== c.profile);
  const differing = others.filter((section) => !isDeepStrictEqual(before[section], after[section]));
  if (differing.length === 0) return [];
  const ours = await js.oursElsewhere();
  const changed: string[] = [];
  for (const section of differing.filter((section) => !hasCr(section))) {
    if (await js.headerDeleted(section)) continue;
    const b = record(before[section]);
    const a = record(after[section]);
    const excused = new Set<string>();
    for (const key of Object.keys(a)) if (await unhidden(js, key, a[key])) excused.add(key);
    // Our section's lines may be read here: when the SDK sees no header for
    // our section, or when this section's extra header is in our section.
    const oursHere = ours ?? (await js.phantomSection(section) ? js.botocoreBefore : undefined);
    const ignore = (key: string) => {
      if (excused.has(key) || surfaced(js, b, key, a[key]) || underGoneBlock(js, key)) return true;
      if (oursHere === undefined) return false;
      // Our section's lines, read here. `s3.region`: our key under a block.
      const name = key.slice(key.lastIndexOf(".") + 1);
      const values = botocoreValuesIn(oursHere, key);
      return isManaged(c, key) || isManaged(c, name) || values.includes(b[key]) ||
        values.includes(a[key]);
    };
    changed.push(
      ...jsChanges(b, a, js.deleted, ignore)
        .map((change) => `[${section}] ${change}`),
    );
  }
  return changed.length === 0 ? [] : [{ property: P2_JS, detail: changed.join("; ") }];
}

/**
 * What botocore reads in a section the file does not have yet: the keys of
 * `[DEFAULT]`, which configparser gives every section. `undefined` when
 * botocore cannot read the file once it has a section (a `[DEFAULT]` value it
 * cannot parse as an indented block is only parsed in a section).
 */
async function inheritedByNewSection(
  c: Case,
  oracle: BotocoreOracle,
  file: string,
): Promise<{ keys: Record<string, unknown> } | { error: string }> {
  const probe = { ...c, profile: "fuzz-probe-section" };
  const header = c.kind === "config" ? `profile ${probe.profile}` : probe.profile;
  // A header at the start of a line after a blank line is always a header.
  await Deno.writeTextFile(file, `${c.text}\n\n[${header}]\n`);
  const [result] = await oracle.read([{ kind: c.kind, path: file }]);
  if (result === undefined || !result.ok) return { error: result?.error ?? "no reply" };
  return { keys: botocoreOurs(probe, result.value) ?? {} };
}

/**
 * Why no edit of our section could pass on this file, or `undefined`: every
 * section, ours too, inherits a key of `[DEFAULT]` that we must remove, or
 * botocore cannot read the file once it has a section at all.
 */
function outOfScope(
  c: Case,
  inherited: { keys: Record<string, unknown> } | { error: string },
): string | undefined {
  if ("error" in inherited) return `botocore cannot read a section in this file`;
  const removed = managedKeys(c).removed;
  const key = Object.keys(inherited.keys).find((k) => removed.has(k));
  return key === undefined ? undefined : `[DEFAULT] gives every section ${key}`;
}

/**
 * The {@linkcode JsContext} of one edit: `text` is the edited file, `b`
 * botocore's reading before it, `file` names scratch files.
 */
function jsContext(
  c: Case,
  text: string,
  b: Extract<BotocoreResult, { ok: true }>,
  file: (stage: string) => string,
  missing: string,
): JsContext {
  const botocoreBefore = botocoreOurs(c, b.value);
  const once = <T>(make: () => T): () => T => {
    let value: { v: T } | undefined;
    return () => (value ??= { v: make() }).v;
  };
  const backing = once(() => jsBacking(c.kind, b.raw, file("backing"), missing));
  // The parser's own view (the config file read as a credentials file skips
  // only the profile map): which of its sections botocore has, and how many
  // header lines it reads for each.
  const rawBacking = once(() => jsBacking("credentials", b.raw, file("raw-backing"), missing));
  const rawHeaders = once(() =>
    jsHeaderCounts("credentials", c.text, file("raw-headers"), missing)
  );
  const rawViews = once(() =>
    Promise.all([
      readWithJsSdk("credentials", file("before"), missing),
      readWithJsSdk("credentials", file("after"), missing),
    ])
  );
  const extraHeaders = async (name: string) => {
    const [counts, behind] = await Promise.all([rawHeaders(), rawBacking()]);
    return (counts.get(name) ?? 0) > (behind.get(name)?.length ?? 0);
  };
  const headers = once(() =>
    Promise.all([
      jsHeaderCounts(c.kind, c.text, file("headers-before"), missing),
      jsHeaderCounts(c.kind, text, file("headers-after"), missing),
    ])
  );
  const keyLines = once(() => [jsKeyLines(c.text), jsKeyLines(text)] as const);
  // Whether the SDK sees a header for our profile, however it reads the
  // rest, and maps one of botocore's own sections for it to our profile.
  const seesOurs = once(async () => {
    await Deno.writeTextFile(file("probe"), jsProbeText(c.text));
    const [view, sections] = await Promise.all([
      readWithJsSdk(c.kind, file("probe"), missing),
      backing(),
    ]);
    return jsOurs(c, view) !== undefined &&
      (botocoreBefore === undefined || (sections.get(c.profile)?.length ?? 0) > 0);
  });
  return {
    botocoreBefore,
    backing,
    seesOurs,
    raw: rawViews,
    hidden: once(async () => {
      const [[view], behind] = await Promise.all([rawViews(), rawBacking()]);
      return Object.entries(view).filter(([section]) => !(behind.get(section)?.length))
        .flatMap(([, keys]) => Object.entries(keys ?? {}));
    }),
    phantomHeader: once(async () => {
      const names = [...(await rawHeaders()).keys()];
      return (await Promise.all(names.map(extraHeaders))).some(Boolean);
    }),
    // Counted in the parser's own view: the profile map hides a header (its
    // [profile default] replaces [default]).
    phantomSection: async (section) =>
      (await Promise.all(rawNames(c.kind, section).map(extraHeaders))).some(Boolean),
    deleted: (key, value) => deletedLine(c.text, text, key, value),
    blockGone: (name) => {
      if (isManaged(c, name)) return true;
      const [was, is] = keyLines();
      const pair = JSON.stringify([name, ""]);
      return (is.get(pair) ?? 0) < (was.get(pair) ?? 0);
    },
    headerDeleted: async (section) => {
      const [was, is] = await headers();
      return (is.get(section) ?? 0) < (was.get(section) ?? 0);
    },
    // Per section: with two spellings of our profile, the SDK may see one
    // header and not the other.
    oursElsewhere: async () => {
      if (botocoreBefore === undefined) return undefined;
      if (!(await seesOurs())) return botocoreBefore;
      const counts = await rawHeaders();
      const sdk = rawNames(c.kind, c.profile).reduce((n, name) => n + (counts.get(name) ?? 0), 0);
      const ours = Object.values(b.owners).filter((owner) => owner === c.profile).length;
      return sdk < ours ? botocoreBefore : undefined;
    },
  };
}

/** Edit one batch of cases, read every file before and after, and judge. */
async function evaluate(
  cases: readonly Case[],
  oracle: BotocoreOracle,
  dir: string,
): Promise<Outcome[]> {
  const path = (i: number, stage: string) => join(dir, `${i}.${stage}`);
  const missing = join(dir, "missing");
  await Promise.all(cases.map((c, i) => Deno.writeTextFile(path(i, "before"), c.text)));
  const before = await oracle.read(
    cases.map((c, i) => ({ kind: c.kind, path: path(i, "before") })),
  );
  const edited = new Map<number, string>();
  const outcomes: Outcome[] = [];
  for (const [i, c] of cases.entries()) {
    if (!before[i]!.ok) {
      outcomes[i] = { accepted: false, failures: [] };
      continue;
    }
    try {
      edited.set(i, edit(c, c.text));
    } catch (error) {
      outcomes[i] = { accepted: true, failures: [{ property: P1_THROWS, detail: String(error) }] };
    }
  }
  await Promise.all([...edited].map(([i, text]) => Deno.writeTextFile(path(i, "after"), text)));
  const afterRequests = [...edited.keys()].map((i) => ({
    kind: cases[i]!.kind,
    path: path(i, "after"),
  }));
  const afterResults = await oracle.read(afterRequests);
  const after = new Map([...edited.keys()].map((i, n) => [i, afterResults[n]!]));

  await Promise.all([...edited].map(async ([i, text]) => {
    const c = cases[i]!;
    const b = before[i]!;
    const a = after.get(i)!;
    assert(b.ok);
    const failures: Failure[] = [];
    const botocoreBefore = botocoreOurs(c, b.value);
    let inherited: ReturnType<typeof inheritedByNewSection> | undefined;
    const lazyInherited = () => inherited ??= inheritedByNewSection(c, oracle, path(i, "fresh"));
    if (!a.ok) {
      failures.push({ property: P1, detail: a.error });
    } else {
      const changed = differences(botocoreOthers(c, b.value), botocoreOthers(c, a.value));
      if (changed.length > 0) failures.push({ property: P2_BOTOCORE, detail: changed.join("; ") });
      const ours = botocoreOurs(c, a.value);
      let baseline = botocoreBefore;
      if (
        baseline === undefined && differences({}, ours ?? {}, (k) => !isManaged(c, k)).length > 0
      ) {
        const fresh = await lazyInherited();
        baseline = "keys" in fresh ? fresh.keys : {};
      }
      failures.push(...checkBotocoreOurs(c, baseline, ours));
    }
    if (failures.some((f) => [P1, P3_BOTOCORE, P4].includes(f.property))) {
      const excluded = outOfScope(c, await lazyInherited());
      if (excluded !== undefined) {
        outcomes[i] = { accepted: true, excluded, failures: [] };
        return;
      }
    }

    const jsBefore = await readWithJsSdk(c.kind, path(i, "before"), missing);
    const jsAfter = await readWithJsSdk(c.kind, path(i, "after"), missing);
    const js = jsContext(c, text, b, (stage) => path(i, stage), missing);
    // Where the two readers disagree about the file's lines and sections, no
    // edit can keep both readings: the SDK's checks stop there (counted).
    const disagree = readersDisagree(c.text);
    if (!disagree) failures.push(...await checkJsOthers(c, jsBefore, jsAfter, js));
    // Whether the SDK can see our profile at all (see the module comment).
    const jsChecked = !disagree && (botocoreBefore === undefined || await js.seesOurs());
    if (jsChecked) {
      const [ours, oursAfter] = [jsOurs(c, jsBefore), jsOurs(c, jsAfter)];
      failures.push(...await checkJsOurs(c, ours, oursAfter, botocoreBefore, js));
    }
    outcomes[i] = {
      accepted: true,
      failures,
      edited: text,
      present: botocoreBefore !== undefined,
      jsChecked,
    };
  }));
  return outcomes;
}

/**
 * Whether botocore and the JS SDK read the lines of `text` differently,
 * before any edit: a lone CR (a line break to botocore, none to the SDK); an
 * indented `[...]` line that botocore reads as the continuation of a key and
 * the SDK as a header; or a continuation line the SDK reads as a key of its
 * own (the key above it has a value, so the SDK opens no sub-block). These
 * rules are botocore's (configparser's indentation rule), simplified. The
 * last counts only for the keys we write, the ones both readers must agree on.
 */
const MANAGED_NAMES = new Set([
  "region",
  "output",
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
  "aws_security_token",
  "aws_account_id",
]);

function readersDisagree(text: string): boolean {
  if (/\r(?!\n)/.test(text)) return true;
  let keyIndent: number | undefined;
  let keyHasValue = false;
  for (const line of text.split(/\r?\n/)) {
    const stripped = line.trim();
    if (stripped === "" || stripped.startsWith("#") || stripped.startsWith(";")) continue;
    const indent = line.length - line.trimStart().length;
    const jsText = line.split(/(^|\s)[;#]/)[0]!.trim();
    const jsHeader = jsText.startsWith("[") && jsText.endsWith("]");
    if (keyIndent !== undefined && indent > keyIndent) {
      // botocore: a continuation of the key above.
      if (jsHeader) return true;
      const equals = jsText.indexOf("=");
      const name = jsText.slice(0, Math.max(0, equals)).trim().toLowerCase();
      if (equals > 0 && keyHasValue && MANAGED_NAMES.has(name)) return true;
      continue;
    }
    if (stripped.startsWith("[")) {
      keyIndent = undefined;
      continue;
    }
    const delimiter = stripped.search(/[=:]/);
    if (delimiter > 0) {
      keyIndent = indent;
      keyHasValue = stripped.slice(delimiter + 1).trim() !== "";
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Shrinking

/** Lines with their terminators, split where botocore (Python) splits them. */
function splitUnits(text: string): string[] {
  return text.match(/[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$/g) ?? [];
}

/** Delta debugging: the smallest list of units, by deleting chunks, for which `fails` holds. */
async function ddmin(
  units: string[],
  fails: (units: string[]) => Promise<boolean>,
): Promise<string[]> {
  let granularity = 2;
  while (units.length >= 2) {
    const size = Math.ceil(units.length / granularity);
    let reduced = false;
    for (let start = 0; start < units.length; start += size) {
      const complement = [...units.slice(0, start), ...units.slice(start + size)];
      if (await fails(complement)) {
        units = complement;
        granularity = Math.max(granularity - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (granularity >= units.length) break;
      granularity = Math.min(granularity * 2, units.length);
    }
  }
  if (units.length === 1 && await fails([])) return [];
  return units;
}

async function shrink(
  c: Case,
  property: string,
  oracle: BotocoreOracle,
  dir: string,
): Promise<{ c: Case; outcome: Outcome }> {
  const fails = async (units: string[]) => {
    const [outcome] = await evaluate([{ ...c, text: units.join("") }], oracle, dir);
    return outcome!.failures.some((f) => f.property === property);
  };
  const units = await ddmin(splitUnits(c.text), fails);
  const minimal = { ...c, text: units.join("") };
  const [outcome] = await evaluate([minimal], oracle, dir);
  return { c: minimal, outcome: outcome! };
}

// ---------------------------------------------------------------------------

function envInt(name: string, fallback: number): number {
  const text = Deno.env.get(name);
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be an integer`);
  return value;
}

Deno.test("shared-file editor: botocore and the JS SDK read edited fuzzed files right", async () => {
  const seed = envInt("FUZZ_SEED", DEFAULT_SEED) >>> 0;
  const count = envInt("FUZZ_COUNT", DEFAULT_COUNT);
  const shrinkCount = envInt("FUZZ_SHRINK", 1);
  console.log(`ini fuzz: FUZZ_SEED=${seed} FUZZ_COUNT=${count}`);
  const dir = await Deno.makeTempDir({ prefix: "ini-fuzz-" });
  let oracle: BotocoreOracle | undefined;
  try {
    const started = performance.now();
    oracle = await BotocoreOracle.start(dir);
    // generated; rejected by botocore before the edit; excluded (out of
    // scope, see outOfScope); checked; of those, holding our profile before
    // the edit (botocore's view); and with the JS SDK's checks of our profile.
    const stats = { generated: 0, rejected: 0, excluded: 0, checked: 0, present: 0, jsChecked: 0 };
    const failing: Array<{ c: Case; failures: Failure[] }> = [];
    for (let next = 0; stats.checked < count; next += CHUNK) {
      // Generated files botocore rejects do not count; it should accept most.
      if (next > 4 * count + CHUNK) break;
      const cases = Array.from({ length: CHUNK }, (_, n) => generateCase(seed, next + n));
      const outcomes = await evaluate(cases, oracle, dir);
      for (const [i, outcome] of outcomes.entries()) {
        if (stats.checked >= count) break;
        stats.generated++;
        if (!outcome.accepted) stats.rejected++;
        else if (outcome.excluded !== undefined) stats.excluded++;
        else stats.checked++;
        if (!outcome.accepted || outcome.excluded !== undefined) continue;
        if (outcome.present) stats.present++;
        if (outcome.jsChecked) stats.jsChecked++;
        if (outcome.failures.length > 0) failing.push({ c: cases[i]!, failures: outcome.failures });
      }
    }
    const summary = `seed ${seed}: ${JSON.stringify(stats)}, checked in ${
      Math.round(performance.now() - started)
    } ms`;
    console.log(
      `ini fuzz: ${summary} (jsChecked: files where the JS SDK's checks on our profile applied)`,
    );
    assert.equal(stats.checked, count, `botocore accepted too few generated files (${summary})`);
    assert(stats.excluded <= count * 0.01, `too many files out of scope (${summary})`);
    assert(stats.present >= count * 0.5, `too few files hold our profile (${summary})`);
    assert(stats.jsChecked >= count * 0.5, `the JS SDK checks applied too rarely (${summary})`);

    if (failing.length > 0) {
      // Each kind of failure (file and property), with its failing cases in order.
      const classes = new Map<string, { property: string; cases: Case[] }>();
      for (const { c, failures } of failing) {
        for (const { property } of failures) {
          const key = `${c.kind}: ${property}`;
          const known = classes.get(key) ?? { property, cases: [] };
          known.cases.push(c);
          classes.set(key, known);
        }
      }
      for (const [key, { property, cases }] of [...classes].sort()) {
        for (const c of cases.slice(0, shrinkCount)) {
          const minimal = await shrink(c, property, oracle, dir);
          const failure = minimal.outcome.failures.find((f) => f.property === property);
          console.log(
            `\n${key} (${cases.length} files; case ${c.index}, FUZZ_SEED=${seed}); minimal:\n` +
              JSON.stringify({
                property,
                file: c.kind,
                profile: c.profile,
                text: minimal.c.text,
                edited: minimal.outcome.edited,
                writing: c.kind === "config"
                  ? { region: c.region, output: c.output }
                  : { accountId: c.credentials.accountId },
                detail: failure?.detail,
              }),
          );
        }
      }
      assert.fail(
        `${failing.length} of ${count} files failed (${summary}):\n` +
          [...classes].map(([key, { cases }]) => `  ${key}: ${cases.length} files`).join("\n"),
      );
    }
  } finally {
    await oracle?.close();
    await Deno.remove(dir, { recursive: true });
  }
});
