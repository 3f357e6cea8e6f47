/**
 * `credential_process` support: the JSON the SDKs expect (`Version` 1), the
 * cache the running helper keeps for it, the command line written into the
 * profile, and the `credential-helper credential-process` command itself,
 * which answers from the cache without touching the network while the cached
 * credentials have more than 15 minutes left (botocore asks again whenever
 * fewer remain), and otherwise fetches once from the source.
 *
 * @module
 */

import { replaceFile, type ReplaceResult } from "./atomic_file.ts";
import { type Clock, systemClock } from "./clock.ts";
import { type Credentials, parseCredentials } from "./credentials.ts";
import { CONTAINER_HTTP_HOSTS, endpointUrlProblem } from "./endpoint.ts";
import { IMDS_HTTP_HOSTS } from "./imds.ts";
import { Logger } from "./log.ts";
import { sourceClient } from "./source.ts";
import type { Target } from "./target.ts";

/** Cached credentials with more than this left are answered without a fetch. */
export const FRESH_ENOUGH_MS = 15 * 60 * 1000;
/** The largest cache file read. */
const MAX_CACHE_BYTES = 64 * 1024;

/** The `credential_process` output for `credentials`: one line of JSON. */
export function processOutput(credentials: Credentials): string {
  return JSON.stringify({
    Version: 1,
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    SessionToken: credentials.sessionToken,
    Expiration: credentials.expiration.toISOString(),
    ...(credentials.accountId === undefined ? {} : { AccountId: credentials.accountId }),
  });
}

/** Write the cache, atomically and with the target's exact file mode. */
export async function writeCache(
  path: string,
  credentials: Credentials,
  options: { mode: number; signal?: AbortSignal },
): Promise<ReplaceResult> {
  return await replaceFile(path, new TextEncoder().encode(processOutput(credentials) + "\n"), {
    mode: options.mode,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}

/** The cached credentials, when the cache exists, parses and has not expired. */
export async function readCache(path: string, now: Date): Promise<Credentials | undefined> {
  let text: string;
  try {
    // Only a file this uid wrote and nobody else can change: not a symlink,
    // a FIFO (which would block the SDK forever), another uid's, or writable
    // by the group or others.
    const info = await Deno.lstat(path);
    const self = Deno.uid();
    if (
      !info.isFile || info.nlink !== 1 || (self !== null && info.uid !== self) ||
      ((info.mode ?? 0) & 0o022) !== 0
    ) {
      return undefined;
    }
    const file = await Deno.open(path, { read: true });
    try {
      const buffer = new Uint8Array(MAX_CACHE_BYTES);
      let size = 0;
      for (;;) {
        const read = await file.read(buffer.subarray(size));
        if (read === null || read === 0) break;
        size += read;
        if (size === buffer.byteLength) return undefined;
      }
      text = new TextDecoder().decode(buffer.subarray(0, size));
    } finally {
      file.close();
    }
  } catch {
    return undefined;
  }
  try {
    const body = JSON.parse(text);
    if (body?.Version !== 1) return undefined;
    return parseCredentials(body, now);
  } catch {
    return undefined;
  }
}

/**
 * Whether `credentials` can be handed out without asking the source: more
 * than {@linkcode FRESH_ENOUGH_MS} left.
 */
export function freshEnough(credentials: Credentials, now: Date): boolean {
  return credentials.expiration.getTime() - now.getTime() > FRESH_ENOUGH_MS;
}

// What shlex (botocore) and a POSIX shell (the JS SDK runs it through one)
// both read as one word without quotes.
const PLAIN_WORD = /^[A-Za-z0-9_\/.:=@%+,-]+$/;

/** Quote `word` for both botocore's shlex.split and /bin/sh. */
export function quoteWord(word: string): string {
  return PLAIN_WORD.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `credential_process` command line for `target`: the running program
 * (the binary, or `deno run` with this checkout's permission set), and every
 * setting the command needs, since the application runs it with its own
 * environment, working directory and HOME.
 */
export function processCommandLine(target: Target, program: readonly string[]): string {
  const source = target.source;
  const args = [
    ...program,
    "credential-process",
    "--profile",
    target.profile,
    "--credential-process-cache",
    target.credentialProcess!.cache,
  ];
  if (source.kind === "imds") {
    args.push("--imds-endpoint", source.endpoint.origin);
    if (source.instanceProfileName !== undefined) {
      args.push("--instance-profile-name", source.instanceProfileName);
    }
  } else {
    args.push("--endpoint", source.endpoint.href);
    if (source.authorization.kind === "file") {
      args.push("--authorization-token-file", source.authorization.path);
    }
  }
  const hosts = source.kind === "imds" ? IMDS_HTTP_HOSTS : CONTAINER_HTTP_HOSTS;
  if (endpointUrlProblem(source.endpoint, false, hosts) !== undefined) {
    args.push("--allow-insecure-endpoint", "true");
  }
  // The files are never written by this command; these keep it from needing HOME.
  args.push("--credentials-file", target.credentialsFile, "--config-file", target.configFile);
  return args.map(quoteWord).join(" ");
}

/**
 * How this program is run: the compiled binary alone, or `deno run` with
 * the checkout's deno.json (its permission set) and main.ts, by absolute
 * path, so the command works from any directory.
 */
export function currentProgram(mainModule: string, execPath: string, v8Flags: string): string[] {
  const compiled = !/\/deno$/.test(execPath);
  if (compiled) return [execPath];
  const main = new URL(mainModule).pathname;
  const root = main.slice(0, main.lastIndexOf("/"));
  return [execPath, "run", "--quiet", "-P", `--config=${root}/deno.json`, v8Flags, main];
}

/**
 * The `credential-process` command: print the credentials JSON on stdout
 * and exit 0, or one line on stderr and exit 1. Secrets go to stdout only.
 */
export async function credentialProcessCommand(
  target: Target,
  clock: Pick<Clock, "now"> = systemClock,
): Promise<number> {
  const now = new Date(clock.now());
  const cache = target.credentialProcess?.cache;
  if (cache !== undefined) {
    const cached = await readCache(cache, now);
    if (cached !== undefined && freshEnough(cached, now)) {
      await writeStdout(processOutput(cached) + "\n");
      return 0;
    }
  }
  // Used only to scrub secrets from an error message; it prints nothing.
  const quiet = new Logger({ sink: () => {} });
  let credentials: Credentials;
  try {
    credentials = await sourceClient(target, quiet).fetchCredentials();
  } catch (error) {
    const reason = quiet.scrub(error instanceof Error ? error.message : String(error));
    console.error(`credential-helper credential-process: ${reason}`);
    return 1;
  }
  if (cache !== undefined) {
    try {
      await writeCache(cache, credentials, { mode: target.fileMode });
    } catch (error) {
      // The credentials are good; only the next call will have to fetch too.
      console.error(
        `credential-helper credential-process: cache not updated: ${
          quiet.redact(error instanceof Error ? error.message : String(error))
        }`,
      );
    }
  }
  await writeStdout(processOutput(credentials) + "\n");
  return 0;
}

async function writeStdout(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.byteLength;) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
}
