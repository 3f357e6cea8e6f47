/**
 * Edit AWS shared credentials and config files (their INI dialect) while
 * keeping every byte we do not manage: other profiles, comments, blank
 * lines, line ends (LF, CRLF or CR), a missing final newline, indentation,
 * nested blocks and unknown keys. Pure: text in, text out.
 *
 * Lines are read exactly the way botocore reads them, through Python's
 * `configparser` (3.11, `RawConfigParser` defaults) and botocore's profile
 * map, because botocore is the strictest reader: it rejects a whole file
 * that holds a duplicate section or key, and an indented line continues the
 * value of the key above it. So:
 * - lines end at `\n`, `\r\n` or a lone `\r` (Python's universal newlines);
 * - whitespace is Python's `str.isspace` set;
 * - a non-blank, non-comment line indented deeper than the last key line of
 *   its section is a continuation of that key, whatever it looks like;
 * - a header is `[` … the last `]` of its line;
 * - a config-file header names a profile when botocore's `shlex.split` of it
 *   gives `profile NAME` (so `[profile "x"]` and `[profile x ]` are `x`).
 *
 * @module
 */

/** Identifies the sections we manage, the way botocore maps headers to profiles. */
export interface SectionTarget {
  /** The header to write when the section is created, without brackets. */
  readonly header: string;
  /** Whether an existing header's text (between the brackets) names this section. */
  readonly matches: (headerText: string) => boolean;
}

/** Options for {@linkcode upsertSection}. */
export interface UpsertOptions {
  /** Keys to set, in the order new ones are written. Names are lower case. */
  readonly set: ReadonlyArray<readonly [key: string, value: string]>;
  /** Keys to remove from the section when present. Default: none. */
  readonly remove?: readonly string[];
  /** Keys of `set` written only where the section has none yet: a default, not a setting. */
  readonly keepExisting?: readonly string[];
}

/** The credentials-file section for `profile`: `[profile]`, matched exactly as botocore does. */
export function credentialsSection(profile: string): SectionTarget {
  return { header: profile, matches: (text) => text === profile };
}

/**
 * The config-file section for `profile`: `[default]` for the default profile
 * (which also answers to `[profile default]`), else `[profile NAME]`, and any
 * other header that botocore maps to the same profile.
 */
export function configSection(profile: string): SectionTarget {
  return {
    header: profile === "default" ? "default" : `profile ${profile}`,
    matches: (text) => botocoreConfigProfile(text) === profile,
  };
}

/**
 * The profile that botocore's `build_profile_map` files a config-file section
 * under, or `undefined` when the section is not a profile.
 */
export function botocoreConfigProfile(header: string): string | undefined {
  if (header.startsWith("profile")) {
    const parts = shlexSplit(header);
    return parts !== undefined && parts.length === 2 ? parts[1] : undefined;
  }
  return header === "default" ? "default" : undefined;
}

/**
 * Python's `shlex.split(text)` (POSIX mode, no comments): words split at
 * space, tab, CR and LF; quotes and backslashes as a POSIX shell reads them.
 * `undefined` where Python raises (an unclosed quote or a trailing escape).
 */
export function shlexSplit(text: string): string[] | undefined {
  const whitespace = " \t\r\n";
  const words: string[] = [];
  let state = " ";
  let escaped = " ";
  let token = "";
  let quoted = false;
  const emit = () => {
    if (token !== "" || quoted) words.push(token);
    token = "";
    quoted = false;
  };
  for (const char of text) {
    if (state === " ") {
      if (whitespace.includes(char)) continue;
      if (char === "\\") [escaped, state] = ["a", "\\"];
      else if (char === "'" || char === '"') state = char;
      else [token, state] = [char, "a"];
    } else if (state === "'" || state === '"') {
      quoted = true;
      if (char === state) state = "a";
      else if (char === "\\" && state === '"') [escaped, state] = [state, "\\"];
      else token += char;
    } else if (state === "\\") {
      if ((escaped === "'" || escaped === '"') && char !== "\\" && char !== escaped) token += "\\";
      token += char;
      state = escaped;
    } else if (whitespace.includes(char)) {
      state = " ";
      emit();
    } else if (char === "'" || char === '"') {
      state = char;
    } else if (char === "\\") {
      [escaped, state] = ["a", "\\"];
    } else {
      token += char;
    }
  }
  if (state !== " " && state !== "a") return undefined;
  if (state === "a") emit();
  return words;
}

// Python's str.isspace(): what strip() removes and what re's \s matches.
const PY_SPACE = new Set(
  [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680]
    .concat([0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009])
    .concat([0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000])
    .map((code) => String.fromCharCode(code)),
);

function leadingSpace(text: string): number {
  let index = 0;
  while (index < text.length && PY_SPACE.has(text[index]!)) index++;
  return index;
}

function pyStrip(text: string): string {
  let end = text.length;
  while (end > 0 && PY_SPACE.has(text[end - 1]!)) end--;
  return text.slice(leadingSpace(text), end);
}

type LineKind = "blank" | "comment" | "header" | "key" | "continuation" | "other";

interface Line {
  /** The line without its terminator. */
  readonly content: string;
  /** `"\n"`, `"\r\n"`, `"\r"` or `""` for a last line without a newline. */
  eol: string;
  readonly kind: LineKind;
  /** Header text between the brackets, for headers. */
  readonly header?: string;
  /** Lower-cased option name, for keys. */
  readonly key?: string;
  /** Leading whitespace, for keys and headers. */
  readonly indent?: string;
}

function splitLines(text: string): Array<{ content: string; eol: string }> {
  const lines: Array<{ content: string; eol: string }> = [];
  const pattern = /\r\n|\r|\n/g;
  let start = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    lines.push({ content: text.slice(start, match.index), eol: match[0] });
    start = match.index + match[0].length;
  }
  if (start < text.length) lines.push({ content: text.slice(start), eol: "" });
  return lines;
}

/**
 * Classify lines as configparser does: a non-blank line indented deeper than
 * the key line above it continues that key's value (as in `s3 =` followed by
 * `  max_concurrent_requests = 10`), even across blank lines and comments.
 */
function classify(text: string): Line[] {
  let indentLevel = 0;
  let inSection = false;
  let hasOption = false;
  return splitLines(text).map(({ content, eol }): Line => {
    const stripped = pyStrip(content);
    if (stripped === "") return { content, eol, kind: "blank" };
    if (stripped.startsWith("#") || stripped.startsWith(";")) {
      return { content, eol, kind: "comment" };
    }
    const indentLength = leadingSpace(content);
    if (inSection && hasOption && indentLength > indentLevel) {
      return { content, eol, kind: "continuation" };
    }
    indentLevel = indentLength;
    const indent = content.slice(0, indentLength);
    const close = stripped.lastIndexOf("]");
    if (stripped.startsWith("[") && close > 1) {
      inSection = true;
      hasOption = false;
      return { content, eol, kind: "header", header: stripped.slice(1, close), indent };
    }
    const delimiter = stripped.search(/[=:]/);
    const name = delimiter === -1 ? "" : pyStrip(stripped.slice(0, delimiter));
    if (inSection && name !== "") {
      hasOption = true;
      return { content, eol, kind: "key", key: name.toLowerCase(), indent };
    }
    return { content, eol, kind: "other" };
  });
}

/** A key line together with the lines that belong to its value. */
interface Entry {
  readonly lines: Line[];
}

/**
 * Group a section body into entries: a key with its continuation lines and
 * the blank lines and comments between them, or a lone line.
 */
function entries(body: Line[]): Entry[] {
  const grouped: Entry[] = [];
  let currentKey: Entry | undefined;
  let pending: Line[] = [];
  const flush = () => {
    for (const line of pending) grouped.push({ lines: [line] });
    pending = [];
  };
  for (const line of body) {
    if (line.kind === "key") {
      flush();
      currentKey = { lines: [line] };
      grouped.push(currentKey);
    } else if (line.kind === "continuation" && currentKey !== undefined) {
      currentKey.lines.push(...pending, line);
      pending = [];
    } else if (line.kind === "blank" || line.kind === "comment") {
      pending.push(line);
    } else {
      flush();
      currentKey = undefined;
      grouped.push({ lines: [line] });
    }
  }
  flush();
  return grouped;
}

function dominantEol(lines: Line[]): string {
  const counts = new Map<string, number>();
  for (const line of lines) {
    if (line.eol !== "") counts.set(line.eol, (counts.get(line.eol) ?? 0) + 1);
  }
  let best = "\n";
  let bestCount = 0;
  for (const eol of ["\n", "\r\n", "\r"]) {
    const count = counts.get(eol) ?? 0;
    if (count > bestCount) [best, bestCount] = [eol, count];
  }
  return best;
}

const BOM = "\ufeff";

/**
 * Set and remove keys in every section of an AWS shared file that botocore
 * maps to the target, creating the section when there is none. Everything
 * else is returned byte for byte.
 *
 * - A replaced key keeps its indentation; its old continuation lines go.
 * - A missing key is inserted after the section's last value line, indented
 *   like the next header (so not at all, as a rule), so it can neither
 *   continue another key's value nor absorb a following line, and ends a
 *   JS SDK sub-block. It takes the line break of the line before it.
 * - A key of ours that the JS SDK reads as a sub-key of a nested block moves
 *   to the end of the section.
 * - Sections spelled differently that botocore maps to the same profile
 *   (`[default]` and `[profile default]`, `[profile x]` and `[profile "x"]`)
 *   are each edited and kept: botocore reads only the last one, the JS SDK
 *   merges them, and neither changes meaning beyond our keys.
 * - Exact copies of a section, or of a key within one, which botocore
 *   refuses outright, are collapsed into the first.
 */
export function upsertSection(text: string, target: SectionTarget, options: UpsertOptions): string {
  const bom = text.startsWith(BOM) ? BOM : "";
  const lines = classify(text.slice(bom.length));
  const eol = dominantEol(lines);

  // Split into the preamble and sections, each starting with its header.
  const sections: Line[][] = [[]];
  for (const line of lines) {
    if (line.kind === "header") sections.push([line]);
    else sections[sections.length - 1]!.push(line);
  }
  const ours = sections.filter((s) => s[0]?.kind === "header" && target.matches(s[0].header!));

  if (ours.length === 0) {
    const output = [...lines];
    const last = output.at(-1);
    if (last !== undefined) {
      if (last.eol === "") last.eol = eol;
      // The JS SDK breaks lines only at "\n": after a lone CR our header would
      // join the last line. botocore reads "\r\n" as the same one break.
      if (last.eol === "\r") last.eol = "\r\n";
      if (last.kind !== "blank") output.push({ content: "", eol, kind: "blank" });
    }
    output.push({ content: `[${target.header}]`, eol, kind: "header", header: target.header });
    for (const [key, value] of options.set) {
      output.push({ content: `${key} = ${value}`, eol, kind: "key", key });
    }
    return bom + render(output, eol);
  }

  // Exact copies of a header are one configparser section: merge them.
  const byHeader = new Map<string, Line[][]>();
  for (const section of ours) {
    const copies = byHeader.get(section[0]!.header!) ?? [];
    copies.push(section);
    byHeader.set(section[0]!.header!, copies);
  }
  const output: Line[] = [];
  sections.forEach((section, index) => {
    const header = section[0];
    if (!ours.includes(section)) output.push(...section);
    else if (byHeader.get(header!.header!)![0] === section) {
      const copies = byHeader.get(header!.header!)!;
      // A section with no key yet: a new key indented less than the next
      // header would turn that header into a continuation line.
      const nextIndent = sections[index + 1]?.[0]?.indent ?? "";
      const body = copies.flatMap((copy) => copy.slice(1));
      output.push(header!, ...editBody(header!, body, options, { eol, nextIndent }));
    }
  });
  return bom + render(output, eol);
}

function editBody(
  header: Line,
  body: Line[],
  options: UpsertOptions,
  { eol, nextIndent }: { eol: string; nextIndent: string },
): Line[] {
  const managed = new Map(options.set);
  const removed = new Set(options.remove ?? []);
  const keep = new Set(options.keepExisting ?? []);
  const seen = new Set<string>();
  const merged: Line[] = [];
  let lastValueEnd = 0;
  const js = new JsSubsection();
  for (const entry of entries(body)) {
    const head = entry.lines[0]!;
    const misreadByJs = js.wouldNest(head);
    for (const line of entry.lines) js.read(line);
    if (head.kind !== "key") {
      merged.push(...entry.lines);
      if (head.kind !== "blank" && head.kind !== "comment") lastValueEnd = merged.length;
      continue;
    }
    const key = head.key!;
    if (seen.has(key) || removed.has(key)) continue;
    const value = keep.has(key) ? undefined : managed.get(key);
    // An indented key after `name =` is that block's sub-key to the JS SDK:
    // our key moves to the end of the section, where both parsers read it.
    if (value !== undefined && misreadByJs) continue;
    seen.add(key);
    if (value === undefined) merged.push(...entry.lines);
    else merged.push({ ...head, content: `${head.indent}${key} = ${value}` });
    lastValueEnd = merged.length;
  }
  // At the end of the section, indented no deeper than the next header, a
  // new key can neither continue the value above it nor swallow that header,
  // and unindented it also ends a JS SDK sub-block. Where that cannot hold
  // (an indented next header, or a continuation line the JS SDK reads as a
  // header), it goes first, indented like the line it then precedes: after
  // a header no line is a continuation, in either parser.
  const atEnd = nextIndent === "" &&
    !body.some((line) => line.kind === "continuation" && isJsHeader(line));
  const firstContent = merged.find((line) => line.kind !== "blank" && line.kind !== "comment");
  const at = atEnd ? lastValueEnd : 0;
  const before = at === 0 ? header : merged[at - 1]!;
  const newline = before.eol === "" ? eol : before.eol;
  const indent = atEnd
    ? ""
    : firstContent === undefined
    ? nextIndent
    : firstContent.content.slice(0, leadingSpace(firstContent.content));
  const missing: Line[] = options.set
    .filter(([key]) => !seen.has(key))
    .map(([key, value]) => ({
      content: `${indent}${key} = ${value}`,
      eol: newline,
      kind: "key",
      key,
    }));
  merged.splice(at, 0, ...missing);
  return merged;
}

/** Whether the JS SDK reads `line` as a section header. */
function isJsHeader(line: Line): boolean {
  const text = line.content.split(/(^|\s)[;#]/)[0]!.trim();
  return text.startsWith("[") && text.endsWith("]");
}

/**
 * The JS SDK v3's reading of nested blocks (`@smithy/shared-ini-file-loader`):
 * after a key with an empty value, indented `k = v` lines are its sub-keys
 * until an unindented `k = v` line.
 */
class JsSubsection {
  #open = false;

  /** Whether the SDK would read `line`, a key line, as a sub-key. */
  wouldNest(line: Line): boolean {
    return this.#open && line.kind === "key" && line.content.trimStart() !== line.content;
  }

  read(line: Line): void {
    const text = line.content.split(/(^|\s)[;#]/)[0]!.trim();
    const equals = text.indexOf("=");
    if (equals <= 0) return;
    if (text.slice(equals + 1).trim() === "") this.#open = true;
    else if (line.content.trimStart() === line.content) this.#open = false;
  }
}

function render(lines: Line[], newline: string): string {
  let out = "";
  lines.forEach((line, index) => {
    // A line that was last in the file may have lost that place.
    const eol = line.eol === "" && index < lines.length - 1 ? newline : line.eol;
    out += line.content + eol;
  });
  return out;
}

/**
 * Read the keys of the section botocore uses for the target (the last one
 * that maps to it), joining continuation lines as configparser does; for
 * checks and tests.
 *
 * @throws {SyntaxError} on a duplicate of the target's section or of a key
 *   in it, which botocore rejects
 */
export function readSection(text: string, target: SectionTarget): Map<string, string> | undefined {
  const lines = classify(text.startsWith(BOM) ? text.slice(1) : text);
  const headers = new Set<string>();
  let found: Map<string, string> | undefined;
  let current: Map<string, string> | undefined;
  let key: string | undefined;
  for (const line of lines) {
    if (line.kind === "header") {
      const header = line.header!;
      current = undefined;
      if (target.matches(header)) {
        if (headers.has(header)) throw new SyntaxError(`duplicate section [${header}]`);
        headers.add(header);
        found = new Map();
        current = found;
      }
    } else if (line.kind === "key" && current !== undefined) {
      key = line.key!;
      if (current.has(key)) throw new SyntaxError(`duplicate key ${key}`);
      const stripped = pyStrip(line.content);
      current.set(key, pyStrip(stripped.slice(stripped.search(/[=:]/) + 1)));
    } else if (line.kind === "continuation" && current !== undefined && key !== undefined) {
      current.set(key, `${current.get(key)}\n${pyStrip(line.content)}`);
    }
  }
  return found;
}
