/**
 * Replace a file's content safely: atomically (temp file, fsync, rename,
 * fsync of the directory) or in place (same inode), skipping unchanged
 * content, applying an exact mode, and sweeping temp files left by a crash.
 *
 * @module
 */

// Plain string handling instead of node:path: loading Node's compatibility
// layer costs start-up time and memory (see README "Footprint"), and these
// are POSIX paths only.

/** The directory part of `path`, as `dirname` gives it. */
function directoryOf(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash === -1) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

/** The last part of `path`, as `basename` gives it. */
function nameOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function inDirectory(directory: string, name: string): string {
  return directory.endsWith("/") ? directory + name : `${directory}/${name}`;
}

/** How a file is replaced: see the README for the trade-off. */
export type ReplaceMode = "atomic" | "inplace";

/** What a temp file's name starts with; leftovers with it are swept at start. */
export const TEMP_PREFIX = ".credential-helper.tmp.";

/** The metadata {@linkcode replaceFile} needs about a path. */
export interface FileInfo {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly isSymlink: boolean;
  /** Permission bits, `mode & 0o777`. */
  readonly mode: number;
}

/** An open file, as far as writing needs it. */
export interface WritableFile {
  write(data: Uint8Array): Promise<number>;
  seek(offset: number): Promise<void>;
  truncate(length: number): Promise<void>;
  sync(): Promise<void>;
  close(): void;
}

/**
 * The file-system operations used here, so tests can inject faults
 * (a full disk, a failing rename) without a real broken disk.
 */
export interface FileSystem {
  /** Metadata without following a symlink; `undefined` when nothing is there. */
  lstat(path: string): Promise<FileInfo | undefined>;
  readFile(path: string): Promise<Uint8Array>;
  /** Create `path` and missing parents with `mode`; existing ones are left as they are. */
  mkdirp(path: string, mode: number): Promise<void>;
  /** Create a new file exclusively (never following a symlink) with `mode`. */
  createNew(path: string, mode: number): Promise<WritableFile>;
  /** Open an existing file for writing, without truncating it. */
  openExisting(path: string): Promise<WritableFile>;
  chmod(path: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Names in a directory. */
  list(path: string): Promise<string[]>;
  /** fsync a directory, so a rename in it survives a power cut. */
  syncDirectory(path: string): Promise<void>;
}

function wrap(file: Deno.FsFile): WritableFile {
  return {
    write: (data) => file.write(data),
    seek: async (offset) => {
      await file.seek(offset, Deno.SeekMode.Start);
    },
    truncate: (length) => file.truncate(length),
    sync: () => file.sync(),
    close: () => file.close(),
  };
}

/** The real file system, through Deno's APIs. */
export const denoFileSystem: FileSystem = {
  async lstat(path) {
    try {
      const info = await Deno.lstat(path);
      return {
        isFile: info.isFile,
        isDirectory: info.isDirectory,
        isSymlink: info.isSymlink,
        mode: (info.mode ?? 0) & 0o777,
      };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  },
  readFile: (path) => Deno.readFile(path),
  mkdirp: (path, mode) => Deno.mkdir(path, { recursive: true, mode }),
  createNew: async (path, mode) =>
    wrap(await Deno.open(path, { createNew: true, write: true, mode })),
  openExisting: async (path) => wrap(await Deno.open(path, { write: true })),
  chmod: (path, mode) => Deno.chmod(path, mode),
  rename: (from, to) => Deno.rename(from, to),
  remove: (path) => Deno.remove(path),
  async list(path) {
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) names.push(entry.name);
    return names;
  },
  async syncDirectory(path) {
    const directory = await Deno.open(path, { read: true });
    try {
      await directory.sync();
    } finally {
      directory.close();
    }
  },
};

/** Thrown when a file cannot be replaced. The old file is intact when it is thrown. */
export class FileWriteError extends Error {
  /** The file that could not be written. */
  readonly path: string;
  /** Create the error. */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`cannot write "${path}": ${reason}`, options);
    this.name = "FileWriteError";
    this.path = path;
  }
}

/** Options for {@linkcode replaceFile}. */
export interface ReplaceFileOptions {
  /** Exact permission bits of the file. Default `0o600`. */
  mode?: number;
  /** `"atomic"` (default) or `"inplace"`. */
  writeMode?: ReplaceMode;
  /** File system to use. Default {@linkcode denoFileSystem}. */
  fs?: FileSystem;
  /** Random suffix for temp names. Default: 16 random hex digits. */
  randomSuffix?: () => string;
}

/** What {@linkcode replaceFile} did. */
export type ReplaceResult = "written" | "unchanged" | "mode-changed";

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function writeAll(file: WritableFile, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    offset += await file.write(data.subarray(offset));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Metadata of `path`, refusing what must not be replaced; `undefined` when absent. */
async function inspect(path: string, fs: FileSystem): Promise<FileInfo | undefined> {
  let info: FileInfo | undefined;
  try {
    info = await fs.lstat(path);
  } catch (error) {
    throw new FileWriteError(path, reasonOf(error), { cause: error });
  }
  if (info === undefined) return undefined;
  // Following a link would let whoever can plant one in a shared directory
  // redirect credentials elsewhere; an atomic rename would silently replace
  // the link. Refusing is the one choice that surprises nobody later.
  if (info.isSymlink) throw new FileWriteError(path, "it is a symlink; refusing to replace it");
  if (!info.isFile) throw new FileWriteError(path, "it is not a regular file");
  return info;
}

/**
 * Give `path` the content `render` makes of its current content, with
 * exactly `mode`. The file is read once; `render` gets `undefined` when it
 * does not exist yet.
 *
 * Missing parent directories are created with mode 0700. Unchanged content
 * is not rewritten, so the inode and mtime stay. In `atomic` mode a reader
 * sees the old file or the new one; in `inplace` mode the inode is kept and
 * a reader may see a partial file. On any error the old file is intact and
 * no temp file is left. A symlink or a non-regular file at `path` is refused.
 *
 * @throws {FileWriteError} naming the path and the reason; errors thrown by
 *   `render` pass through unchanged
 */
export async function updateFile(
  path: string,
  render: (current: Uint8Array | undefined) => Uint8Array,
  options: ReplaceFileOptions = {},
): Promise<ReplaceResult> {
  const fs = options.fs ?? denoFileSystem;
  const mode = options.mode ?? 0o600;
  const info = await inspect(path, fs);
  let current: Uint8Array | undefined;
  if (info === undefined) {
    try {
      await fs.mkdirp(directoryOf(path), 0o700);
    } catch (error) {
      throw new FileWriteError(path, `cannot create directory: ${reasonOf(error)}`, {
        cause: error,
      });
    }
  } else {
    try {
      current = await fs.readFile(path);
    } catch (error) {
      throw new FileWriteError(path, reasonOf(error), { cause: error });
    }
  }
  const content = render(current);
  if (info !== undefined && current !== undefined && sameBytes(current, content)) {
    if (info.mode === mode) return "unchanged";
    try {
      await fs.chmod(path, mode);
    } catch (error) {
      throw new FileWriteError(path, reasonOf(error), { cause: error });
    }
    return "mode-changed";
  }
  // A file that does not exist yet has no inode to keep, so even in
  // `inplace` mode it is created whole, by rename: a crash cannot leave half
  // a line that no later write would repair.
  if ((options.writeMode ?? "atomic") === "atomic" || info === undefined || current === undefined) {
    await replaceAtomically(path, content, mode, fs, options.randomSuffix ?? randomHex);
  } else {
    await rewriteInPlace(path, content, { bytes: current, mode: info.mode }, mode, fs);
  }
  return "written";
}

/**
 * Give `path` exactly `content` and `mode`: {@linkcode updateFile} with
 * content that does not depend on the old one.
 *
 * @throws {FileWriteError} naming the path and the reason
 */
export function replaceFile(
  path: string,
  content: Uint8Array,
  options: ReplaceFileOptions = {},
): Promise<ReplaceResult> {
  return updateFile(path, () => content, options);
}

async function replaceAtomically(
  path: string,
  content: Uint8Array,
  mode: number,
  fs: FileSystem,
  randomSuffix: () => string,
): Promise<void> {
  const directory = directoryOf(path);
  const temp = inDirectory(directory, `${TEMP_PREFIX}${nameOf(path)}.${randomSuffix()}`);
  let file: WritableFile;
  try {
    // Exclusive creation fails on anything already there, a planted symlink
    // included, and the mode applies from the first byte.
    file = await fs.createNew(temp, mode);
  } catch (error) {
    throw new FileWriteError(path, `cannot create temp file: ${reasonOf(error)}`, {
      cause: error,
    });
  }
  let open = true;
  try {
    // The umask may have narrowed the mode; set it exactly before any secret lands.
    await fs.chmod(temp, mode);
    await writeAll(file, content);
    await file.sync();
    file.close();
    open = false;
    await fs.rename(temp, path);
  } catch (error) {
    if (open) file.close();
    await fs.remove(temp).catch(() => {});
    throw new FileWriteError(path, reasonOf(error), { cause: error });
  }
  try {
    await fs.syncDirectory(directory);
  } catch (error) {
    // The new file is in place; only its durability across a power cut is in doubt.
    throw new FileWriteError(
      path,
      `written, but fsync of the directory failed: ${reasonOf(error)}`,
      {
        cause: error,
      },
    );
  }
}

const NEWLINE = 0x0a;

async function rewriteInPlace(
  path: string,
  content: Uint8Array,
  old: { bytes: Uint8Array; mode: number },
  mode: number,
  fs: FileSystem,
): Promise<void> {
  let file: WritableFile;
  try {
    // Narrow a too-wide mode before the new secret is written.
    if ((old.mode & ~mode) !== 0) await fs.chmod(path, old.mode & mode);
    file = await fs.openExisting(path);
  } catch (error) {
    throw new FileWriteError(path, reasonOf(error), { cause: error });
  }
  try {
    // Overwrite from the start without truncating first: the blocks of the old
    // content stay allocated, so on a full disk the old bytes can be put back.
    // New content shorter than the old is padded with newlines in the same
    // write, so a crash before the truncate leaves blank lines, which every
    // INI reader skips, rather than the tail of the old content.
    const padded = new Uint8Array(Math.max(content.byteLength, old.bytes.byteLength));
    padded.set(content);
    padded.fill(NEWLINE, content.byteLength);
    await writeAll(file, padded);
    await file.truncate(content.byteLength);
    await file.sync();
  } catch (error) {
    try {
      await file.seek(0);
      await writeAll(file, old.bytes);
      await file.truncate(old.bytes.byteLength);
      await file.sync();
    } catch {
      // Nothing more can be done; the error below says the write failed.
    }
    file.close();
    throw new FileWriteError(path, reasonOf(error), { cause: error });
  }
  file.close();
  if (old.mode !== mode) {
    try {
      await fs.chmod(path, mode);
    } catch (error) {
      throw new FileWriteError(path, reasonOf(error), { cause: error });
    }
  }
}

/**
 * Remove temp files that a crash left beside `targets`.
 *
 * Only names that {@linkcode replaceFile} would create for these targets are
 * touched, so another program's files in a shared directory are safe.
 *
 * @returns the paths removed
 */
export async function sweepTempFiles(
  targets: readonly string[],
  fs: FileSystem = denoFileSystem,
): Promise<string[]> {
  const removed: string[] = [];
  const byDirectory = new Map<string, string[]>();
  for (const target of targets) {
    const prefixes = byDirectory.get(directoryOf(target)) ?? [];
    prefixes.push(`${TEMP_PREFIX}${nameOf(target)}.`);
    byDirectory.set(directoryOf(target), prefixes);
  }
  for (const [directory, prefixes] of byDirectory) {
    let names: string[];
    try {
      names = await fs.list(directory);
    } catch {
      continue; // A missing directory holds no leftovers.
    }
    for (const name of names) {
      if (!prefixes.some((prefix) => name.startsWith(prefix))) continue;
      const path = inDirectory(directory, name);
      await fs.remove(path);
      removed.push(path);
    }
  }
  return removed;
}
