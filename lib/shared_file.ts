/**
 * Edit AWS shared credentials and config files (their INI dialect) while
 * keeping every byte we do not manage: other profiles, comments, blank
 * lines, CRLF line ends, a missing final newline, indented sub-properties
 * and unknown keys. Pure: text in, text out.
 *
 * Lines are classified the way botocore's configparser reads them, since
 * botocore is the strictest reader: it rejects a whole file that holds a
 * duplicate section or a duplicate key within a section.
 *
 * @module
 */

/** Identifies one section and the keys we manage in it. */
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
}

/** The credentials-file section for `profile`: `[profile]`. */
export function credentialsSection(profile: string): SectionTarget {
  return { header: profile, matches: (text) => text === profile };
}

/**
 * The config-file section for `profile`: `[default]` for the default profile
 * (which also answers to `[profile default]`), else `[profile NAME]`.
 */
export function configSection(profile: string): SectionTarget {
  const profileForm = (text: string) => {
    const match = /^profile\s+(\S+)$/.exec(text);
    return match !== null && match[1] === profile;
  };
  if (profile === "default") {
    return { header: "default", matches: (text) => text === "default" || profileForm(text) };
  }
  return { header: `profile ${profile}`, matches: profileForm };
}

type LineKind = "blank" | "comment" | "header" | "key" | "continuation" | "other";

interface Line {
  /** The line without its terminator. */
  readonly content: string;
  /** `"\n"`, `"\r\n"` or `""` for a last line without a newline. */
  eol: string;
  readonly kind: LineKind;
  /** Header text between the brackets, for headers. */
  readonly header?: string;
  /** Lower-cased option name, for keys. */
  readonly key?: string;
}

const HEADER = /^\[(.+)\]/;
const OPTION = /^(.*?)\s*[=:]/;

function splitLines(text: string): Array<{ content: string; eol: string }> {
  const lines: Array<{ content: string; eol: string }> = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf("\n", start);
    if (newline === -1) {
      lines.push({ content: text.slice(start), eol: "" });
      break;
    }
    const crlf = newline > start && text[newline - 1] === "\r";
    lines.push({
      content: text.slice(start, crlf ? newline - 1 : newline),
      eol: crlf ? "\r\n" : "\n",
    });
    start = newline + 1;
  }
  return lines;
}

/**
 * Classify lines as configparser does: a non-blank line indented deeper than
 * the key above it continues that key's value (as in `s3 =` followed by
 * `  max_concurrent_requests = 10`); comments and blank lines are skipped.
 */
function classify(text: string): Line[] {
  let indentLevel = 0;
  let inSection = false;
  let hasOption = false;
  return splitLines(text).map(({ content, eol }): Line => {
    const stripped = content.trim();
    if (stripped === "") return { content, eol, kind: "blank" };
    if (stripped.startsWith("#") || stripped.startsWith(";")) {
      return { content, eol, kind: "comment" };
    }
    const indent = content.length - content.trimStart().length;
    if (inSection && hasOption && indent > indentLevel) {
      return { content, eol, kind: "continuation" };
    }
    indentLevel = indent;
    const header = HEADER.exec(stripped);
    if (header !== null) {
      inSection = true;
      hasOption = false;
      return { content, eol, kind: "header", header: header[1] ?? "" };
    }
    const option = OPTION.exec(stripped);
    if (inSection && option !== null && option[1] !== "") {
      hasOption = true;
      return { content, eol, kind: "key", key: (option[1] ?? "").toLowerCase() };
    }
    return { content, eol, kind: "other" };
  });
}

/** One key line together with the continuation lines that belong to it. */
interface Entry {
  readonly lines: Line[];
}

/** Group a section body into entries: a key with its continuations, or a lone line. */
function entries(body: Line[]): Entry[] {
  const grouped: Entry[] = [];
  for (const line of body) {
    const last = grouped.at(-1);
    const extendsKey = line.kind === "continuation" && last !== undefined &&
      last.lines[0]?.kind === "key";
    if (extendsKey) last.lines.push(line);
    else grouped.push({ lines: [line] });
  }
  return grouped;
}

function dominantEol(lines: Line[]): string {
  let crlf = 0;
  let lf = 0;
  for (const line of lines) {
    if (line.eol === "\r\n") crlf++;
    else if (line.eol === "\n") lf++;
  }
  return crlf > lf ? "\r\n" : "\n";
}

/**
 * Set and remove keys in one section of an AWS shared file, creating the
 * section when it is missing. Everything else is returned byte for byte.
 *
 * Repeated copies of the section, or of a key within it, are collapsed into
 * the first one, since botocore refuses a file that holds either. Later
 * copies' other keys and comments move into the first copy.
 */
export function upsertSection(text: string, target: SectionTarget, options: UpsertOptions): string {
  const lines = classify(text);
  const eol = dominantEol(lines);
  const managed = new Map(options.set);
  const removed = new Set(options.remove ?? []);

  // Split into the preamble and sections, each starting with its header.
  const sections: Line[][] = [[]];
  for (const line of lines) {
    if (line.kind === "header") sections.push([line]);
    else sections[sections.length - 1]!.push(line);
  }
  const ours = sections.filter((s) => s[0]?.kind === "header" && target.matches(s[0].header!));

  const output: Line[] = [];
  if (ours.length === 0) {
    output.push(...lines);
    const last = output.at(-1);
    if (last !== undefined) {
      if (last.eol === "") last.eol = eol;
      if (last.kind !== "blank") output.push({ content: "", eol, kind: "blank" });
    }
    output.push({ content: `[${target.header}]`, eol, kind: "header", header: target.header });
    for (const [key, value] of options.set) {
      output.push({ content: `${key} = ${value}`, eol, kind: "key", key });
    }
    return render(output, eol);
  }

  const first = ours[0]!;
  // The merged body of every copy of our section, in file order.
  const body = ours.flatMap((section) => section.slice(1));
  const seen = new Set<string>();
  const merged: Line[] = [];
  let lastKeyIndex = -1;
  for (const entry of entries(body)) {
    const head = entry.lines[0]!;
    if (head.kind !== "key") {
      merged.push(...entry.lines);
      continue;
    }
    const key = head.key!;
    if (seen.has(key) || removed.has(key)) continue;
    seen.add(key);
    const value = managed.get(key);
    if (value === undefined) merged.push(...entry.lines);
    else merged.push({ content: `${key} = ${value}`, eol: head.eol, kind: "key", key });
    lastKeyIndex = merged.length - 1;
  }
  const missing: Line[] = options.set
    .filter(([key]) => !seen.has(key))
    .map(([key, value]) => ({ content: `${key} = ${value}`, eol, kind: "key", key }));
  merged.splice(lastKeyIndex + 1, 0, ...missing);

  for (const section of sections) {
    if (section === first) output.push(section[0]!, ...merged);
    else if (!ours.includes(section)) output.push(...section);
  }
  return render(output, eol);
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
 * Read one section's keys, as a strict reader would, for checks and tests.
 *
 * @throws {SyntaxError} on a duplicate section or duplicate key, which
 *   botocore rejects
 */
export function readSection(text: string, target: SectionTarget): Map<string, string> | undefined {
  const lines = classify(text);
  let found: Map<string, string> | undefined;
  let current: Map<string, string> | undefined;
  for (const line of lines) {
    if (line.kind === "header") {
      if (target.matches(line.header!)) {
        if (found !== undefined) throw new SyntaxError(`duplicate section [${line.header}]`);
        found = new Map();
        current = found;
      } else {
        current = undefined;
      }
    } else if (line.kind === "key" && current !== undefined) {
      if (current.has(line.key!)) throw new SyntaxError(`duplicate key ${line.key}`);
      const separator = line.content.search(/[=:]/);
      current.set(line.key!, line.content.slice(separator + 1).trim());
    }
  }
  return found;
}
