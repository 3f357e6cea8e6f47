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
import { configSection, credentialsSection, upsertSection } from "./shared_file.ts";

/** Where and how to write. */
export interface ProfileWriterOptions {
  readonly profile: string;
  readonly credentialsFile: string;
  readonly configFile: string;
  readonly region: string;
  /** `output` for the config file; not written when undefined. */
  readonly output: string | undefined;
  readonly fileMode: number;
  readonly writeMode: ReplaceMode;
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
): string {
  const set: Array<[string, string]> = [["region", region]];
  if (output !== undefined) set.push(["output", output]);
  return upsertSection(text, configSection(profile), { set });
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
): Promise<WriteOutcome> {
  const replace = { mode: options.fileMode, writeMode: options.writeMode, ...fsOption(options) };
  const config = await updateText(
    options.configFile,
    (text) => renderConfigFile(text, options.profile, options.region, options.output),
    replace,
  );
  const written = await updateText(
    options.credentialsFile,
    (text) => renderCredentialsFile(text, options.profile, credentials),
    replace,
  );
  return { credentials: written, config };
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
