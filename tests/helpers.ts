/**
 * Shared pieces of the end-to-end tests: spawn `deno run -P main.ts` (the
 * permission set the compiled binary gets) with a controlled environment,
 * collect its log lines, and wait for things without fixed sleeps.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./support/fake_endpoint.ts";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every log line and HTTP body any helper produced in this test process, for leak checks. */
export const transcript: string[] = [];

// Deno would otherwise create its cache under each test's HOME. World-writable,
// so a helper run as another uid can use it too.
let sharedDenoDir: string | undefined;
function denoDir(): string {
  if (sharedDenoDir === undefined) {
    sharedDenoDir = Deno.makeTempDirSync({ prefix: "credential-helper-deno-dir-" });
    Deno.chmodSync(sharedDenoDir, 0o777);
  }
  return sharedDenoDir;
}

/** A running helper process. */
export interface HelperProcess {
  readonly child: Deno.ChildProcess;
  /** stderr lines so far. */
  readonly lines: string[];
  /** stdout text so far. */
  stdout(): string;
  /** Resolve with the first line matching `pattern` (including ones already seen). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Count of lines matching `pattern`. */
  count(pattern: RegExp): number;
  kill(signal?: Deno.Signal): void;
  /** Exit code, once it has exited. */
  readonly status: Promise<Deno.CommandStatus>;
}

/**
 * How every test runs the program: `-P` loads deno.json's "default"
 * permission set, and the V8 flags are the Makefile's V8_FLAGS, both as
 * `deno compile` bakes them into the binary (tests/packaging_test.ts checks).
 */
export const DENO_RUN_ARGS = ["run", "--quiet", "-P", "--v8-flags=--jitless,--lite-mode"] as const;

/** A copy of the program and the Deno runtime that any uid can run. */
export interface NonRootRuntime {
  /** A 0755 directory holding everything below. */
  readonly base: string;
  readonly deno: string;
  readonly main: string;
  /** A 0777 DENO_DIR. */
  readonly denoDir: string;
  remove(): Promise<void>;
}

/**
 * Copy main.ts, lib/ and deno.json, and link the Deno binary, into a
 * world-traversable temp directory: the checkout's own directories may not
 * be open to other uids.
 */
export async function prepareNonRootRuntime(): Promise<NonRootRuntime> {
  const base = await Deno.makeTempDir({ prefix: "credential-helper-nonroot-" });
  await Deno.chmod(base, 0o755);
  const app = join(base, "app");
  await Deno.mkdir(join(app, "lib"), { recursive: true });
  for (const file of ["main.ts", "deno.json"]) {
    await Deno.copyFile(join(ROOT, file), join(app, file));
  }
  for await (const entry of Deno.readDir(join(ROOT, "lib"))) {
    await Deno.copyFile(join(ROOT, "lib", entry.name), join(app, "lib", entry.name));
  }
  await Deno.chmod(app, 0o755);
  await Deno.chmod(join(app, "lib"), 0o755);
  const deno = join(base, "deno");
  await Deno.link(Deno.execPath(), deno).catch(() => Deno.copyFile(Deno.execPath(), deno));
  await Deno.chmod(deno, 0o755);
  const denoDir = join(base, "deno-dir");
  await Deno.mkdir(denoDir);
  await Deno.chmod(denoDir, 0o777);
  return {
    base,
    deno,
    main: join(app, "main.ts"),
    denoDir,
    remove: () => Deno.remove(base, { recursive: true }),
  };
}

/** Options for {@linkcode spawnHelper}. */
export interface SpawnOptions {
  args?: string[];
  /** Run the process as this uid, gid and supplementary groups through setpriv (root only). */
  asUser?: { uid: number; gid: number; groups?: number[]; runtime: NonRootRuntime };
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered !== "") onLine(buffered);
}

/** Start the helper with exactly `env` (plus PATH) as its environment. */
export function spawnHelper(
  env: Record<string, string>,
  options: SpawnOptions = {},
): HelperProcess {
  const user = options.asUser;
  const denoArgs = [...DENO_RUN_ARGS, user?.runtime.main ?? join(ROOT, "main.ts")];
  denoArgs.push(...(options.args ?? []));
  const [command, args] = user === undefined ? [Deno.execPath(), denoArgs] : [
    "setpriv",
    [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      user.groups === undefined ? "--clear-groups" : `--groups=${user.groups.join(",")}`,
      "--inh-caps=-all",
      user.runtime.deno,
      ...denoArgs,
    ],
  ];
  const child = new Deno.Command(command, {
    args,
    cwd: user?.runtime.base ?? ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DENO_DIR: user?.runtime.denoDir ?? denoDir(),
      DENO_NO_UPDATE_CHECK: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let stdout = "";
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const stderrDone = collect(child.stderr, (line) => {
    lines.push(line);
    transcript.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const stdoutDone = collect(child.stdout, (line) => {
    stdout += line + "\n";
    transcript.push(line);
  });
  const status = Promise.all([child.status, stderrDone, stdoutDone]).then(([s]) => s);
  return {
    child,
    lines,
    stdout: () => stdout,
    status,
    count: (pattern) => lines.filter((l) => pattern.test(l)).length,
    kill(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    },
    waitForLine(pattern, timeoutMs = 15_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(
            new Error(
              `no line matching ${pattern} within ${timeoutMs} ms; got:\n${lines.join("\n")}`,
            ),
          );
        }, timeoutMs);
        const waiter = {
          pattern,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
      });
    },
  };
}

/**
 * The environment of a helper with its HOME at `home`, talking to
 * `endpointUrl`, listening on a free loopback port (in `LISTEN_PORT`).
 */
export function helperEnv(
  home: string,
  endpointUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> & { LISTEN_PORT: string } {
  return {
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: endpointUrl,
    LISTEN_PORT: String(freePort()),
    LISTEN_ADDRESS: "127.0.0.1",
    ...extra,
  };
}

/** Run the helper to completion. */
export async function runHelper(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<{ code: number; stdout: string; stderr: string[] }> {
  const helper = spawnHelper(env, options);
  const status = await helper.status;
  return { code: status.code, stdout: helper.stdout(), stderr: helper.lines };
}

/** Poll `check` until it returns a value other than `undefined`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Read a file, or `undefined` when it is missing. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** A fresh HOME with nothing in it. */
export async function tempHome(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "credential-helper-test-" });
}

/** The exact credentials-file section the helper writes for an issued set. */
export function credentialsBlock(
  profile: string,
  issued: { AccessKeyId: string; SecretAccessKey: string; Token: string },
): string {
  return `[${profile}]\naws_access_key_id = ${issued.AccessKeyId}\n` +
    `aws_secret_access_key = ${issued.SecretAccessKey}\naws_session_token = ${issued.Token}\n`;
}

/** GET a URL and record the body in the transcript. */
export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  const body = await response.text();
  transcript.push(body);
  return { status: response.status, body };
}

/** Names in a directory, sorted. */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/**
 * Assert that none of `secrets` appears in anything this test file's helpers
 * printed or served.
 */
export function assertNoSecretsIn(secrets: readonly string[], minimumLines = 1): void {
  if (secrets.length === 0) throw new Error("no secrets collected; the check would prove nothing");
  if (transcript.length < minimumLines) {
    throw new Error(`only ${transcript.length} lines captured; expected at least ${minimumLines}`);
  }
  const everything = transcript.join("\n");
  for (const secret of secrets) {
    if (everything.includes(secret)) throw new Error(`secret leaked: ${secret.slice(0, 12)}…`);
  }
}

/** Run a program with exactly `env` (plus a minimal PATH) and collect its output. */
export async function runProgram(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await new Deno.Command(command, {
    args,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    stdout: decoder.decode(result.stdout),
    stderr: decoder.decode(result.stderr),
  };
}
