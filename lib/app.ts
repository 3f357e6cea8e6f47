/**
 * The daemon and the `once` command: one refresher per target, a shared
 * queue per file, the health listener, signals and shutdown. The imperative
 * shell around the pure modules; `main.ts` only parses and calls in here.
 *
 * @module
 */

import { sweepTempFiles } from "./atomic_file.ts";
import type { Config } from "./config.ts";
import { FileQueue } from "./file_queue.ts";
import { createHealthHandler, type TargetState } from "./health.ts";
import { fatalLine, Logger } from "./log.ts";
import {
  checkProfile,
  readProfileConfig,
  readProfileCredentials,
  writeProfile,
} from "./profile_writer.ts";
import { currentProgram, processCommandLine, writeCache } from "./credential_process.ts";
import { Notifier } from "./notify.ts";
import { V8_FLAGS } from "./version.ts";
import { shadowsOf } from "./shadow.ts";
import { Refresher } from "./refresher.ts";
import { sourceClient } from "./source.ts";
import { describeSource, type Target } from "./target.ts";
import { VERSION } from "./version.ts";

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_CONFIG = 2;

/** Attempts made by `once` before it gives up on a target. */
const ONCE_ATTEMPTS = 3;
/** After the loops end, exit even if the listener does not close. */
const SHUTDOWN_DEADLINE_MS = 2000;
/** After SIGTERM/SIGINT, exit at the latest this soon, whatever still blocks. */
const HARD_STOP_MS = 1500;

/** One target and the loop that keeps it fresh. */
interface Running {
  readonly target: Target;
  readonly refresher: Refresher;
  readonly notifier: Notifier;
  /** Warns about config keys that shadow ours, when they change. */
  readonly checkShadows: () => Promise<void>;
}

/**
 * Warns, at start and whenever it changes, about keys in the profile's
 * config section that make the SDKs ignore the keys we write.
 */
function shadowWatch(target: Target, logger: Logger): () => Promise<void> {
  let last = "";
  return async () => {
    const shadows = shadowsOf(await readProfileConfig(target));
    // Static keys someone left for the credential_process profile win over it.
    const processProfile = target.credentialProcess?.profile;
    const staticKeys = processProfile !== undefined &&
      (await readProfileCredentials(target.credentialsFile, processProfile))?.has(
          "aws_access_key_id",
        ) === true;
    const now = JSON.stringify([shadows, staticKeys]);
    if (now === last) return;
    last = now;
    for (const { key, why } of shadows) {
      logger.warn(`the profile's ${key} in the config file: ${why}`, {
        config_file: target.configFile,
      });
    }
    if (staticKeys) {
      logger.warn(
        `the credentials file has static keys in [${processProfile}]: the SDKs use them instead of its credential_process`,
        { credentials_file: target.credentialsFile },
      );
    }
  };
}

function wire(target: Target, logger: Logger, queue: FileQueue): Running {
  const client = sourceClient(target, logger);
  const checkShadows = shadowWatch(target, logger);
  let cacheProblem: string | undefined;
  const notifier = new Notifier(target.notify, logger, {
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
      CREDENTIAL_HELPER_PROFILE: target.profile,
      AWS_SHARED_CREDENTIALS_FILE: target.credentialsFile,
      AWS_CONFIG_FILE: target.configFile,
    },
  });
  const processLine = target.credentialProcess?.profile === undefined
    ? undefined
    : processCommandLine(target, currentProgram(Deno.mainModule, Deno.execPath(), V8_FLAGS));
  const refresher = new Refresher({
    fetchCredentials: (signal) => client.fetchCredentials(signal),
    writeCredentials: async (credentials, signal) => {
      const outcome: Record<string, string> = {
        ...await writeProfile(credentials, { ...target, processLine }, { signal, queue }),
      };
      if (target.credentialProcess !== undefined) {
        // The files are written: a cache that cannot be must not fail the
        // refresh (nor notify nothing, nor retry at once). One line per cause.
        const cache = target.credentialProcess.cache;
        try {
          outcome["cache"] = await queue.run(
            cache,
            () => writeCache(cache, credentials, { mode: target.fileMode, signal }),
          );
          cacheProblem = undefined;
        } catch (error) {
          outcome["cache"] = "failed";
          const reason = logger.scrub(error instanceof Error ? error.message : String(error));
          if (reason !== cacheProblem) {
            logger.warn("credential_process cache not written", { reason });
          }
          cacheProblem = reason;
        }
      }
      await checkShadows();
      if (outcome["credentials"] === "written" || outcome["config"] === "written") {
        notifier.notify();
      }
      return outcome;
    },
    verifyFiles: (credentials) => checkProfile(credentials, target),
    intervalSeconds: target.refreshIntervalSeconds,
    refreshBeforeExpirySeconds: target.refreshBeforeExpirySeconds,
    logger,
  });
  return { target, refresher, checkShadows, notifier };
}

function targetFields(target: Target) {
  return {
    source: target.source.kind,
    endpoint: describeSource(target.source),
    profile: target.profile,
    credentials_file: target.credentialsFile,
    config_file: target.configFile,
    write_mode: target.writeMode,
    file_mode: "0" + target.fileMode.toString(8),
    interval_seconds: target.refreshIntervalSeconds,
  };
}

/**
 * Run `run` or `once` for every target of `config`.
 *
 * @returns the exit code
 */
export async function serve(config: Config): Promise<number> {
  const logger = new Logger({ level: config.logLevel, format: config.logFormat });
  const queue = new FileQueue();
  const single = config.targets.length === 1;
  // Every line about a target names it; with one target, as before, the
  // `started` line does.
  const running = config.targets.map((target) =>
    wire(target, single ? logger : logger.child({ profile: target.profile }), queue)
  );

  const stop = new AbortController();
  // Whatever still blocks (a FIFO, a hung endpoint, another writer's lock),
  // the process is gone within HARD_STOP_MS of the signal.
  let hardStop: ReturnType<typeof setTimeout> | undefined;
  const onStop = () => {
    if (!stop.signal.aborted) {
      hardStop = setTimeout(() => {
        logger.warn("shutdown deadline reached; exiting now");
        Deno.exit(config.command === "once" ? EXIT_FAILED : EXIT_OK);
      }, HARD_STOP_MS);
    }
    stop.abort();
  };
  const onHangup = () => {
    logger.info("SIGHUP: refreshing now");
    for (const { refresher } of running) refresher.refreshNow();
  };
  Deno.addSignalListener("SIGTERM", onStop);
  Deno.addSignalListener("SIGINT", onStop);
  Deno.addSignalListener("SIGHUP", onHangup);

  let server: Deno.HttpServer | undefined;
  if (config.command === "run") {
    try {
      server = Deno.serve({
        hostname: config.listenAddress,
        port: config.listenPort,
        onListen: () => {},
        handler: createHealthHandler({
          targets: () =>
            running.map(({ target, refresher, notifier }): TargetState => ({
              profile: target.profile,
              state: refresher.state,
              notify: notifier.counts,
            })),
          version: VERSION,
        }),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      console.error(fatalLine(
        `cannot listen on ${config.listenAddress}:${config.listenPort} (LISTEN_ADDRESS/LISTEN_PORT): ${reason}`,
        config.logFormat,
      ));
      return EXIT_CONFIG;
    }
  }

  logger.info("started", {
    version: VERSION,
    command: config.command,
    ...(single ? targetFields(config.targets[0]!) : {}),
    profiles: single ? undefined : config.targets.map((t) => t.profile).join(","),
    config: config.configFile,
    listen: server === undefined ? undefined : `${config.listenAddress}:${config.listenPort}`,
  });
  if (config.ignoredVariables.length > 0) {
    logger.warn("the config file defines every setting; ignoring these variables", {
      variables: config.ignoredVariables.join(","),
    });
  }
  for (const target of config.targets) {
    if (!single) logger.info("serving", targetFields(target));
    if ((target.fileMode & 0o004) !== 0) {
      logger.warn("CREDENTIALS_FILE_MODE lets every user read the credentials", {
        profile: single ? undefined : target.profile,
        file_mode: "0" + target.fileMode.toString(8),
      });
    }
  }
  await sweep(config.targets, logger, stop.signal);
  for (const { checkShadows } of running) await checkShadows();

  let code = EXIT_OK;
  if (config.command === "once") {
    const results = await Promise.all(
      running.map(({ refresher }) => refresher.runOnce(stop.signal, ONCE_ATTEMPTS)),
    );
    const failed = running.filter((_, index) => !results[index]).map((r) => r.target.profile);
    if (failed.length > 0) {
      code = EXIT_FAILED;
      if (!single) {
        logger.error("some profiles were not written", {
          failed: failed.join(","),
          written: running.length - failed.length,
          of: running.length,
        });
      }
    }
  } else {
    await Promise.all(running.map(({ refresher }) => refresher.run(stop.signal)));
  }

  // A notify command still running gets its last second or so, then is killed.
  await Promise.race([
    Promise.all(running.map(({ notifier }) => notifier.settled())),
    new Promise((resolve) => setTimeout(resolve, stop.signal.aborted ? 0 : 1000)),
  ]);
  for (const { notifier } of running) notifier.stop();
  logger.info("stopping", { exit_code: code });
  const deadline = setTimeout(() => Deno.exit(code), SHUTDOWN_DEADLINE_MS);
  await server?.shutdown();
  clearTimeout(deadline);
  clearTimeout(hardStop);
  Deno.removeSignalListener("SIGTERM", onStop);
  Deno.removeSignalListener("SIGINT", onStop);
  Deno.removeSignalListener("SIGHUP", onHangup);
  return code;
}

/** Remove temp files a crash left beside every file a target writes. */
async function sweep(targets: readonly Target[], logger: Logger, signal: AbortSignal) {
  const files = new Set(targets.flatMap((t) => [t.credentialsFile, t.configFile]));
  // One file at a time: a failure (a refused path, a held lock) is one line
  // about that file and does not stop the sweep of the others.
  for (const file of files) {
    try {
      const swept = await sweepTempFiles([file], undefined, { signal });
      for (const path of swept) logger.info("removed leftover temp file", { path });
    } catch (error) {
      logger.warn("could not sweep leftover temp files", {
        reason: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
