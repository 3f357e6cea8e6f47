/**
 * Client for the EC2 instance metadata service, version 2 (IMDSv2), as the
 * AWS SDKs speak it: on EC2 itself, and from AWS's own IAM Roles Anywhere
 * helper (`aws_signing_helper serve`, 127.0.0.1:9911 by default).
 *
 * 1. `PUT /latest/api/token` with `x-aws-ec2-metadata-token-ttl-seconds`;
 *    the token is reused until shortly before its TTL ends.
 * 2. `GET /latest/meta-data/iam/security-credentials/` for the role name
 *    (first line), unless `AWS_EC2_INSTANCE_PROFILE_NAME` names it.
 * 3. `GET /latest/meta-data/iam/security-credentials/<role>`.
 *
 * A 401 gets a new token and one retry. There is no IMDSv1 fallback: without
 * a session token, a request for credentials could be answered by anything
 * that can forward a GET (an SSRF), which is why IMDSv2 exists.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import type { Credentials } from "./credentials.ts";
import { EndpointError, errorDetail, interpretCredentials, toEndpointError } from "./endpoint.ts";
import { type HttpGet, httpGet, type HttpResponse } from "./http_get.ts";

/** Plain-http hosts allowed for IMDS: EC2's two addresses, EKS's, and loopback. */
export const IMDS_HTTP_HOSTS: readonly string[] = [
  "169.254.169.254",
  "[fd00:ec2::254]",
  "[fd00:ec2::23]",
];

/** The endpoint for `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`. */
export const IMDS_MODE_ENDPOINTS = {
  IPv4: "http://169.254.169.254",
  IPv6: "http://[fd00:ec2::254]",
} as const;

/** The token lifetime asked for, in seconds: the SDKs' value. */
export const TOKEN_TTL_SECONDS = 21600;
/** A token is renewed when less than this is left of it. */
const TOKEN_RENEW_MARGIN_MS = 60_000;

const CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/";

/** Options for {@linkcode ImdsClient}. */
export interface ImdsClientOptions {
  /** The role to ask for; when unset, the first one the service lists. */
  readonly instanceProfileName?: string;
  /** Milliseconds until response headers, per request. Default 2000. */
  readonly connectTimeoutMs?: number;
  /** Milliseconds for each whole request. Default 5000. */
  readonly totalTimeoutMs?: number;
  /** The HTTP client. Default {@linkcode httpGet}. */
  readonly get?: HttpGet;
  /** Wall time for credential expiry, monotonic time for the token's lifetime. Default {@linkcode systemClock}. */
  readonly clock?: Pick<Clock, "now" | "monotonic">;
  /** Called with each secret (the session token, the credentials) as soon as it is known. */
  readonly onSecret?: (secret: string) => void;
  /** Removes known secrets from text the server sent. */
  readonly redact?: (text: string) => string;
}

/** Fetches credentials over IMDSv2. */
export class ImdsClient {
  readonly #base: URL;
  readonly #options: ImdsClientOptions;
  readonly #get: HttpGet;
  readonly #clock: Pick<Clock, "now" | "monotonic">;
  readonly #onSecret: (secret: string) => void;
  #token: { value: string; renewAt: number } | undefined;

  /** Create a client for the service at `base` (scheme, host and port). */
  constructor(base: URL, options: ImdsClientOptions = {}) {
    this.#base = base;
    this.#options = options;
    this.#get = options.get ?? httpGet;
    this.#clock = options.clock ?? systemClock;
    this.#onSecret = options.onSecret ?? (() => {});
  }

  /**
   * Fetch credentials once: token, role, credentials; a 401 anywhere gets a
   * new token and one more try.
   *
   * @throws {EndpointError} on any failure, with a message safe to log
   */
  async fetchCredentials(signal?: AbortSignal): Promise<Credentials> {
    try {
      try {
        return await this.#attempt(signal);
      } catch (error) {
        if (!(error instanceof Unauthorized)) throw error;
        this.#token = undefined;
        return await this.#attempt(signal);
      }
    } catch (error) {
      if (error instanceof Unauthorized) {
        throw new EndpointError(
          "http-status",
          `metadata service answered HTTP 401 to ${error.what}, twice`,
        );
      }
      throw toEndpointError(error, signal);
    }
  }

  async #attempt(signal: AbortSignal | undefined): Promise<Credentials> {
    const token = await this.#sessionToken(signal);
    const headers = { "x-aws-ec2-metadata-token": token };
    let role = this.#options.instanceProfileName;
    if (role === undefined) {
      const listing = await this.#request(
        CREDENTIALS_PATH,
        "GET",
        headers,
        signal,
        "the role list",
      );
      role = new TextDecoder().decode(listing.body).split("\n")[0]!.trim();
      if (role === "") {
        throw new EndpointError("no-role", "metadata service lists no instance profile role");
      }
      // Listed by the service, used in a path: an IAM role name only, never "..".
      if (!/^[\w+=,.@-]{1,128}$/.test(role) || /^\.+$/.test(role)) {
        throw new EndpointError("no-role", "metadata service listed an invalid role name");
      }
    }
    const response = await this.#request(
      CREDENTIALS_PATH + encodeURIComponent(role),
      "GET",
      headers,
      signal,
      `the credentials of role "${role}"`,
      true,
    );
    return interpretCredentials(response, {
      onSecret: this.#onSecret,
      redact: this.#options.redact ?? ((text) => text),
      now: new Date(this.#clock.now()),
      requireSuccessCode: true,
    });
  }

  async #sessionToken(signal: AbortSignal | undefined): Promise<string> {
    const cached = this.#token;
    if (cached !== undefined && this.#clock.monotonic() < cached.renewAt) return cached.value;
    this.#token = undefined;
    const response = await this.#request(
      "/latest/api/token",
      "PUT",
      { "x-aws-ec2-metadata-token-ttl-seconds": String(TOKEN_TTL_SECONDS) },
      signal,
      "the session token request",
    );
    const value = new TextDecoder().decode(response.body).trim();
    // deno-lint-ignore no-control-regex
    if (value === "" || /[\u0000-\u001f\u007f]/.test(value)) {
      throw new EndpointError("token", "metadata service sent an empty or malformed session token");
    }
    this.#onSecret(value);
    const granted = Number(response.headers.get("x-aws-ec2-metadata-token-ttl-seconds"));
    const ttlSeconds = Number.isInteger(granted) && granted > 0 ? granted : TOKEN_TTL_SECONDS;
    const ttlMs = ttlSeconds * 1000;
    // Renewed shortly before it ends: a minute early, or at half a short TTL.
    this.#token = {
      value,
      renewAt: this.#clock.monotonic() + ttlMs - Math.min(TOKEN_RENEW_MARGIN_MS, ttlMs / 2),
    };
    return value;
  }

  /** One request; a 401 is {@linkcode Unauthorized}, another non-2xx an error (but for credentials, which are interpreted). */
  async #request(
    path: string,
    method: "GET" | "PUT",
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    what: string,
    keepStatus = false,
  ): Promise<HttpResponse> {
    const response = await this.#get(new URL(path, this.#base), {
      method,
      headers,
      ...(signal === undefined ? {} : { signal }),
      headersTimeoutMs: this.#options.connectTimeoutMs ?? 2000,
      totalTimeoutMs: this.#options.totalTimeoutMs ?? 5000,
      maxBodyBytes: 64 * 1024,
    });
    if (response.status === 401 && method === "GET") throw new Unauthorized(what);
    if (keepStatus || (response.status >= 200 && response.status <= 299)) return response;
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(response.body));
    } catch {
      body = undefined;
    }
    const detail = errorDetail(body, this.#options.redact);
    throw new EndpointError(
      "http-status",
      `metadata service answered HTTP ${response.status} to ${what}${
        detail === undefined ? "" : `: ${detail}`
      }`,
    );
  }
}

/** A 401: the session token was refused. */
class Unauthorized extends Error {
  readonly what: string;
  constructor(what: string) {
    super(`HTTP 401 to ${what}`);
    this.what = what;
  }
}
