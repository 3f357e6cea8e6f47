/**
 * The credentials type, its validation from an endpoint's JSON body, and
 * expiry arithmetic. Pure: no I/O, no clock of its own.
 *
 * @module
 */

/** A validated set of temporary AWS credentials. */
export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** When the credentials stop working. */
  readonly expiration: Date;
  /** The account the credentials belong to, when the endpoint says. */
  readonly accountId?: string;
}

/** Thrown when an endpoint's body is not a usable credential set. */
export class InvalidCredentialsError extends Error {
  /** Create the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidCredentialsError";
  }
}

// RFC 3339 date-time: full date, "T" (or space, as RFC 3339 §5.6 permits),
// time with optional fraction, and a mandatory offset.
const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/**
 * Parse an RFC 3339 timestamp.
 *
 * @throws {SyntaxError} when `text` is not RFC 3339 or names no real instant
 */
export function parseRfc3339(text: string): Date {
  if (!RFC3339.test(text)) throw new SyntaxError(`not an RFC 3339 timestamp: "${text}"`);
  const date = new Date(text.replace(" ", "T"));
  // Date rolls 31 February over into March; a real instant keeps its date.
  const [year, month, day] = text.slice(0, 10).split("-").map(Number) as [number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (Number.isNaN(date.getTime()) || day > daysInMonth) {
    throw new SyntaxError(`not an RFC 3339 timestamp: "${text}"`);
  }
  return date;
}

// Credential values are written as INI values; a line break, a control
// character or a blank would change what an SDK reads back. Credentials are
// base64 and alphanumerics: no blank of any alphabet anywhere (Python strips
// U+0085 and others that JavaScript does not).
// deno-lint-ignore no-control-regex
const UNSAFE_VALUE = new RegExp(
  "[\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u180e\\u2000-\\u200b\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]",
);
const ACCOUNT_ID = /^\d{12}$/;

// The timestamp is checked by its own grammar; only control characters are refused first.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function requireString(
  body: Record<string, unknown>,
  field: string,
  unsafe: RegExp = UNSAFE_VALUE,
): string {
  const value = body[field];
  if (value === undefined || value === null) {
    throw new InvalidCredentialsError(`response has no ${field}`);
  }
  if (typeof value !== "string") {
    throw new InvalidCredentialsError(`response field ${field} is not a string`);
  }
  if (value === "") throw new InvalidCredentialsError(`response field ${field} is empty`);
  if (unsafe.test(value)) {
    throw new InvalidCredentialsError(
      `response field ${field} has blanks or control characters`,
    );
  }
  return value;
}

/**
 * Validate an endpoint's parsed JSON body into {@linkcode Credentials}.
 *
 * Requires non-empty strings `AccessKeyId`, `SecretAccessKey`, `Token` (or
 * `SessionToken`, the `credential_process` shape that some servers send, as
 * the AWS C runtime accepts) and an RFC 3339 `Expiration` later than `now`.
 * `AccountId` is optional. Error messages name fields, never values, so they
 * are safe to log.
 *
 * @throws {InvalidCredentialsError} when the body is not a usable credential set
 */
export function parseCredentials(body: unknown, now: Date): Credentials {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    const kind = body === null ? "null" : Array.isArray(body) ? "an array" : typeof body;
    throw new InvalidCredentialsError(`response is ${kind}, not a JSON object`);
  }
  const record = body as Record<string, unknown>;
  const accessKeyId = requireString(record, "AccessKeyId");
  const secretAccessKey = requireString(record, "SecretAccessKey");
  const tokenField = record["Token"] === undefined && record["SessionToken"] !== undefined
    ? "SessionToken"
    : "Token";
  const sessionToken = requireString(record, tokenField);
  const expirationText = requireString(record, "Expiration", CONTROL);
  let expiration: Date;
  try {
    expiration = parseRfc3339(expirationText);
  } catch (cause) {
    throw new InvalidCredentialsError(
      `response field Expiration is not an RFC 3339 timestamp: ${
        JSON.stringify(
          expirationText.length > 40 ? expirationText.slice(0, 40) + "…" : expirationText,
        )
      }`,
      { cause },
    );
  }
  if (expiration.getTime() <= now.getTime()) {
    throw new InvalidCredentialsError(
      `credentials already expired at ${expiration.toISOString()}`,
    );
  }
  const credentials: Credentials = { accessKeyId, secretAccessKey, sessionToken, expiration };
  const accountId = record["AccountId"];
  if (accountId === undefined || accountId === null || accountId === "") return credentials;
  if (typeof accountId !== "string" || !ACCOUNT_ID.test(accountId)) {
    throw new InvalidCredentialsError("response field AccountId is not a 12-digit account id");
  }
  return { ...credentials, accountId };
}

/** Milliseconds from `now` until `credentials` expire; negative once expired. */
export function millisecondsUntilExpiry(credentials: Credentials, now: Date): number {
  return credentials.expiration.getTime() - now.getTime();
}
