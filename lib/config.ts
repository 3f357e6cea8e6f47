/**
 * Parse and validate the environment and command line into one frozen,
 * typed {@linkcode Config}. The only module that knows variable names; it
 * reads nothing but the values it is handed.
 *
 * @module
 */

import type { ReplaceMode } from "./atomic_file.ts";
import { type AuthorizationSource, ECS_ENDPOINT_BASE, endpointUrlProblem } from "./endpoint.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import { VERSION } from "./version.ts";

/** The subcommands. */
export type Command = "run" | "once" | "healthcheck" | "help" | "version";

/** Everything the program needs to know, validated. */
export interface Config {
  readonly command: Command;
  readonly endpoint: URL;
  readonly authorization: AuthorizationSource;
  readonly refreshIntervalSeconds: number;
  readonly refreshBeforeExpirySeconds: number;
  readonly region: string;
  readonly output: string | undefined;
  readonly profile: string;
  readonly credentialsFile: string;
  readonly configFile: string;
  readonly listenPort: number;
  readonly listenAddress: string;
  readonly fileMode: number;
  readonly writeMode: ReplaceMode;
  readonly allowInsecureEndpoint: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** `healthcheck --wait SECONDS`: keep probing until ready or this many seconds pass. */
  readonly healthcheckWaitSeconds: number;
}

/** A variable, its default as shown in `--help`, and what it means. */
export interface VariableDoc {
  readonly name: string;
  readonly default: string;
  readonly help: string;
}

/** Every environment variable read, in `--help` order. */
export const VARIABLES: readonly VariableDoc[] = [
  {
    name: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    default: "http://localhost:8080/creds",
    help: "credentials endpoint",
  },
  {
    name: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    default: "unset",
    help: `ECS form, appended to ${ECS_ENDPOINT_BASE}; wins over FULL_URI`,
  },
  {
    name: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    default: "unset",
    help: "file holding the Authorization header, re-read on every fetch; wins over the next",
  },
  { name: "AWS_CONTAINER_AUTHORIZATION_TOKEN", default: "unset", help: "Authorization header" },
  { name: "AWS_REFRESH_INTERVAL", default: "900", help: "seconds between refreshes, ≥ 1" },
  {
    name: "REFRESH_BEFORE_EXPIRY",
    default: "300",
    help: "seconds; always refresh at least this long before Expiration",
  },
  { name: "AWS_REGION", default: "us-east-2", help: "region written to config; wins over next" },
  { name: "AWS_DEFAULT_REGION", default: "us-east-2", help: "region written to config" },
  { name: "AWS_DEFAULT_OUTPUT", default: "unset", help: "output written to config when set" },
  { name: "AWS_PROFILE", default: "default", help: "profile to write" },
  {
    name: "AWS_SHARED_CREDENTIALS_FILE",
    default: "$HOME/.aws/credentials",
    help: "credentials file",
  },
  { name: "AWS_CONFIG_FILE", default: "$HOME/.aws/config", help: "config file" },
  { name: "LISTEN_PORT", default: "3000", help: "health listener port; 3000 or :3000" },
  { name: "LISTEN_ADDRESS", default: "0.0.0.0", help: "health listener address" },
  { name: "CREDENTIALS_FILE_MODE", default: "0600", help: "octal mode of both files" },
  {
    name: "WRITE_MODE",
    default: "atomic",
    help: "atomic (temp file + rename) or inplace (same inode; readers may see a partial file)",
  },
  {
    name: "ALLOW_INSECURE_ENDPOINT",
    default: "false",
    help: "permit plain http to hosts other than loopback and the AWS agents",
  },
  { name: "LOG_LEVEL", default: "info", help: "debug, info, warn or error" },
  { name: "LOG_FORMAT", default: "text", help: "text or json" },
  { name: "HOME", default: "(from the system)", help: "base of the default file paths" },
];

/** Thrown for a bad value; the message is the one line printed before exit 2. */
export class ConfigError extends Error {
  /** Create the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The text printed by `--help`. */
export function helpText(): string {
  const width = Math.max(...VARIABLES.map((v) => v.name.length));
  const lines = [
    `credential-helper ${VERSION}`,
    "Keeps AWS shared credential files fresh from a container credentials endpoint.",
    "",
    "Usage:",
    "  credential-helper [run]       refresh loop plus health listener, until SIGTERM/SIGINT",
    "  credential-helper once        fetch and write once, then exit (0 written, 1 failed)",
    "  credential-helper healthcheck [--wait SECONDS]",
    "                                GET http://127.0.0.1:$LISTEN_PORT/readyz; 0 on 200, 1 otherwise",
    "  credential-helper --help | --version",
    "",
    "Exit status 2 means bad configuration; nothing was touched.",
    "",
    "Environment (default in brackets):",
    ...VARIABLES.map((v) => `  ${v.name.padEnd(width)}  ${v.help} [${v.default}]`),
    "",
    "Health listener: GET /healthz, /readyz, /metrics. SIGHUP refreshes now.",
  ];
  return lines.join("\n");
}

type Env = (name: string) => string | undefined;

/** Options for {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /** Command-line arguments, without the program name. Default `[]`. */
  args?: readonly string[];
}

/**
 * Build the {@linkcode Config} from an environment lookup and arguments.
 *
 * An empty variable counts as unset, as in most container tooling.
 *
 * @throws {ConfigError} naming the variable, the value and what is allowed
 */
export function parseConfig(env: Env, options: ParseConfigOptions = {}): Config {
  const get = (name: string): string | undefined => {
    const value = env(name);
    return value === undefined || value === "" ? undefined : value;
  };
  const { command, healthcheckWaitSeconds } = parseCommandLine(options.args ?? []);

  const allowInsecureEndpoint = parseBoolean("ALLOW_INSECURE_ENDPOINT", get, false);
  const endpoint = parseEndpoint(get, allowInsecureEndpoint);
  const authorization = parseAuthorization(get);
  const refreshIntervalSeconds = parseWholeNumber("AWS_REFRESH_INTERVAL", get, 900, 1);
  const refreshBeforeExpirySeconds = parseWholeNumber("REFRESH_BEFORE_EXPIRY", get, 300, 0);

  const regionVariable = get("AWS_REGION") !== undefined ? "AWS_REGION" : "AWS_DEFAULT_REGION";
  const region = get(regionVariable) ?? "us-east-2";
  if (!/^[a-z]{2}(-[a-z0-9]+)+-\d+$/.test(region)) {
    throw bad(regionVariable, region, "a region name such as us-east-2");
  }
  const output = get("AWS_DEFAULT_OUTPUT");
  const outputs = ["json", "text", "table", "yaml", "yaml-stream"];
  if (output !== undefined && !outputs.includes(output)) {
    throw bad("AWS_DEFAULT_OUTPUT", output, outputs.join(", "));
  }

  const profile = get("AWS_PROFILE") ?? "default";
  if (!/^[A-Za-z0-9_.@+-]{1,64}$/.test(profile)) {
    throw bad(
      "AWS_PROFILE",
      profile,
      "1 to 64 characters from A-Z a-z 0-9 _ . @ + -",
    );
  }
  // Python's configparser reads [DEFAULT] as defaults inherited by every
  // section, and the JS SDK refuses a file with [__proto__].
  if (
    (profile.toLowerCase() === "default" && profile !== "default") ||
    RESERVED_PROFILES.includes(profile)
  ) {
    throw bad(
      "AWS_PROFILE",
      profile,
      `a name other than ${[...RESERVED_PROFILES, "DEFAULT"].join(", ")} (any case but "default")`,
    );
  }

  const home = get("HOME");
  const defaultPath = (file: string, variable: string): string => {
    if (home === undefined) {
      throw new ConfigError(`HOME is not set, so ${variable} must be set to an absolute path`);
    }
    return `${home.replace(/\/+$/, "")}/.aws/${file}`;
  };
  const credentialsFile = parsePath("AWS_SHARED_CREDENTIALS_FILE", get) ??
    defaultPath("credentials", "AWS_SHARED_CREDENTIALS_FILE");
  const configFile = parsePath("AWS_CONFIG_FILE", get) ?? defaultPath("config", "AWS_CONFIG_FILE");
  if (credentialsFile === configFile) {
    throw bad(
      "AWS_CONFIG_FILE",
      configFile,
      "a path other than AWS_SHARED_CREDENTIALS_FILE",
    );
  }

  const listenPort = parsePort(get);
  const listenAddress = get("LISTEN_ADDRESS") ?? "0.0.0.0";
  if (!/^[0-9.]+$|^[0-9a-fA-F:]+$|^localhost$/.test(listenAddress)) {
    throw bad("LISTEN_ADDRESS", listenAddress, "an IPv4 or IPv6 address, or localhost");
  }

  const fileModeText = get("CREDENTIALS_FILE_MODE") ?? "0600";
  if (!/^0?[0-7]{3}$/.test(fileModeText)) {
    throw bad("CREDENTIALS_FILE_MODE", fileModeText, "an octal mode such as 0600 or 0640");
  }
  const fileMode = parseInt(fileModeText, 8);
  if ((fileMode & 0o600) !== 0o600 || (fileMode & 0o133) !== 0) {
    throw bad(
      "CREDENTIALS_FILE_MODE",
      fileModeText,
      "a mode that lets the owner read and write, and grants no execute and no write to others (0600, 0640, 0644)",
    );
  }

  const writeMode = parseChoice("WRITE_MODE", get, ["atomic", "inplace"] as const, "atomic");
  const logLevel = parseChoice("LOG_LEVEL", get, LOG_LEVELS, "info");
  const logFormat = parseChoice("LOG_FORMAT", get, LOG_FORMATS, "text");

  return Object.freeze({
    command,
    endpoint,
    authorization: Object.freeze(authorization),
    refreshIntervalSeconds,
    refreshBeforeExpirySeconds,
    region,
    output,
    profile,
    credentialsFile,
    configFile,
    listenPort,
    listenAddress,
    fileMode,
    writeMode,
    allowInsecureEndpoint,
    logLevel,
    logFormat,
    healthcheckWaitSeconds,
  });
}

/** The command line, parsed. */
export interface CommandLine {
  readonly command: Command;
  readonly healthcheckWaitSeconds: number;
}

/**
 * Parse the command line alone, so `--help` and `--version` work whatever
 * the environment holds.
 *
 * @throws {ConfigError} on an unknown command or flag
 */
export function parseCommandLine(args: readonly string[]): CommandLine {
  // Hand-parsed: node:util's parseArgs would load Node's compatibility layer
  // for four flags (see README "Footprint").
  const positionals: string[] = [];
  let waitText: string | undefined;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--help" || arg === "-h") return { command: "help", healthcheckWaitSeconds: 0 };
    if (arg === "--version" || arg === "-V") {
      return { command: "version", healthcheckWaitSeconds: 0 };
    }
    if (arg === "--wait" || arg.startsWith("--wait=")) {
      waitText = arg === "--wait" ? args[++index] : arg.slice("--wait=".length);
      if (waitText === undefined) throw new ConfigError("bad command line: --wait needs a value");
    } else if (arg.startsWith("-")) {
      throw new ConfigError(`bad command line: unknown option "${arg}"`);
    } else {
      positionals.push(arg);
    }
  }
  const [first, ...rest] = positionals;
  const commands = ["run", "once", "healthcheck"];
  if (first !== undefined && !commands.includes(first)) {
    throw new ConfigError(
      `unknown command "${first}"; expected run, once, healthcheck, --help or --version`,
    );
  }
  if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}"`);
  const command = (first ?? "run") as Command;
  if (waitText !== undefined && command !== "healthcheck") {
    throw new ConfigError("--wait is only valid with the healthcheck command");
  }
  let healthcheckWaitSeconds = 0;
  if (waitText !== undefined) {
    if (!/^\d{1,5}$/.test(waitText)) {
      throw new ConfigError(`--wait must be a whole number of seconds, got "${waitText}"`);
    }
    healthcheckWaitSeconds = Number(waitText);
  }
  return { command, healthcheckWaitSeconds };
}

function bad(variable: string, value: string, allowed: string): ConfigError {
  return new ConfigError(`${variable} must be ${allowed}, got ${JSON.stringify(value)}`);
}

function parseEndpoint(get: Env, allowInsecure: boolean): URL {
  const relative = get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const variable = relative !== undefined
    ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    : "AWS_CONTAINER_CREDENTIALS_FULL_URI";
  const text = relative !== undefined
    ? ECS_ENDPOINT_BASE + (relative.startsWith("/") ? "" : "/") + relative
    : get(variable) ?? "http://localhost:8080/creds";
  if (!URL.canParse(text)) throw bad(variable, relative ?? text, "an absolute http or https URI");
  const url = new URL(text);
  const problem = endpointUrlProblem(url, allowInsecure);
  if (problem !== undefined) {
    throw new ConfigError(`${variable} is not allowed: ${problem}, got ${JSON.stringify(text)}`);
  }
  return url;
}

function parseAuthorization(get: Env): AuthorizationSource {
  const path = get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  if (path !== undefined) return { kind: "file", path };
  const token = get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (token === undefined) return { kind: "none" };
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(token)) {
    // The value is a secret: name the problem, never echo it.
    throw new ConfigError(
      "AWS_CONTAINER_AUTHORIZATION_TOKEN must not contain line breaks or control characters",
    );
  }
  return { kind: "value", token };
}

function parseWholeNumber(variable: string, get: Env, fallback: number, min: number): number {
  const text = get(variable);
  if (text === undefined) return fallback;
  // A week is far beyond any credential lifetime; the cap keeps timers sane.
  const max = 7 * 24 * 3600;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw bad(variable, text, `a whole number of seconds from ${min} to ${max}`);
  }
  return Number(text);
}

function parsePort(get: Env): number {
  const text = get("LISTEN_PORT");
  if (text === undefined) return 3000;
  const digits = text.startsWith(":") ? text.slice(1) : text;
  if (!/^\d{1,5}$/.test(digits) || Number(digits) < 1 || Number(digits) > 65535) {
    throw bad("LISTEN_PORT", text, "a port from 1 to 65535, as 3000 or :3000");
  }
  return Number(digits);
}

/** Profile names that the JS SDK or JavaScript objects treat specially. */
const RESERVED_PROFILES = ["__proto__", "constructor", "prototype"];

/**
 * A file path as botocore reads it: a leading `~` and `$HOME` (or `${HOME}`)
 * are expanded. What botocore would expand from elsewhere (`~user`, other
 * variables) and relative paths, which would depend on the working
 * directory, are refused.
 */
function parsePath(variable: string, get: Env): string | undefined {
  const text = get(variable);
  if (text === undefined) return undefined;
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f]/.test(text) || text.endsWith("/")) {
    throw bad(variable, text, "a file path without control characters or a trailing slash");
  }
  const home = get("HOME")?.replace(/\/+$/, "");
  const usesHome = /^~(\/|$)/.test(text) || /\$(HOME\b|\{HOME\})/.test(text);
  if (usesHome && home === undefined) {
    throw bad(variable, text, "a path that does not use ~ or $HOME, since HOME is not set");
  }
  const expanded = text.replace(/^~(?=\/|$)/, home ?? "").replaceAll(
    /\$(?:\{HOME\}|HOME\b)/g,
    home ?? "",
  );
  if (/^~|\$/.test(expanded)) {
    throw bad(variable, text, "an absolute path; only a leading ~ and $HOME are expanded");
  }
  if (!expanded.startsWith("/")) {
    throw bad(variable, text, "an absolute path (or one starting with ~ or $HOME)");
  }
  return expanded;
}

function parseBoolean(variable: string, get: Env, fallback: boolean): boolean {
  const text = get(variable);
  if (text === undefined) return fallback;
  const lower = text.toLowerCase();
  if (lower === "true" || lower === "1" || lower === "yes") return true;
  if (lower === "false" || lower === "0" || lower === "no") return false;
  throw bad(variable, text, "true or false");
}

function parseChoice<T extends string>(
  variable: string,
  get: Env,
  choices: readonly T[],
  fallback: T,
): T {
  const text = get(variable);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw bad(variable, text, choices.join(" or "));
  }
  return text as T;
}
