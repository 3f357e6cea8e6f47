/**
 * Parse and validate the command line, the environment and the optional
 * JSON config file into one frozen, typed {@linkcode Config}. The only
 * module that knows variable, flag and key names; it reads nothing but the
 * values it is handed.
 *
 * Every setting is declared once in {@linkcode SETTINGS}: its config-file
 * key, variable, flag, default, help text and parser. That one table drives
 * parsing, `--help`, deno.json's env permission and the README check.
 *
 * @module
 */

import type { ReplaceMode } from "./atomic_file.ts";
import { type AuthorizationSource, ECS_ENDPOINT_BASE, endpointUrlProblem } from "./endpoint.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import { IMDS_HTTP_HOSTS, IMDS_MODE_ENDPOINTS } from "./imds.ts";
import { NOTIFY_SIGNALS, type NotifyConfig, type NotifySignal, parseCommand } from "./notify.ts";
import type { CredentialProcessConfig, Source, Target } from "./target.ts";
import { VERSION } from "./version.ts";

/** The subcommands. */
export type Command = "run" | "once" | "healthcheck" | "credential-process" | "help" | "version";

/** Everything the program needs to know, validated. */
export interface Config {
  readonly command: Command;
  /** One per profile; exactly one without a config file. */
  readonly targets: readonly Target[];
  readonly listenPort: number;
  readonly listenAddress: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** `healthcheck --wait SECONDS`: keep probing until ready or this many seconds pass. */
  readonly healthcheckWaitSeconds: number;
  /** The config file, when one was given. */
  readonly configFile: string | undefined;
  /** Variables set in the environment that the config file overrides, for a warning. */
  readonly ignoredVariables: readonly string[];
}

/** Thrown for a bad value; the message is the one line printed before exit 2. */
export class ConfigError extends Error {
  /** Create the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Where a setting applies: the whole process, or each target (a config-file profile may override it). */
type Scope = "process" | "target";

/** One setting: every name it goes by, its default and how its text is read. */
export interface Setting {
  /** Config-file key. */
  readonly key: string;
  /** Environment variables, highest precedence first. */
  readonly variables: readonly string[];
  /** Command-line flag, `--kebab-case`. */
  readonly flag: string;
  /** The default, as shown in `--help` and the README. */
  readonly default: string;
  readonly help: string;
  readonly scope: Scope;
  /** JSON type in the config file; `command`: an array of strings, or a string. */
  readonly type: "string" | "integer" | "boolean" | "command";
  /** A secret: its value is never echoed in an error. */
  readonly secret?: boolean;
}

/** A week is far beyond any credential lifetime; the cap keeps timers sane. */
const MAX_SECONDS = 7 * 24 * 3600;

/** Every setting, in `--help` order. */
export const SETTINGS: readonly Setting[] = [
  {
    key: "endpoint",
    variables: ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
    flag: "--endpoint",
    default: "http://localhost:8080/creds",
    help: "credentials endpoint",
    scope: "target",
    type: "string",
  },
  {
    key: "relative_uri",
    variables: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
    flag: "--relative-uri",
    default: "unset",
    help: `ECS form, appended to ${ECS_ENDPOINT_BASE}; wins over the endpoint`,
    scope: "target",
    type: "string",
  },
  {
    key: "authorization_token_file",
    variables: ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"],
    flag: "--authorization-token-file",
    default: "unset",
    help: "file holding the Authorization header, re-read on every fetch; wins over the next",
    scope: "target",
    type: "string",
  },
  {
    key: "authorization_token",
    variables: ["AWS_CONTAINER_AUTHORIZATION_TOKEN"],
    flag: "--authorization-token",
    default: "unset",
    help: "Authorization header",
    scope: "target",
    type: "string",
    secret: true,
  },
  {
    key: "source",
    variables: [],
    flag: "--source",
    default: "container",
    help: "container or imds; without it, imds when only IMDS settings are given",
    scope: "target",
    type: "string",
  },
  {
    key: "imds_endpoint",
    variables: ["AWS_EC2_METADATA_SERVICE_ENDPOINT"],
    flag: "--imds-endpoint",
    default: "unset",
    help: "IMDSv2 endpoint, e.g. http://127.0.0.1:9911 (aws_signing_helper serve); selects IMDS",
    scope: "target",
    type: "string",
  },
  {
    key: "imds_endpoint_mode",
    variables: ["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"],
    flag: "--imds-endpoint-mode",
    default: "unset",
    help: "IPv4 (http://169.254.169.254) or IPv6 (http://[fd00:ec2::254]); selects IMDS",
    scope: "target",
    type: "string",
  },
  {
    key: "instance_profile_name",
    variables: ["AWS_EC2_INSTANCE_PROFILE_NAME"],
    flag: "--instance-profile-name",
    default: "unset",
    help: "IMDS role to ask for; default: the first one the service lists",
    scope: "target",
    type: "string",
  },
  {
    key: "refresh_interval",
    variables: ["AWS_REFRESH_INTERVAL"],
    flag: "--refresh-interval",
    default: "900",
    help: `seconds between refreshes, 1 to ${MAX_SECONDS}`,
    scope: "target",
    type: "integer",
  },
  {
    key: "refresh_before_expiry",
    variables: ["REFRESH_BEFORE_EXPIRY"],
    flag: "--refresh-before-expiry",
    default: "300",
    help: `seconds, 0 to ${MAX_SECONDS}; refresh at least this long before Expiration`,
    scope: "target",
    type: "integer",
  },
  {
    key: "region",
    variables: ["AWS_REGION", "AWS_DEFAULT_REGION"],
    flag: "--region",
    default: "us-east-2",
    help: "region written to config; AWS_REGION wins over AWS_DEFAULT_REGION",
    scope: "target",
    type: "string",
  },
  {
    key: "output",
    variables: ["AWS_DEFAULT_OUTPUT"],
    flag: "--output",
    default: "unset",
    help: "output written to config when set",
    scope: "target",
    type: "string",
  },
  {
    key: "profile",
    variables: ["AWS_PROFILE"],
    flag: "--profile",
    default: "default",
    help: "profile to write",
    scope: "target",
    type: "string",
  },
  {
    key: "credentials_file",
    variables: ["AWS_SHARED_CREDENTIALS_FILE"],
    flag: "--credentials-file",
    default: "$HOME/.aws/credentials",
    help: "credentials file; ~ and $HOME expanded, relative paths refused",
    scope: "target",
    type: "string",
  },
  {
    key: "config_file",
    variables: ["AWS_CONFIG_FILE"],
    flag: "--config-file",
    default: "$HOME/.aws/config",
    help: "config file; same rule",
    scope: "target",
    type: "string",
  },
  {
    key: "notify_pid_file",
    variables: ["NOTIFY_PID_FILE"],
    flag: "--notify-pid-file",
    default: "unset",
    help: "file holding the pid to signal after the files change; re-read each time",
    scope: "target",
    type: "string",
  },
  {
    key: "notify_signal",
    variables: ["NOTIFY_SIGNAL"],
    flag: "--notify-signal",
    default: "SIGHUP",
    help: "signal sent to that pid: SIGHUP, SIGUSR1, SIGUSR2, SIGTERM or SIGINT",
    scope: "target",
    type: "string",
  },
  {
    key: "notify_command",
    variables: ["NOTIFY_COMMAND"],
    flag: "--notify-command",
    default: "unset",
    help: 'command run after the files change, no shell: ["/bin/prog","arg"] or words',
    scope: "target",
    type: "command",
  },
  {
    key: "credential_process_profile",
    variables: ["CREDENTIAL_PROCESS_PROFILE"],
    flag: "--credential-process-profile",
    default: "unset",
    help: "also write this profile with credential_process = credential-helper credential-process",
    scope: "target",
    type: "string",
  },
  {
    key: "credential_process_cache",
    variables: ["CREDENTIAL_PROCESS_CACHE"],
    flag: "--credential-process-cache",
    default: "beside the credentials file",
    help: "the cache credential-process answers from; kept when the profile above is set",
    scope: "target",
    type: "string",
  },
  {
    key: "listen_port",
    variables: ["LISTEN_PORT"],
    flag: "--listen-port",
    default: "3000",
    help: "health listener port, 1 to 65535; 3000 or :3000",
    scope: "process",
    type: "integer",
  },
  {
    key: "listen_address",
    variables: ["LISTEN_ADDRESS"],
    flag: "--listen-address",
    default: "0.0.0.0",
    help: "health listener address",
    scope: "process",
    type: "string",
  },
  {
    key: "file_mode",
    variables: ["CREDENTIALS_FILE_MODE"],
    flag: "--file-mode",
    default: "0600",
    help: "octal mode of both files: 0600, 0640 or 0644",
    scope: "target",
    type: "string",
  },
  {
    key: "write_mode",
    variables: ["WRITE_MODE"],
    flag: "--write-mode",
    default: "atomic",
    help: "atomic (temp file + rename) or inplace (same inode; readers may see a partial file)",
    scope: "target",
    type: "string",
  },
  {
    key: "allow_insecure_endpoint",
    variables: ["ALLOW_INSECURE_ENDPOINT"],
    flag: "--allow-insecure-endpoint",
    default: "false",
    help: "permit plain http to hosts other than loopback and the AWS agents",
    scope: "target",
    type: "boolean",
  },
  {
    key: "log_level",
    variables: ["LOG_LEVEL"],
    flag: "--log-level",
    default: "info",
    help: "debug, info, warn or error",
    scope: "process",
    type: "string",
  },
  {
    key: "log_format",
    variables: ["LOG_FORMAT"],
    flag: "--log-format",
    default: "text",
    help: "text or json",
    scope: "process",
    type: "string",
  },
];

/** The variable naming the config file, and its flag. */
export const CONFIG_VARIABLE = "CREDENTIAL_HELPER_CONFIG";
const CONFIG_FLAG = "--config";

/** A variable, its default as shown in `--help`, and what it means. */
export interface VariableDoc {
  readonly name: string;
  readonly default: string;
  readonly help: string;
}

/** Every environment variable read, in `--help` order. */
export const VARIABLES: readonly VariableDoc[] = [
  ...SETTINGS.flatMap((setting) =>
    setting.variables.map((name) => ({ name, default: setting.default, help: setting.help }))
  ),
  {
    name: CONFIG_VARIABLE,
    default: "unset",
    help: "JSON file defining several profiles (see README); --config mirrors it",
  },
  { name: "HOME", default: "(from the system)", help: "base of the default file paths" },
  { name: "PATH", default: "(from the system)", help: "where NOTIFY_COMMAND's program is found" },
];

/** The text printed by `--help`. */
export function helpText(): string {
  const names = SETTINGS.map((s) => `${s.flag}, ${s.variables.join(", ")}`);
  const width = Math.max(...names.map((n) => n.length));
  const lines = [
    `credential-helper ${VERSION}`,
    "Keeps AWS shared credential files fresh from a container credentials endpoint.",
    "",
    "Usage:",
    "  credential-helper [run]       refresh loop plus health listener, until SIGTERM/SIGINT",
    "  credential-helper once        fetch and write once, then exit (0 written, 1 failed)",
    "  credential-helper credential-process [--profile P]",
    "                                print the credential_process JSON, from the cache when fresh",
    "  credential-helper healthcheck [--wait SECONDS]",
    "                                GET http://127.0.0.1:$LISTEN_PORT/readyz; 0 on 200, 1 otherwise",
    "  credential-helper --help | --version",
    "",
    "Exit status 2 means bad configuration; nothing was touched.",
    "",
    "Settings: flag, environment variable (default in brackets). A flag wins over its variable.",
    ...SETTINGS.map((s, i) => `  ${names[i]!.padEnd(width)}  ${s.help} [${s.default}]`),
    `  ${`${CONFIG_FLAG}, ${CONFIG_VARIABLE}`.padEnd(width)}  ${VARIABLES.at(-2)!.help} [unset]`,
    `  ${"HOME".padEnd(width)}  base of the default file paths [(from the system)]`,
    `  ${"PATH".padEnd(width)}  where NOTIFY_COMMAND's program is found [(from the system)]`,
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
  /** Reads the config file. Default: a regular file of at most 1 MiB, else an error. */
  readFile?: (path: string) => string;
}

/** A raw setting value and the name to blame when it is bad. */
interface Raw {
  readonly text: string;
  /** The variable, flag or key path that gave it. */
  readonly name: string;
}

/** Raw values by setting key. */
type RawValues = ReadonlyMap<string, Raw>;

/**
 * Build the {@linkcode Config} from an environment lookup, the command line
 * and, when `CREDENTIAL_HELPER_CONFIG` or `--config` names one, a JSON file.
 *
 * An empty variable counts as unset, as in most container tooling. A flag
 * wins over its variable. With a config file, the file (and flags) define
 * everything; variables of settings it holds are ignored and listed in
 * {@linkcode Config.ignoredVariables}, so the caller can warn.
 *
 * @throws {ConfigError} naming the variable, flag or key path, the value and what is allowed
 */
export function parseConfig(env: Env, options: ParseConfigOptions = {}): Config {
  const get = (name: string): string | undefined => {
    const value = env(name);
    return value === undefined || value === "" ? undefined : value;
  };
  const line = parseCommandLine(options.args ?? []);
  const home = get("HOME");

  const fromEnv = new Map<string, Raw>();
  // credential-process runs in the application's environment, whose
  // variables (LOG_LEVEL=INFO, AWS_REGION=aws-global, …) are not ours: its
  // command line carries every setting it needs.
  const settingsFromEnv = line.command !== "credential-process";
  for (const setting of settingsFromEnv ? SETTINGS : []) {
    const name = setting.variables.find((variable) => get(variable) !== undefined);
    if (name !== undefined) fromEnv.set(setting.key, { text: get(name)!, name });
  }
  // Where a flag names the source, the environment's source variables
  // (perhaps the application's own, for credential-process) do not mix in.
  if (SOURCE_KEYS.some((key) => line.flags.has(key))) {
    for (const key of SOURCE_KEYS) fromEnv.delete(key);
  }
  const configFile = line.configFile ?? (settingsFromEnv ? get(CONFIG_VARIABLE) : undefined);
  if (configFile === undefined) {
    const raw = new Map([...fromEnv, ...line.flags]);
    const process = parseProcessSettings(raw);
    return Object.freeze({
      command: line.command,
      healthcheckWaitSeconds: line.healthcheckWaitSeconds,
      ...process,
      targets: Object.freeze([parseTarget(raw, home)]),
      configFile: undefined,
      ignoredVariables: Object.freeze([]),
    });
  }
  const file = readConfigFile(configFile, home, options.readFile ?? readRegularFile);
  const ignoredVariables = SETTINGS.flatMap((setting) =>
    setting.variables.filter((variable) => get(variable) !== undefined)
  );
  // With a config file, credential-process's --profile picks one of its profiles.
  const pick = line.command === "credential-process" ? line.flags.get("profile") : undefined;
  for (const key of [...(pick === undefined ? ["profile"] : []), ...SOURCE_KEYS]) {
    const flag = line.flags.get(key);
    if (flag !== undefined) {
      throw new ConfigError(
        `${flag.name} cannot be combined with a config file; set it per profile in ${
          JSON.stringify(configFile)
        }`,
      );
    }
  }
  const top = new Map([...line.flags].filter(([key]) => key !== "profile"));
  for (const [key, value] of file.top) if (!top.has(key)) top.set(key, value);
  const process = parseProcessSettings(top);
  const targets = file.profiles.map(([profile, entry]) => {
    const raw = new Map([...top, ...entry]);
    raw.set("profile", { text: profile, name: `profiles.${profile}` });
    return parseTarget(raw, home);
  });
  checkTargetsApart(targets);
  const picked = pick === undefined ? targets : targets.filter((t) => t.profile === pick.text);
  if (picked.length === 0) {
    throw bad(
      pick!,
      `one of the config file's profiles (${targets.map((t) => t.profile).join(", ")})`,
    );
  }
  return Object.freeze({
    command: line.command,
    healthcheckWaitSeconds: line.healthcheckWaitSeconds,
    ...process,
    targets: Object.freeze(picked),
    configFile,
    ignoredVariables: Object.freeze(ignoredVariables),
  });
}

function parseProcessSettings(raw: RawValues) {
  return {
    listenPort: parsePort(raw.get("listen_port")),
    listenAddress: parseListenAddress(raw.get("listen_address")),
    logLevel: parseChoice(raw.get("log_level"), LOG_LEVELS, "info"),
    logFormat: parseChoice(raw.get("log_format"), LOG_FORMATS, "text"),
  };
}

function parseTarget(raw: RawValues, home: string | undefined): Target {
  const source = parseSource(raw);
  const refreshIntervalSeconds = parseWholeNumber(raw.get("refresh_interval"), 900, 1);
  const refreshBeforeExpirySeconds = parseWholeNumber(raw.get("refresh_before_expiry"), 300, 0);

  const regionRaw = raw.get("region");
  const region = regionRaw?.text ?? "us-east-2";
  if (regionRaw !== undefined && !/^[a-z]{2,}(-[a-z0-9]+)+-\d+$/.test(region)) {
    throw bad(regionRaw, "a region name such as us-east-2");
  }
  const outputRaw = raw.get("output");
  const outputs = ["json", "text", "table", "yaml", "yaml-stream"];
  if (outputRaw !== undefined && !outputs.includes(outputRaw.text)) {
    throw bad(outputRaw, outputs.join(", "));
  }
  const profile = parseProfile(raw.get("profile"));

  const defaultPath = (file: string, setting: string): string => {
    if (home === undefined) {
      throw new ConfigError(`HOME is not set, so ${setting} must be set to an absolute path`);
    }
    return `${home.replace(/\/+$/, "")}/.aws/${file}`;
  };
  const credentialsFile = parsePath(raw.get("credentials_file"), home) ??
    defaultPath("credentials", "AWS_SHARED_CREDENTIALS_FILE");
  const configRaw = raw.get("config_file");
  const configFile = parsePath(configRaw, home) ?? defaultPath("config", "AWS_CONFIG_FILE");
  if (credentialsFile === configFile) {
    throw bad(
      configRaw ?? { name: "AWS_CONFIG_FILE", text: configFile },
      "a path other than AWS_SHARED_CREDENTIALS_FILE",
    );
  }

  const modeRaw = raw.get("file_mode");
  const fileModeText = modeRaw?.text ?? "0600";
  if (!/^0?[0-7]{3}$/.test(fileModeText)) {
    throw bad(modeRaw!, "an octal mode such as 0600 or 0640");
  }
  const fileMode = parseInt(fileModeText, 8);
  if ((fileMode & 0o600) !== 0o600 || (fileMode & 0o133) !== 0) {
    throw bad(
      modeRaw!,
      "a mode that lets the owner read and write, and grants no execute and no write to others (0600, 0640, 0644)",
    );
  }
  const writeMode: ReplaceMode = parseChoice(
    raw.get("write_mode"),
    ["atomic", "inplace"] as const,
    "atomic",
  );
  const notify = parseNotify(raw, home);
  const credentialProcess = parseCredentialProcess(raw, home, profile, credentialsFile, source);
  if (
    credentialProcess !== undefined &&
    [credentialsFile, configFile].includes(credentialProcess.cache)
  ) {
    throw bad(
      raw.get("credential_process_cache") ??
        { name: "CREDENTIAL_PROCESS_CACHE", text: credentialProcess.cache },
      "a file other than the credentials and config files",
    );
  }
  return Object.freeze({
    profile,
    source,
    refreshIntervalSeconds,
    refreshBeforeExpirySeconds,
    region,
    regionIsDefault: regionRaw === undefined,
    output: outputRaw?.text,
    credentialsFile,
    configFile,
    fileMode,
    writeMode,
    notify,
    credentialProcess,
  });
}

function parseNotify(raw: RawValues, home: string | undefined): NotifyConfig {
  const signalRaw = raw.get("notify_signal");
  let signal: NotifySignal = "SIGHUP";
  if (signalRaw !== undefined) {
    const name = signalRaw.text.toUpperCase().replace(/^(SIG)?/, "SIG");
    const known = NOTIFY_SIGNALS.find((s) => s === name);
    if (known === undefined) throw bad(signalRaw, "SIGHUP, SIGUSR1, SIGUSR2, SIGTERM or SIGINT");
    signal = known;
  }
  const commandRaw = raw.get("notify_command");
  let command: string[] | undefined;
  if (commandRaw !== undefined) {
    command = parseCommand(commandRaw.text);
    if (command === undefined) {
      throw bad(commandRaw, 'a program and its arguments, as ["/path/prog","arg"] or words');
    }
  }
  return Object.freeze({
    pidFile: parsePath(raw.get("notify_pid_file"), home),
    signal,
    command: command === undefined ? undefined : Object.freeze(command),
  });
}

function parseCredentialProcess(
  raw: RawValues,
  home: string | undefined,
  profile: string,
  credentialsFile: string,
  source: Source,
): CredentialProcessConfig | undefined {
  const profileRaw = raw.get("credential_process_profile");
  const cacheRaw = raw.get("credential_process_cache");
  if (profileRaw === undefined && cacheRaw === undefined) return undefined;
  const processProfile = profileRaw === undefined ? undefined : parseProfile(profileRaw);
  // Static keys win over credential_process in every SDK: the same profile
  // would silently never run it.
  if (processProfile === profile) {
    throw new ConfigError(
      `${
        profileRaw!.name
      } must differ from the profile the keys are written to ("${profile}"): static keys would shadow credential_process`,
    );
  }
  if (
    processProfile !== undefined && source.kind === "container" &&
    source.authorization.kind === "value"
  ) {
    throw new ConfigError(
      `${
        profileRaw!.name
      } needs the authorization token in a file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE): the credential_process command line is readable by every local user`,
    );
  }
  const directory = credentialsFile.slice(0, credentialsFile.lastIndexOf("/")) || "/";
  const cache = parsePath(cacheRaw, home) ??
    `${directory === "/" ? "" : directory}/.credential-helper-cache.${profile}.json`;
  return Object.freeze({ profile: processProfile, cache });
}

/** Profiles that the JS SDK or JavaScript objects treat specially: every Object.prototype name. */
const RESERVED_PROFILES = [
  "__proto__",
  "constructor",
  "prototype",
  ...Object.getOwnPropertyNames(Object.prototype).filter((name) =>
    !["__proto__", "constructor"].includes(name)
  ),
];

function parseProfile(raw: Raw | undefined): string {
  const profile = raw?.text ?? "default";
  if (raw === undefined) return profile;
  if (!/^[A-Za-z0-9_.@+-]{1,64}$/.test(profile)) {
    throw bad(raw, "1 to 64 characters from A-Z a-z 0-9 _ . @ + -");
  }
  // Python's configparser reads [DEFAULT] as defaults inherited by every
  // section, and the JS SDK refuses a file with [__proto__].
  if (
    (profile.toLowerCase() === "default" && profile !== "default") ||
    RESERVED_PROFILES.includes(profile)
  ) {
    throw bad(
      raw,
      'a name other than DEFAULT (in any case but "default") and the JavaScript object names (__proto__, constructor, prototype, toString, …)',
    );
  }
  return profile;
}

/** Two targets may share a file, but never a section, and no file is both kinds. */
function checkTargetsApart(targets: readonly Target[]): void {
  const profiles = new Set(targets.map((t) => t.profile));
  const processProfiles = new Set<string>();
  for (const target of targets) {
    const processProfile = target.credentialProcess?.profile;
    if (processProfile === undefined) continue;
    if (profiles.has(processProfile) || processProfiles.has(processProfile)) {
      throw new ConfigError(
        `profiles.${target.profile}.credential_process_profile must name a profile no other entry writes, got ${
          JSON.stringify(processProfile)
        }`,
      );
    }
    processProfiles.add(processProfile);
  }
  const credentials = new Set(targets.map((t) => t.credentialsFile));
  const files = new Set([...credentials, ...targets.map((t) => t.configFile)]);
  const caches = new Set<string>();
  for (const target of targets) {
    const cache = target.credentialProcess?.cache;
    if (cache === undefined) continue;
    // Another profile's cache would hand out another role's credentials.
    if (files.has(cache) || caches.has(cache)) {
      throw new ConfigError(
        `profiles.${target.profile}.credential_process_cache must be a file of its own, got ${
          JSON.stringify(cache)
        }`,
      );
    }
    caches.add(cache);
  }
  for (const target of targets) {
    if (credentials.has(target.configFile)) {
      throw new ConfigError(
        `profiles.${target.profile}.config_file must not be another profile's credentials file, got ${
          JSON.stringify(target.configFile)
        }`,
      );
    }
  }
}

/** Settings that would collide if every profile shared them. */
const PER_PROFILE_KEYS = ["credential_process_profile", "credential_process_cache"];
/** Settings of the container source. */
const CONTAINER_KEYS = [
  "endpoint",
  "relative_uri",
  "authorization_token_file",
  "authorization_token",
];
/** Settings of the IMDS source. */
const IMDS_KEYS = ["imds_endpoint", "imds_endpoint_mode", "instance_profile_name"];
/** Settings that say where a profile's credentials come from. */
const SOURCE_KEYS = ["source", ...CONTAINER_KEYS, ...IMDS_KEYS];

/** The config file's content: top-level raw values and each profile's. */
interface ConfigFile {
  readonly top: Map<string, Raw>;
  readonly profiles: Array<[string, Map<string, Raw>]>;
}

/** The largest config file read. */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** Read a config file; a FIFO or a device would hang the start or fill memory. */
function readRegularFile(path: string): string {
  const info = Deno.statSync(path);
  if (!info.isFile) throw new Error("it is not a regular file");
  if (info.size > MAX_CONFIG_FILE_BYTES) throw new Error("it is larger than 1 MiB");
  return Deno.readTextFileSync(path);
}

function readConfigFile(
  path: string,
  home: string | undefined,
  readFile: (path: string) => string,
): ConfigFile {
  const where = { name: CONFIG_VARIABLE, text: path };
  const resolved = parsePath(where, home)!;
  let text: string;
  try {
    text = readFile(resolved);
  } catch (error) {
    throw new ConfigError(
      `${CONFIG_VARIABLE} ${JSON.stringify(path)} cannot be read: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
  if (text.length > MAX_CONFIG_FILE_BYTES) {
    throw new ConfigError(`${CONFIG_VARIABLE} ${JSON.stringify(path)} is larger than 1 MiB`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // Only where: the parser's own message may quote the text around it, a
    // token perhaps.
    const at = /line \d+ column \d+/.exec(error instanceof Error ? error.message : "")?.[0];
    throw new ConfigError(
      `${CONFIG_VARIABLE} ${JSON.stringify(path)} is not JSON${at === undefined ? "" : ` (${at})`}`,
    );
  }
  if (!isObject(json)) {
    throw new ConfigError(`${CONFIG_VARIABLE} ${JSON.stringify(path)} must hold a JSON object`);
  }
  const topKeys = new Set(SETTINGS.filter((s) => s.key !== "profile").map((s) => s.key));
  // The source, and what names a profile or a cache, belong to each profile.
  for (const key of [...SOURCE_KEYS, ...PER_PROFILE_KEYS]) topKeys.delete(key);
  const top = rawValues(json, "", topKeys, new Set(["profiles"]));
  const profilesJson = json["profiles"];
  if (!isObject(profilesJson) || Object.keys(profilesJson).length === 0) {
    throw new ConfigError(
      `profiles must be an object with at least one profile, in ${JSON.stringify(path)}`,
    );
  }
  const profileKeys = new Set(
    SETTINGS.filter((s) => s.scope === "target" && s.key !== "profile").map((s) => s.key),
  );
  const profiles = Object.entries(profilesJson).map(([name, entry]): [string, Map<string, Raw>] => {
    parseProfile({ text: name, name: "profiles" });
    if (!isObject(entry)) {
      throw new ConfigError(`profiles.${name} must be an object, got ${typeName(entry)}`);
    }
    return [name, rawValues(entry, `profiles.${name}.`, profileKeys, new Set())];
  });
  return { top, profiles };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** The settings of one JSON object, as raw text, refusing unknown keys and wrong types. */
function rawValues(
  object: Record<string, unknown>,
  prefix: string,
  allowed: ReadonlySet<string>,
  skip: ReadonlySet<string>,
): Map<string, Raw> {
  const values = new Map<string, Raw>();
  for (const [key, value] of Object.entries(object)) {
    if (skip.has(key)) continue;
    const name = prefix + key;
    const setting = SETTINGS.find((s) => s.key === key);
    if (setting === undefined || !allowed.has(key)) {
      const keys = [...allowed, ...skip].sort().join(", ");
      throw new ConfigError(`${name} is not a known key here; allowed: ${keys}`);
    }
    const shown = setting.secret ? "(secret, not shown)" : JSON.stringify(value);
    const ok = setting.type === "integer"
      ? Number.isInteger(value)
      : setting.type === "boolean"
      ? typeof value === "boolean"
      : setting.type === "command"
      ? typeof value === "string" ||
        (Array.isArray(value) && value.every((word) => typeof word === "string"))
      : typeof value === "string";
    if (!ok) {
      const expected = setting.type === "integer"
        ? "a whole number"
        : setting.type === "command"
        ? "an array of strings"
        : `a ${setting.type}`;
      throw new ConfigError(`${name} must be ${expected}, got ${typeName(value)} ${shown}`);
    }
    values.set(key, { text: Array.isArray(value) ? JSON.stringify(value) : String(value), name });
  }
  return values;
}

/** The command line, parsed. */
export interface CommandLine {
  readonly command: Command;
  readonly healthcheckWaitSeconds: number;
  /** Setting values given as flags, by setting key. */
  readonly flags: ReadonlyMap<string, Raw>;
  /** `--config PATH`. */
  readonly configFile: string | undefined;
}

const COMMANDS = ["run", "once", "healthcheck", "credential-process"];

/**
 * Parse the command line alone, so `--help` and `--version` work whatever
 * the environment holds.
 *
 * @throws {ConfigError} on an unknown command or flag
 */
export function parseCommandLine(args: readonly string[]): CommandLine {
  // Hand-parsed: node:util's parseArgs would load Node's compatibility layer
  // (see README "Footprint").
  const positionals: string[] = [];
  const flags = new Map<string, Raw>();
  let waitText: string | undefined;
  let configFile: string | undefined;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--help" || arg === "-h") return helpOrVersion("help");
    if (arg === "--version" || arg === "-V") return helpOrVersion("version");
    if (!arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    const value = () => {
      const text = equals === -1 ? args[++index] : arg.slice(equals + 1);
      if (text === undefined) throw new ConfigError(`bad command line: ${flag} needs a value`);
      return text;
    };
    const setting = SETTINGS.find((s) => s.flag === flag);
    if (flag === "--wait") waitText = value();
    else if (flag === CONFIG_FLAG) configFile = value();
    else if (setting !== undefined) {
      const text = value();
      if (text !== "") flags.set(setting.key, { text, name: flag });
    } else {
      const command = COMMANDS.find((c) => flag === `--${c}`);
      const hint = command === undefined ? "" : `; did you mean "${command}"?`;
      throw new ConfigError(`bad command line: unknown option "${arg}"${hint}`);
    }
  }
  const [first, ...rest] = positionals;
  if (first === "help" || first === "version") return helpOrVersion(first);
  if (first !== undefined && !COMMANDS.includes(first)) {
    throw new ConfigError(
      `unknown command "${first}"; expected run, once, healthcheck, credential-process, help or version`,
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
  return { command, healthcheckWaitSeconds, flags, configFile };
}

function helpOrVersion(command: "help" | "version"): CommandLine {
  return { command, healthcheckWaitSeconds: 0, flags: new Map(), configFile: undefined };
}

function bad(raw: Raw, allowed: string): ConfigError {
  return new ConfigError(`${raw.name} must be ${allowed}, got ${JSON.stringify(raw.text)}`);
}

/**
 * The source, as the SDKs' default chain picks it: the container endpoint
 * when any of its settings is given (it wins over IMDS settings), else IMDS
 * when any of those is, else the default container endpoint. `source` makes
 * the choice explicit; the other kind's settings are then refused.
 */
function parseSource(raw: RawValues): Source {
  const allowInsecure = parseBoolean(raw.get("allow_insecure_endpoint"), false);
  const explicit = raw.get("source");
  if (explicit !== undefined && explicit.text !== "container" && explicit.text !== "imds") {
    throw bad(explicit, "container or imds");
  }
  // As in the SDKs, the URI selects the container source; a token alone does not.
  const container = ["endpoint", "relative_uri"].some((key) => raw.has(key));
  const imds = IMDS_KEYS.some((key) => raw.has(key));
  const kind = explicit?.text ?? (container || !imds ? "container" : "imds");
  const foreignKeys = kind === "imds"
    ? (explicit === undefined ? ["endpoint", "relative_uri"] : CONTAINER_KEYS)
    : explicit === undefined
    ? []
    : IMDS_KEYS;
  const foreign = foreignKeys.map((key) => raw.get(key)).find((value) => value !== undefined);
  if (foreign !== undefined) {
    throw new ConfigError(`${foreign.name} cannot be used with source ${kind}`);
  }
  if (kind === "container") {
    return Object.freeze({
      kind: "container" as const,
      endpoint: parseEndpoint(raw, allowInsecure),
      authorization: Object.freeze(parseAuthorization(raw)),
    });
  }
  return Object.freeze({
    kind: "imds" as const,
    endpoint: parseImdsEndpoint(raw, allowInsecure),
    instanceProfileName: parseRoleName(raw.get("instance_profile_name")),
  });
}

function parseImdsEndpoint(raw: RawValues, allowInsecure: boolean): URL {
  const modeRaw = raw.get("imds_endpoint_mode");
  const endpointRaw = raw.get("imds_endpoint");
  let text = IMDS_MODE_ENDPOINTS.IPv4 as string;
  let source: Raw = endpointRaw ?? modeRaw ?? { name: "AWS_EC2_METADATA_SERVICE_ENDPOINT", text };
  if (endpointRaw !== undefined) text = endpointRaw.text;
  else if (modeRaw !== undefined) {
    // The SDKs compare the mode without regard to case.
    const mode = Object.keys(IMDS_MODE_ENDPOINTS).find((m) =>
      m.toLowerCase() === modeRaw.text.toLowerCase()
    ) as keyof typeof IMDS_MODE_ENDPOINTS | undefined;
    if (mode === undefined) throw bad(modeRaw, "IPv4 or IPv6");
    text = IMDS_MODE_ENDPOINTS[mode];
    source = modeRaw;
  }
  if (!URL.canParse(text)) throw bad(source, "an absolute http or https URI");
  const url = new URL(text);
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "") {
    throw bad(source, "a scheme, host and port only, such as http://127.0.0.1:9911");
  }
  const problem = endpointUrlProblem(url, allowInsecure, IMDS_HTTP_HOSTS);
  if (problem !== undefined) {
    throw new ConfigError(`${source.name} is not allowed: ${problem}, got ${JSON.stringify(text)}`);
  }
  return url;
}

function parseRoleName(raw: Raw | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^[\w+=,.@-]{1,128}$/.test(raw.text)) {
    throw bad(raw, "an IAM role name (1 to 128 of A-Z a-z 0-9 + = , . @ _ -)");
  }
  return raw.text;
}

function parseEndpoint(raw: RawValues, allowInsecure: boolean): URL {
  const relative = raw.get("relative_uri");
  const full = raw.get("endpoint");
  const text = relative !== undefined
    ? ECS_ENDPOINT_BASE + (relative.text.startsWith("/") ? "" : "/") + relative.text
    : full?.text ?? "http://localhost:8080/creds";
  const source = relative ?? full ?? { name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", text };
  if (!URL.canParse(text)) throw bad(source, "an absolute http or https URI");
  const url = new URL(text);
  const problem = endpointUrlProblem(url, allowInsecure);
  if (problem !== undefined) {
    // A password in the URI is a secret: never echoed.
    const shown = url.password === "" ? text : text.replace(`:${url.password}@`, ":***@");
    throw new ConfigError(
      `${source.name} is not allowed: ${problem}, got ${JSON.stringify(shown)}`,
    );
  }
  return url;
}

function parseAuthorization(raw: RawValues): AuthorizationSource {
  const path = raw.get("authorization_token_file");
  if (path !== undefined) return { kind: "file", path: path.text };
  const token = raw.get("authorization_token");
  if (token === undefined) return { kind: "none" };
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(token.text)) {
    // The value is a secret: name the problem, never echo it.
    throw new ConfigError(`${token.name} must not contain line breaks or control characters`);
  }
  return { kind: "value", token: token.text };
}

function parseWholeNumber(raw: Raw | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw.text);
  if (!/^\d+$/.test(raw.text) || value < min || value > MAX_SECONDS) {
    throw bad(raw, `a whole number of seconds from ${min} to ${MAX_SECONDS}`);
  }
  return value;
}

function parsePort(raw: Raw | undefined): number {
  if (raw === undefined) return 3000;
  const digits = raw.text.startsWith(":") ? raw.text.slice(1) : raw.text;
  if (!/^\d{1,5}$/.test(digits) || Number(digits) < 1 || Number(digits) > 65535) {
    throw bad(raw, "a port from 1 to 65535, as 3000 or :3000");
  }
  return Number(digits);
}

function parseListenAddress(raw: Raw | undefined): string {
  if (raw === undefined) return "0.0.0.0";
  if (!/^[0-9.]+$|^[0-9a-fA-F:]+$|^localhost$/.test(raw.text)) {
    throw bad(raw, "an IPv4 or IPv6 address, or localhost");
  }
  return raw.text;
}

/**
 * A file path as botocore reads it: a leading `~` and `$HOME` (or `${HOME}`)
 * are expanded. What botocore would expand from elsewhere (`~user`, other
 * variables) and relative paths, which would depend on the working
 * directory, are refused.
 */
function parsePath(raw: Raw | undefined, home: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const text = raw.text;
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f]/.test(text) || text.endsWith("/")) {
    throw bad(raw, "a file path without control characters or a trailing slash");
  }
  const base = home?.replace(/\/+$/, "");
  const usesHome = /^~(\/|$)/.test(text) || /\$(HOME\b|\{HOME\})/.test(text);
  if (usesHome && base === undefined) {
    throw bad(raw, "a path that does not use ~ or $HOME, since HOME is not set");
  }
  const expanded = text.replace(/^~(?=\/|$)/, base ?? "").replaceAll(
    /\$(?:\{HOME\}|HOME\b)/g,
    base ?? "",
  );
  if (/^~|\$/.test(expanded)) {
    throw bad(raw, "an absolute path; only a leading ~ and $HOME are expanded");
  }
  if (!expanded.startsWith("/")) {
    throw bad(raw, "an absolute path (or one starting with ~ or $HOME)");
  }
  return expanded;
}

function parseBoolean(raw: Raw | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  const lower = raw.text.toLowerCase();
  if (lower === "true" || lower === "1" || lower === "yes") return true;
  if (lower === "false" || lower === "0" || lower === "no") return false;
  throw bad(raw, "true or false");
}

function parseChoice<T extends string>(
  raw: Raw | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw.text)) {
    throw bad(raw, choices.join(" or "));
  }
  return raw.text as T;
}
