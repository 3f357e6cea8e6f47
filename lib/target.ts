/**
 * A target: one profile, the source its credentials come from, where they
 * are written and how often. One process serves one or many targets, each
 * with its own schedule, backoff and state.
 *
 * @module
 */

import type { ReplaceMode } from "./atomic_file.ts";
import type { AuthorizationSource } from "./endpoint.ts";
import type { NotifyConfig } from "./notify.ts";

/** The container credentials endpoint (ECS, EKS Pod Identity, Roles Anywhere sidecars). */
export interface ContainerSource {
  readonly kind: "container";
  readonly endpoint: URL;
  readonly authorization: AuthorizationSource;
}

/** The EC2 instance metadata service, IMDSv2 (EC2, `aws_signing_helper serve`). */
export interface ImdsSource {
  readonly kind: "imds";
  /** Scheme, host and port of the service. */
  readonly endpoint: URL;
  /** The role to ask for; when unset, the first one the service lists. */
  readonly instanceProfileName: string | undefined;
}

/** Where a target's credentials come from. */
export type Source = ContainerSource | ImdsSource;

/** One profile to keep fresh. */
export interface Target {
  readonly profile: string;
  readonly source: Source;
  readonly region: string;
  /**
   * Whether `region` is only the default (no variable, flag or config value
   * set it): then a region already in the profile is kept.
   */
  readonly regionIsDefault: boolean;
  /** `output` for the config file; not written when undefined. */
  readonly output: string | undefined;
  readonly credentialsFile: string;
  readonly configFile: string;
  readonly fileMode: number;
  readonly writeMode: ReplaceMode;
  readonly refreshIntervalSeconds: number;
  readonly refreshBeforeExpirySeconds: number;
  /** Who to tell when the files change. */
  readonly notify: NotifyConfig;
  /** The `credential_process` cache and profile, when used. */
  readonly credentialProcess: CredentialProcessConfig | undefined;
}

/** `credential_process` support for a target. */
export interface CredentialProcessConfig {
  /** The profile written with `credential_process = …`; `undefined`: only the cache is kept. */
  readonly profile: string | undefined;
  /** The JSON cache `credential-helper credential-process` answers from. */
  readonly cache: string;
}

/** The source's address for logs: no query string, no token. */
export function describeSource(source: Source): string {
  return source.kind === "imds"
    ? source.endpoint.origin
    : source.endpoint.origin + source.endpoint.pathname;
}
