/**
 * Write one profile's credentials and settings into the two AWS shared
 * files: read each, edit only our keys with {@linkcode upsertSection}, and
 * replace it with {@linkcode replaceFile}.
 *
 * @module
 */

import {
  type FileSystem,
  FileWriteError,
  type ReplaceFileOptions,
  type ReplaceMode,
  type ReplaceResult,
  updateFile,
} from "./atomic_file.ts";
import type { Credentials } from "./credentials.ts";
import type { FileQueue } from "./file_queue.ts";
import {
  configSection,
  credentialsSection,
  readSection,
  type SectionTarget,
  upsertSection,
} from "./shared_file.ts";

/** Where and how to write. */
export interface ProfileWriterOptions {
  readonly profile: string;
  readonly credentialsFile: string;
  readonly configFile: string;
  readonly region: string;
  /** When true, a region already in the profile is kept: `region` is only a default. */
  readonly regionIsDefault?: boolean;
  /** `output` for the config file; not written when undefined. */
  readonly output: string | undefined;
  readonly fileMode: number;
  readonly writeMode: ReplaceMode;
  /** The profile that runs `credential_process`, when one is written. */
  readonly credentialProcess?: { readonly profile: string | undefined } | undefined;
  /** Its command line. */
  readonly processLine?: string | undefined;
  /** Default: the real file system. */
  readonly fs?: FileSystem;
}

/** What happened to each file. */
export interface WriteOutcome {
  readonly credentials: ReplaceResult;
  readonly config: ReplaceResult;
}

// fatal: a lossy decode would rewrite bytes of other profiles; ignoreBOM: keep a BOM as it is.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

function decode(path: string, bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return "";
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new FileWriteError(path, "it is not UTF-8 text; refusing to edit it", { cause });
  }
}

// botocore prefers aws_security_token over aws_session_token when both are
// present, so a stale one would shadow every fresh token we write.
const STALE_KEYS = ["aws_security_token"];

/**
 * The credentials file's new text: `text` with `credentials` set in `profile`'s
 * section. Pure.
 */
export function renderCredentialsFile(
  text: string,
  profile: string,
  credentials: Credentials,
): string {
  const set: Array<[string, string]> = [
    ["aws_access_key_id", credentials.accessKeyId],
    ["aws_secret_access_key", credentials.secretAccessKey],
    ["aws_session_token", credentials.sessionToken],
  ];
  const remove = [...STALE_KEYS];
  if (credentials.accountId !== undefined) set.push(["aws_account_id", credentials.accountId]);
  else remove.push("aws_account_id");
  return upsertSection(text, credentialsSection(profile), { set, remove });
}

/** The config file's new text: `text` with region (and output) in `profile`'s section. Pure. */
export function renderConfigFile(
  text: string,
  profile: string,
  region: string,
  output: string | undefined,
  regionIsDefault = false,
): string {
  const set: Array<[string, string]> = [["region", region]];
  if (output !== undefined) set.push(["output", output]);
  return upsertSection(text, configSection(profile), {
    set,
    keepExisting: regionIsDefault ? ["region"] : [],
  });
}

/**
 * The config file's new text with `profile` running `line` as its
 * `credential_process`, and a region where it has none. Pure.
 */
export function renderProcessProfile(
  text: string,
  profile: string,
  line: string,
  region: string,
): string {
  return upsertSection(text, configSection(profile), {
    set: [["credential_process", line], ["region", region]],
    keepExisting: ["region"],
  });
}

/**
 * Write `credentials` into both files. The config file goes first: it holds
 * no secret and rarely changes, so a failure there leaves the credentials
 * file exactly as it was.
 *
 * @throws {FileWriteError} when either file cannot be written
 */
export async function writeProfile(
  credentials: Credentials,
  options: ProfileWriterOptions,
  context: { readonly signal?: AbortSignal; readonly queue?: FileQueue } = {},
): Promise<WriteOutcome> {
  const replace: ReplaceFileOptions = {
    mode: options.fileMode,
    writeMode: options.writeMode,
    ...fsOption(options),
    ...(context.signal === undefined ? {} : { signal: context.signal }),
  };
  // Within the process, one write at a time per file (targets may share one).
  const queued = <T>(path: string, task: () => Promise<T>) =>
    context.queue === undefined ? task() : context.queue.run(path, task);
  const config = await queued(options.configFile, () =>
    updateText(
      options.configFile,
      (text) => {
        const ours = renderConfigFile(
          text,
          options.profile,
          options.region,
          options.output,
          options.regionIsDefault ?? false,
        );
        const processProfile = options.credentialProcess?.profile;
        if (processProfile === undefined || options.processLine === undefined) return ours;
        return renderProcessProfile(ours, processProfile, options.processLine, options.region);
      },
      replace,
    ));
  const written = await queued(options.credentialsFile, () =>
    updateText(
      options.credentialsFile,
      (text) => renderCredentialsFile(text, options.profile, credentials),
      replace,
    ));
  return { credentials: written, config };
}

/**
 * What is wrong with the files for `credentials`, as botocore would read
 * them, or `undefined` when both hold exactly what we wrote: the three keys
 * (and the account id) in the credentials file, the region (and output) in
 * the config file. Pure.
 */
export function profileProblem(
  files: { readonly credentials: string | undefined; readonly config: string | undefined },
  options: Pick<ProfileWriterOptions, "profile" | "region" | "output" | "regionIsDefault">,
  credentials: Credentials,
): string | undefined {
  const expect = (
    file: string,
    text: string | undefined,
    section: ReturnType<typeof credentialsSection>,
    /** Expected values; `true`: any value, as long as there is one. */
    keys: Array<[string, string | undefined | true]>,
  ): string | undefined => {
    if (text === undefined) return `${file} file is missing`;
    let found: Map<string, string> | undefined;
    try {
      found = readSection(text, section);
    } catch (error) {
      return `${file} file is unreadable: ${error instanceof Error ? error.message : error}`;
    }
    if (found === undefined) return `${file} file has no [${section.header}] section`;
    for (const [key, value] of keys) {
      const ok = value === true ? found.has(key) : found.get(key) === value;
      if (!ok) return `${file} file's [${section.header}] ${key} changed`;
    }
    return undefined;
  };
  return expect("credentials", files.credentials, credentialsSection(options.profile), [
    ["aws_access_key_id", credentials.accessKeyId],
    ["aws_secret_access_key", credentials.secretAccessKey],
    ["aws_session_token", credentials.sessionToken],
    ["aws_security_token", undefined],
    ["aws_account_id", credentials.accountId],
  ]) ?? expect("config", files.config, configSection(options.profile), [
    ["region", options.regionIsDefault ? true : options.region],
    ...(options.output === undefined ? [] : [["output", options.output] as [string, string]]),
  ]);
}

/** The profile's config-file keys as botocore reads them; `undefined` when it has none. */
export function readProfileConfig(
  options: Pick<ProfileWriterOptions, "profile" | "configFile">,
): Promise<Map<string, string> | undefined> {
  return readProfileSection(options.configFile, configSection(options.profile));
}

/** A profile's credentials-file keys as botocore reads them; `undefined` when it has none. */
export function readProfileCredentials(
  path: string,
  profile: string,
): Promise<Map<string, string> | undefined> {
  return readProfileSection(path, credentialsSection(profile));
}

async function readProfileSection(
  path: string,
  section: SectionTarget,
): Promise<Map<string, string> | undefined> {
  try {
    return readSection(await Deno.readTextFile(path), section);
  } catch {
    return undefined; // Missing or unreadable: the writer reports that.
  }
}

/** {@linkcode profileProblem} for the files on disk. */
export async function checkProfile(
  credentials: Credentials,
  options: ProfileWriterOptions,
): Promise<string | undefined> {
  const read = async (path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  };
  const files = {
    credentials: await read(options.credentialsFile),
    config: await read(options.configFile),
  };
  return profileProblem(files, options, credentials);
}

/** {@linkcode updateFile} on text: decode strictly, edit, encode. */
function updateText(
  path: string,
  edit: (text: string) => string,
  options: ReplaceFileOptions,
): Promise<ReplaceResult> {
  return updateFile(path, (current) => encoder.encode(edit(decode(path, current))), options);
}

function fsOption(options: ProfileWriterOptions): { fs?: FileSystem } {
  return options.fs === undefined ? {} : { fs: options.fs };
}
