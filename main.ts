/**
 * credential-helper: keeps AWS shared credential files fresh from a container
 * credentials endpoint. This file only parses arguments and wires modules.
 *
 * @module
 */

import { sweepTempFiles } from "./lib/atomic_file.ts";
import { type Config, ConfigError, helpText, parseCommandLine, parseConfig } from "./lib/config.ts";
import { EndpointClient } from "./lib/endpoint.ts";
import { createHealthHandler } from "./lib/health.ts";
import { Logger } from "./lib/log.ts";
import { probeReadiness, probeUrl } from "./lib/probe.ts";
import { checkProfile, writeProfile } from "./lib/profile_writer.ts";
import { Refresher } from "./lib/refresher.ts";
import { VERSION } from "./lib/version.ts";

/** Exit codes. */
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_CONFIG = 2;

/** Attempts made by `once` before it gives up. */
const ONCE_ATTEMPTS = 3;
/** After SIGTERM, exit even if something still hangs. */
const SHUTDOWN_DEADLINE_MS = 2000;
/** After SIGTERM/SIGINT, exit at the latest this soon, whatever still blocks. */
const HARD_STOP_MS = 1500;

/** Run the program; resolves to the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let config: Config;
  try {
    const { command } = parseCommandLine(args);
    if (command === "help") {
      console.log(helpText());
      return EXIT_OK;
    }
    if (command === "version") {
      console.log(`credential-helper ${VERSION}`);
      return EXIT_OK;
    }
    config = parseConfig((name) => Deno.env.get(name), { args });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`credential-helper: ${error.message}`);
    return EXIT_CONFIG;
  }
  return config.command === "healthcheck" ? await healthcheck(config) : await refresh(config);
}

async function healthcheck(config: Config): Promise<number> {
  const result = await probeReadiness(probeUrl(config.listenAddress, config.listenPort), {
    waitMs: config.healthcheckWaitSeconds * 1000,
  });
  if (result.ready) return EXIT_OK;
  console.error(`credential-helper healthcheck: ${result.reason}`);
  return EXIT_FAILED;
}

async function refresh(config: Config): Promise<number> {
  const logger = new Logger({ level: config.logLevel, format: config.logFormat });
  const client = new EndpointClient(config.endpoint, {
    authorization: config.authorization,
    onSecret: (secret) => logger.addSecret(secret),
    redact: (text) => logger.redact(text),
  });
  const refresher = new Refresher({
    fetchCredentials: (signal) => client.fetchCredentials(signal),
    writeCredentials: async (credentials, signal) => {
      const outcome = await writeProfile(credentials, config, signal);
      return `credentials:${outcome.credentials},config:${outcome.config}`;
    },
    verifyFiles: (credentials) => checkProfile(credentials, config),
    intervalSeconds: config.refreshIntervalSeconds,
    refreshBeforeExpirySeconds: config.refreshBeforeExpirySeconds,
    logger,
  });

  const stop = new AbortController();
  // Whatever still blocks (a FIFO, a hung endpoint, another writer's lock),
  // the process is gone within SHUTDOWN_DEADLINE_MS of the signal.
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
    refresher.refreshNow();
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
        handler: createHealthHandler({ state: () => refresher.state, version: VERSION }),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      console.error(
        `credential-helper: cannot listen on ${config.listenAddress}:${config.listenPort} (LISTEN_ADDRESS/LISTEN_PORT): ${reason}`,
      );
      return EXIT_CONFIG;
    }
  }

  logger.info("started", {
    version: VERSION,
    command: config.command,
    endpoint: config.endpoint.origin + config.endpoint.pathname,
    profile: config.profile,
    credentials_file: config.credentialsFile,
    config_file: config.configFile,
    write_mode: config.writeMode,
    file_mode: "0" + config.fileMode.toString(8),
    interval_seconds: config.refreshIntervalSeconds,
    listen: server === undefined ? undefined : `${config.listenAddress}:${config.listenPort}`,
  });
  if ((config.fileMode & 0o004) !== 0) {
    logger.warn("CREDENTIALS_FILE_MODE lets every user read the credentials", {
      file_mode: "0" + config.fileMode.toString(8),
    });
  }
  try {
    const swept = await sweepTempFiles(
      [config.credentialsFile, config.configFile],
      undefined,
      { mode: config.fileMode, signal: stop.signal },
    );
    for (const path of swept) logger.info("removed leftover temp file", { path });
  } catch (error) {
    logger.warn("could not sweep leftover temp files", {
      reason: error instanceof Error ? error.message : String(error),
    });
  }

  let code = EXIT_OK;
  if (config.command === "once") {
    code = await refresher.runOnce(stop.signal, ONCE_ATTEMPTS) ? EXIT_OK : EXIT_FAILED;
  } else {
    await refresher.run(stop.signal);
  }

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

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
