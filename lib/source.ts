/**
 * The client for a target's source: the container endpoint or IMDSv2.
 *
 * @module
 */

import type { Credentials } from "./credentials.ts";
import { EndpointClient } from "./endpoint.ts";
import { ImdsClient } from "./imds.ts";
import type { Logger } from "./log.ts";
import type { Target } from "./target.ts";

/** What every source client does. */
export interface SourceClient {
  fetchCredentials(signal?: AbortSignal): Promise<Credentials>;
}

/** The client for a target's source. */
export function sourceClient(target: Target, logger: Logger): SourceClient {
  const secrets = {
    onSecret: (secret: string) => logger.addSecret(secret),
    redact: (text: string) => logger.scrub(text),
  };
  const source = target.source;
  if (source.kind === "imds") {
    return new ImdsClient(source.endpoint, {
      ...secrets,
      ...(source.instanceProfileName === undefined
        ? {}
        : { instanceProfileName: source.instanceProfileName }),
    });
  }
  return new EndpointClient(source.endpoint, { authorization: source.authorization, ...secrets });
}
