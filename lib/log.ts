/**
 * Leveled logger writing one line per event, as readable text or as JSON,
 * with every registered secret replaced before the line leaves the process.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Output formats. */
export const LOG_FORMATS = ["text", "json"] as const;
/** One of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Structured fields attached to an event. Values are rendered as strings or numbers. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** What replaces a secret in a log line. */
export const REDACTED = "[REDACTED]";

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /** Lowest level written. Default `"info"`. */
  level?: LogLevel;
  /** Line format. Default `"text"`. */
  format?: LogFormat;
  /** Receives each finished line, without its newline. Default: standard error. */
  sink?: (line: string) => void;
  /** Clock for timestamps. Default {@linkcode systemClock}. */
  clock?: Pick<Clock, "now">;
}

// Short strings are never registered as secrets: replacing "a" everywhere
// would mangle every line without protecting anything.
const MIN_SECRET_LENGTH = 4;
/** How many registered secrets are kept: the current ones and a few rotations back. */
export const MAX_SECRETS = 64;

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // A closed or full stderr must not stop the refresh loop; the files and
    // the health listener still tell the truth.
  }
}

/** The secrets every logger of one process redacts, most recently registered last. */
class SecretStore {
  readonly #secrets = new Map<string, true>();
  /** The same, longest first, so a secret containing another is replaced whole. */
  byLength: string[] = [];

  add(secret: string | undefined): void {
    if (secret === undefined || secret.length < MIN_SECRET_LENGTH) return;
    const known = this.#secrets.delete(secret);
    this.#secrets.set(secret, true);
    if (known) return;
    if (this.#secrets.size > MAX_SECRETS) {
      this.#secrets.delete(this.#secrets.keys().next().value!);
    }
    this.byLength = [...this.#secrets.keys()].sort((a, b) => b.length - a.length);
  }
}

/**
 * A logger that never emits a registered secret.
 *
 * Secrets are registered with {@linkcode Logger.addSecret} as soon as they are
 * known (the authorization token, each secret key and session token), and every
 * rendered line is scrubbed of all of them, whatever field they hide in.
 */
export class Logger {
  readonly #options: LoggerOptions;
  readonly #threshold: number;
  readonly #format: LogFormat;
  readonly #sink: (line: string) => void;
  readonly #now: () => number;
  /** Shared with every {@linkcode child}: a secret registered anywhere is redacted everywhere. */
  readonly #store: SecretStore;
  /** Fields put first on every line, such as `profile`. */
  readonly #base: LogFields;

  /** Create a logger. */
  constructor(options: LoggerOptions = {}, inherited?: { store: SecretStore; base: LogFields }) {
    this.#options = options;
    this.#threshold = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#format = options.format ?? "text";
    this.#sink = options.sink ?? writeStderr;
    this.#now = () => (options.clock ?? systemClock).now();
    this.#store = inherited?.store ?? new SecretStore();
    this.#base = inherited?.base ?? {};
  }

  /** A logger that puts `fields` on every line, sharing this one's secrets and output. */
  child(fields: LogFields): Logger {
    return new Logger(this.#options, { store: this.#store, base: { ...this.#base, ...fields } });
  }

  /**
   * Register a value that must never appear in output. Registering it again
   * makes it the most recent. Only the {@linkcode MAX_SECRETS} most recently
   * registered are kept, since rotated credentials would otherwise pile up
   * for the life of the process; whoever registers a secret in use (the
   * authorization token on every fetch) keeps it among them.
   */
  addSecret(secret: string | undefined): void {
    this.#store.add(secret);
  }

  /** Log at debug level. */
  debug(message: string, fields?: LogFields): void {
    this.#emit("debug", message, fields);
  }
  /** Log at info level. */
  info(message: string, fields?: LogFields): void {
    this.#emit("info", message, fields);
  }
  /** Log at warn level. */
  warn(message: string, fields?: LogFields): void {
    this.#emit("warn", message, fields);
  }
  /** Log at error level. */
  error(message: string, fields?: LogFields): void {
    this.#emit("error", message, fields);
  }

  /** Replace every registered secret in `text`. */
  redact(text: string): string {
    let out = text;
    for (const secret of this.#store.byLength) out = out.replaceAll(secret, REDACTED);
    return out;
  }

  /**
   * {@linkcode redact}, and also every run of {@linkcode FRAGMENT_LENGTH} or
   * more characters shared with a registered secret: for text a server sent,
   * which may echo part of a token. Costlier than `redact`, so kept for that.
   */
  scrub(text: string): string {
    return scrubFragments(this.redact(text), this.#store.byLength);
  }

  #emit(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (LOG_LEVELS.indexOf(level) < this.#threshold) return;
    const time = new Date(this.#now()).toISOString();
    const line = this.#format === "json"
      ? renderJson(time, level, message, { ...this.#base, ...fields })
      : renderText(time, level, message, { ...this.#base, ...fields });
    this.#sink(this.redact(line));
  }
}

function renderJson(time: string, level: LogLevel, message: string, fields: LogFields): string {
  const record: Record<string, unknown> = { time, level, msg: message };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) record[key] = typeof value === "string" ? bounded(value) : value;
  }
  return JSON.stringify(record);
}

/** Shared runs this long or longer count as a leaked fragment of a secret. */
export const FRAGMENT_LENGTH = 8;

/** Replace every run of `text` that shares {@linkcode FRAGMENT_LENGTH} characters with a secret. */
function scrubFragments(text: string, secrets: readonly string[]): string {
  if (text.length < FRAGMENT_LENGTH || secrets.length === 0) return text;
  // Positions of each window of the text, then every window of each secret
  // looked up in them: linear in the text and in the secrets' total length.
  const windows = new Map<string, number[]>();
  for (let i = 0; i + FRAGMENT_LENGTH <= text.length; i++) {
    const window = text.slice(i, i + FRAGMENT_LENGTH);
    const at = windows.get(window);
    if (at === undefined) windows.set(window, [i]);
    else at.push(i);
  }
  const hit = new Uint8Array(text.length);
  for (const secret of secrets) {
    for (let j = 0; j + FRAGMENT_LENGTH <= secret.length; j++) {
      for (const i of windows.get(secret.slice(j, j + FRAGMENT_LENGTH)) ?? []) {
        hit.fill(1, i, i + FRAGMENT_LENGTH);
      }
    }
  }
  let out = "";
  for (let i = 0; i < text.length;) {
    if (hit[i] === 0) {
      out += text[i++];
      continue;
    }
    while (i < text.length && hit[i] === 1) i++;
    out += REDACTED;
  }
  return out;
}

/** The longest field value written; a server's text has no business being longer. */
const MAX_FIELD_LENGTH = 2048;

/** `text`, cut to `limit` characters with an ellipsis when longer. */
export function truncate(text: string, limit: number): string {
  return text.length > limit ? text.slice(0, limit) + "…" : text;
}

function bounded(value: string): string {
  return truncate(value, MAX_FIELD_LENGTH);
}

function renderText(time: string, level: LogLevel, message: string, fields: LogFields): string {
  let line = `${time} ${level.toUpperCase()} ${oneLine(message)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    line += ` ${key}=${quoteIfNeeded(oneLine(bounded(String(value))))}`;
  }
  return line;
}

// A log event is exactly one line, even when an error message from the
// endpoint carries newlines or terminal escapes.
function oneLine(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, " ");
}

function quoteIfNeeded(value: string): string {
  return value === "" || /[\s"=]/.test(value) ? JSON.stringify(value) : value;
}

/**
 * The one line a fatal error prints before exit: `credential-helper: …` as
 * text, or one JSON object (`level` "error") when the log format is JSON.
 */
export function fatalLine(message: string, format: LogFormat, now = Date.now()): string {
  if (format === "text") return `credential-helper: ${oneLine(message)}`;
  return renderJson(new Date(now).toISOString(), "error", message, {});
}
