/**
 * credential-helper: keeps AWS shared credential files fresh from a container
 * credentials endpoint. This file only parses arguments and wires modules.
 *
 * @module
 */

import { EXIT_CONFIG, EXIT_FAILED, EXIT_OK, serve } from "./lib/app.ts";
import { type Config, ConfigError, helpText, parseCommandLine, parseConfig } from "./lib/config.ts";
import { credentialProcessCommand } from "./lib/credential_process.ts";
import { fatalLine, type LogFormat } from "./lib/log.ts";
import { probeReadiness, probeUrl } from "./lib/probe.ts";
import { VERSION } from "./lib/version.ts";

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
    console.error(fatalLine(error.message, requestedLogFormat(args)));
    return EXIT_CONFIG;
  }
  if (config.command === "credential-process") {
    return await credentialProcessCommand(config.targets[0]!);
  }
  return config.command === "healthcheck" ? await healthcheck(config) : await serve(config);
}

/**
 * The log format asked for, read leniently, since the configuration that
 * names it may be what failed: `--log-format`, else `LOG_FORMAT`.
 */
function requestedLogFormat(args: readonly string[]): LogFormat {
  const index = args.findIndex((arg) => arg === "--log-format" || arg.startsWith("--log-format="));
  const flag = index === -1
    ? undefined
    : args[index]!.includes("=")
    ? args[index]!.split("=")[1]
    : args[index + 1];
  return (flag ?? Deno.env.get("LOG_FORMAT")) === "json" ? "json" : "text";
}

async function healthcheck(config: Config): Promise<number> {
  const result = await probeReadiness(probeUrl(config.listenAddress, config.listenPort), {
    waitMs: config.healthcheckWaitSeconds * 1000,
  });
  if (result.ready) return EXIT_OK;
  console.error(`credential-helper healthcheck: ${result.reason}`);
  return EXIT_FAILED;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
