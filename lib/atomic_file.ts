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

/** What a lock file's name ends with: `credentials` is locked through `credentials.lock`. */
export const LOCK_SUFFIX = ".lock";

/** How long a writer waits for another writer's lock before the attempt fails. */
export const LOCK_WAIT_MS = 5_000;

/** Times the edit is redone when another writer changed the file meanwhile. */
const MAX_REDOS = 5;

/** The metadata {@linkcode replaceFile} needs about a path. */
export interface FileInfo {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly isSymlink: boolean;
  /** Permission bits and the sticky bit, `mode & 0o1777`. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Number of hard links. */
  readonly nlink: number;
}

/** A file held open for reading, to see writes to its inode after a rename replaced it. */
export interface ReadableFile {
  /** The whole content, from the start. */
  readAll(): Promise<Uint8Array>;
  close(): void;
}

/** An open lock file. Closing it releases the lock. */
export interface LockFile {
  /** Take the exclusive lock if nobody holds it; never blocks. */
  tryLock(): Promise<boolean>;
  close(): void;
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
  /** Open a lock file, creating it exclusively with `mode` when it is missing. */
  openLock(path: string, mode: number): Promise<LockFile>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** Open an existing file for reading. */
  openReader(path: string): Promise<ReadableFile>;
  /** The uid this process runs as. */
  uid(): number;
  /** A symlink's target, as stored. */
  readLink(path: string): Promise<string>;
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
        mode: (info.mode ?? 0) & 0o1777,
        uid: info.uid ?? 0,
        gid: info.gid ?? 0,
        nlink: info.nlink ?? 1,
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
  async openLock(path, mode) {
    let file: Deno.FsFile;
    try {
      // Exclusive creation never follows a planted symlink.
      file = await Deno.open(path, { createNew: true, write: true, mode });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      file = await Deno.open(path, { read: true });
    }
    return { tryLock: () => file.tryLock(true), close: () => file.close() };
  },
  chown: (path, uid, gid) => Deno.chown(path, uid, gid),
  async openReader(path) {
    const file = await Deno.open(path, { read: true });
    return {
      async readAll() {
        await file.seek(0, Deno.SeekMode.Start);
        const chunks: Uint8Array[] = [];
        let size = 0;
        for (;;) {
          const chunk = new Uint8Array(16 * 1024);
          const read = await file.read(chunk);
          if (read === null) break;
          chunks.push(chunk.subarray(0, read));
          size += read;
        }
        const all = new Uint8Array(size);
        let offset = 0;
        for (const chunk of chunks) {
          all.set(chunk, offset);
          offset += chunk.byteLength;
        }
        return all;
      },
      close: () => file.close(),
    };
  },
  uid: () => Deno.uid() ?? 0,
  readLink: (path) => Deno.readLink(path),
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
  /** Aborts a wait for the lock (shutdown). The write itself, once begun, finishes. */
  signal?: AbortSignal;
  /** Longest wait for another writer's lock. Default {@linkcode LOCK_WAIT_MS}. */
  lockWaitMs?: number;
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
  // Another name for the same inode would receive the secrets (in place) or
  // lend us its content (atomic).
  if (info.nlink > 1) {
    throw new FileWriteError(path, `it has ${info.nlink} hard links; refusing to write through it`);
  }
  await checkOwner(path, info, fs);
  return info;
}

/**
 * Refuse a path whose directories go through a symlink that someone other
 * than root or this process's uid owns: whoever owns it could point it at
 * another user's (or root's) files, and a root helper would write there.
 */
async function checkDirectoryPath(path: string, fs: FileSystem): Promise<void> {
  const self = fs.uid();
  // Walked as the kernel resolves it: a link's target is walked too, so a
  // link of ours that points through someone else's is caught as well.
  const pending = directoryOf(path).split("/");
  let resolved = "";
  for (let hops = 0; pending.length > 0;) {
    const part = pending.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      resolved = resolved.slice(0, resolved.lastIndexOf("/"));
      continue;
    }
    const next = `${resolved}/${part}`;
    let info: FileInfo | undefined;
    try {
      info = await fs.lstat(next);
    } catch {
      return; // Unreadable or not a directory: the write itself will say why.
    }
    if (info === undefined) return;
    if (!info.isSymlink) {
      resolved = next;
      continue;
    }
    if (info.uid !== 0 && info.uid !== self) {
      throw new FileWriteError(
        path,
        `its directory path goes through a symlink ("${next}") owned by uid ${info.uid}; refusing to follow it`,
      );
    }
    if (++hops > MAX_SYMLINK_HOPS) {
      throw new FileWriteError(path, "its directory path has too many levels of symlinks");
    }
    let target: string;
    try {
      target = await fs.readLink(next);
    } catch {
      return;
    }
    if (target.startsWith("/")) resolved = "";
    pending.unshift(...target.split("/"));
  }
}

/** Symlinks followed in a directory path before giving up, as the kernel's ELOOP limit. */
const MAX_SYMLINK_HOPS = 40;

/** Who a new file should belong to; `required`: fail rather than leave it to this process. */
interface Owner {
  readonly uid: number;
  readonly gid: number;
  readonly required: boolean;
}

/**
 * A trusted foreign file keeps its owner; our own file keeps its group (set
 * by hand, perhaps, to share it); a new file in a directory another user
 * owns alone (a user's ~/.aws kept by a root service) becomes that user's,
 * or they could not read their own credentials.
 */
async function ownerFor(
  path: string,
  info: FileInfo | undefined,
  fs: FileSystem,
): Promise<Owner | undefined> {
  const self = fs.uid();
  if (info !== undefined) {
    return { uid: info.uid, gid: info.gid, required: info.uid !== self };
  }
  if (self !== 0) return undefined;
  const directory = await directoryInfo(path, fs);
  if (directory === undefined || directory.uid === 0 || !vouches(directory, directory.uid)) {
    return undefined;
  }
  return { uid: directory.uid, gid: directory.gid, required: true };
}

/** The directory `path` sits in; `undefined` when it cannot be looked at. */
function directoryInfo(path: string, fs: FileSystem): Promise<FileInfo | undefined> {
  return fs.lstat(directoryOf(path)).catch(() => undefined);
}

/**
 * Whether `directory` vouches for files of `uid`: that uid owns it, and it is
 * neither sticky nor world-writable (where anyone may have planted a file).
 */
function vouches(directory: FileInfo | undefined, uid: number): boolean {
  return directory !== undefined && directory.uid === uid && (directory.mode & 0o1002) === 0;
}

/**
 * Refuse a file owned by another uid, in the spirit of ssh's StrictModes,
 * unless that uid also owns the directory (a user's own ~/.aws kept by a
 * root service). A sticky or world-writable directory never vouches for a
 * foreign file: anyone may have planted it there.
 */
async function checkOwner(path: string, info: FileInfo, fs: FileSystem): Promise<void> {
  const self = fs.uid();
  if (info.uid === self) return;
  if (!vouches(await directoryInfo(path, fs), info.uid)) {
    throw new FileWriteError(
      path,
      `it is owned by uid ${info.uid}, not by this process (uid ${self}), in a directory that uid does not own alone; refusing to write secrets into it`,
    );
  }
}

/**
 * Give `path` the content `render` makes of its current content, with
 * exactly `mode`. `render` gets `undefined` when the file does not exist yet.
 *
 * The whole read-modify-write holds an advisory lock on `path` +
 * {@linkcode LOCK_SUFFIX} (never removed), so writers that lock never lose
 * each other's work; a lock not had within `lockWaitMs` fails the call.
 * Writers that take no lock (the AWS CLI) are met by a re-read just before
 * the replace: when the file changed since it was read, the edit is redone
 * on the new content.
 *
 * Missing parent directories are created with mode 0700. Unchanged content
 * is not rewritten, so the inode and mtime stay. In `atomic` mode a reader
 * sees the old file or the new one; in `inplace` mode the inode is kept and
 * a reader may see a partial file. On any error the old file is intact and
 * no temp file is left. A symlink, a non-regular file, a file with several
 * hard links and a file owned by another uid (unless that uid owns the
 * directory, which must be neither sticky nor world-writable) are refused;
 * a trusted foreign file keeps its owner.
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
  // Refused paths get neither a directory nor a lock file.
  await checkDirectoryPath(path, fs);
  if (await inspect(path, fs) === undefined) {
    try {
      await fs.mkdirp(directoryOf(path), 0o700);
    } catch (error) {
      throw new FileWriteError(path, `cannot create directory: ${reasonOf(error)}`, {
        cause: error,
      });
    }
  }
  const lock = await acquireLock(path, fs, options);
  try {
    // Content another writer put into the old inode after our last check:
    // the next round edits it instead of what is on disk.
    let rebase: Uint8Array | undefined;
    for (let redo = 0;; redo++) {
      const info = await inspect(path, fs);
      const onDisk = info === undefined
        ? undefined
        : await readSettled(() => readOrThrow(path, fs));
      const current = rebase ?? onDisk;
      rebase = undefined;
      const content = render(current);
      if (info !== undefined && onDisk !== undefined && sameBytes(onDisk, content)) {
        if ((info.mode & 0o777) === mode) return "unchanged";
        try {
          await fs.chmod(path, mode);
        } catch (error) {
          throw new FileWriteError(path, reasonOf(error), { cause: error });
        }
        return "mode-changed";
      }
      const unchangedSinceRead = () => stillHolds(path, onDisk, fs);
      // A file that does not exist yet has no inode to keep, so even in
      // `inplace` mode it is created whole, by rename: a crash cannot leave
      // half a line that no later write would repair.
      const atomic = (options.writeMode ?? "atomic") === "atomic" || info === undefined ||
        onDisk === undefined;
      if (atomic) {
        const outcome = await replaceAtomically(path, content, {
          mode,
          fs,
          randomSuffix: options.randomSuffix ?? randomHex,
          owner: await ownerFor(path, info, fs),
          old: onDisk,
          unchangedSinceRead,
        });
        if (outcome.replaced && outcome.lateWrite === undefined) return "written";
        rebase = outcome.lateWrite;
      } else if (
        await rewriteInPlaceUnlessChanged(path, content, { bytes: onDisk, info }, mode, fs)
      ) {
        return "written";
      }
      if (redo >= MAX_REDOS) {
        throw new FileWriteError(path, "another writer kept changing it while it was being edited");
      }
    }
  } finally {
    lock.close();
  }
}

/** Tries, 25 ms apart, while a file reads as empty. */
const EMPTY_RETRIES = 8;

/**
 * `read()`, again while it gives an empty file: the AWS CLI truncates a file
 * and then writes it, and an edit of the empty moment would drop every
 * other profile.
 */
async function readSettled(read: () => Promise<Uint8Array>): Promise<Uint8Array> {
  let content = await read();
  for (let tries = 0; content.byteLength === 0 && tries < EMPTY_RETRIES; tries++) {
    await sleep(25, undefined);
    content = await read();
  }
  return content;
}

async function readOrThrow(path: string, fs: FileSystem): Promise<Uint8Array> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    throw new FileWriteError(path, reasonOf(error), { cause: error });
  }
}

/** Whether `path` still holds `expected` (`undefined`: still does not exist). */
async function stillHolds(
  path: string,
  expected: Uint8Array | undefined,
  fs: FileSystem,
): Promise<boolean> {
  let now: Uint8Array | undefined;
  try {
    now = await fs.readFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (now === undefined || expected === undefined) return now === expected;
  return sameBytes(now, expected);
}

/**
 * Take the exclusive lock on `path` + {@linkcode LOCK_SUFFIX}, polling, for
 * at most `options.lockWaitMs`. Closing the returned file releases it.
 *
 * @throws {FileWriteError} when the lock cannot be opened or had in time, or
 *   when `options.signal` aborts the wait
 */
export async function acquireLock(
  path: string,
  fs: FileSystem,
  options: Pick<ReplaceFileOptions, "signal" | "lockWaitMs"> = {},
): Promise<LockFile> {
  const lockPath = path + LOCK_SUFFIX;
  const existing = await inspect(lockPath, fs);
  if (existing !== undefined && existing.uid === fs.uid() && (existing.mode & 0o077) !== 0) {
    // Made by an earlier version with the file's own mode: owner only now.
    await fs.chmod(lockPath, 0o600).catch(() => {});
  }
  let lock: LockFile;
  try {
    // Owner only: a reader able to open it could take the lock and stall every write.
    lock = await fs.openLock(lockPath, 0o600);
  } catch (error) {
    throw new FileWriteError(path, `cannot open lock file "${lockPath}": ${reasonOf(error)}`, {
      cause: error,
    });
  }
  const waitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
  const deadline = performance.now() + waitMs;
  try {
    for (let delay = 2;; delay = Math.min(delay * 2, 50)) {
      if (await lock.tryLock()) return lock;
      if (options.signal?.aborted) {
        throw new FileWriteError(path, "stopped while waiting for another writer's lock");
      }
      if (performance.now() >= deadline) {
        throw new FileWriteError(
          path,
          `another writer held the lock "${lockPath}" for more than ${waitMs} ms`,
        );
      }
      await sleep(delay, options.signal);
    }
  } catch (error) {
    lock.close();
    throw error;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
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

interface AtomicOptions {
  readonly mode: number;
  readonly fs: FileSystem;
  readonly randomSuffix: () => string;
  /** A trusted foreign file's owner, kept on the new file. */
  readonly owner: Owner | undefined;
  /** The target's content when it was read; `undefined` when it did not exist. */
  readonly old: Uint8Array | undefined;
  /** Checked just before the rename; `false` abandons the replace. */
  readonly unchangedSinceRead: () => Promise<boolean>;
}

/** What {@linkcode replaceAtomically} did. */
interface AtomicOutcome {
  /** `false` when the target changed before the rename and nothing was replaced. */
  readonly replaced: boolean;
  /**
   * What a writer without a lock wrote into the old inode between the last
   * check and the rename: lost from the new file unless the edit is redone on it.
   */
  readonly lateWrite?: Uint8Array;
}

async function replaceAtomically(
  path: string,
  content: Uint8Array,
  { mode, fs, randomSuffix, owner, old, unchangedSinceRead }: AtomicOptions,
): Promise<AtomicOutcome> {
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
  let oldFile: ReadableFile | undefined;
  try {
    // The umask may have narrowed the mode; set it exactly before any secret lands.
    await fs.chmod(temp, mode);
    if (owner !== undefined) {
      try {
        await fs.chown(temp, owner.uid, owner.gid);
      } catch (error) {
        if (owner.required) throw error;
        // Keeping the old file's group is a courtesy, when it is ours to give.
      }
    }
    await writeAll(file, content);
    await file.sync();
    file.close();
    open = false;
    // Held across the rename: writes to the old inode stay visible.
    oldFile = old === undefined ? undefined : await fs.openReader(path);
    if (!await unchangedSinceRead()) {
      oldFile?.close();
      await fs.remove(temp);
      return { replaced: false };
    }
    await fs.rename(temp, path);
  } catch (error) {
    if (open) file.close();
    oldFile?.close();
    await fs.remove(temp).catch(() => {});
    throw new FileWriteError(path, reasonOf(error), { cause: error });
  }
  let lateWrite: Uint8Array | undefined;
  if (oldFile !== undefined) {
    try {
      let after = await oldFile.readAll();
      // Truncated and not yet rewritten: wait for the rest.
      if (after.byteLength === 0 && old!.byteLength > 0) {
        after = await readSettled(() => oldFile!.readAll());
      }
      if (!sameBytes(after, old!)) lateWrite = after;
    } catch {
      // The new file is in place; a late write could not be looked for.
    } finally {
      oldFile.close();
    }
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
  return lateWrite === undefined ? { replaced: true } : { replaced: true, lateWrite };
}

/** {@linkcode rewriteInPlace}, unless the file changed since `old` was read. */
async function rewriteInPlaceUnlessChanged(
  path: string,
  content: Uint8Array,
  old: { bytes: Uint8Array; info: FileInfo },
  mode: number,
  fs: FileSystem,
): Promise<boolean> {
  let unchanged: boolean;
  try {
    unchanged = await stillHolds(path, old.bytes, fs);
  } catch (error) {
    throw new FileWriteError(path, reasonOf(error), { cause: error });
  }
  if (!unchanged) return false;
  await rewriteInPlace(path, content, { bytes: old.bytes, mode: old.info.mode & 0o777 }, mode, fs);
  return true;
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

/** Whether `name` is a temp file of the target whose prefix is `prefix`: never another target's. */
function isTempOf(name: string, prefix: string): boolean {
  return name.startsWith(prefix) && /^[0-9a-f]{16}$/.test(name.slice(prefix.length));
}

/**
 * Remove temp files that a crash left beside `targets`.
 *
 * Only names that {@linkcode replaceFile} would create for these targets are
 * touched, so another program's files in a shared directory are safe; and
 * each target's are removed under its lock, which a live writer holds for as
 * long as its temp file exists.
 *
 * @returns the paths removed
 */
export async function sweepTempFiles(
  targets: readonly string[],
  fs: FileSystem = denoFileSystem,
  options: Pick<ReplaceFileOptions, "signal" | "lockWaitMs"> = {},
): Promise<string[]> {
  const removed: string[] = [];
  for (const target of targets) {
    const directory = directoryOf(target);
    const prefix = `${TEMP_PREFIX}${nameOf(target)}.`;
    let names: string[];
    try {
      names = (await fs.list(directory)).filter((name) => isTempOf(name, prefix));
    } catch {
      continue; // A missing directory holds no leftovers.
    }
    if (names.length === 0) continue;
    await checkDirectoryPath(target, fs);
    const lock = await acquireLock(target, fs, options);
    try {
      for (const name of await fs.list(directory)) {
        if (!isTempOf(name, prefix)) continue;
        const path = inDirectory(directory, name);
        // Temp files, and symlinks planted at their names; never a directory.
        if ((await fs.lstat(path))?.isDirectory !== false) continue;
        await fs.remove(path);
        removed.push(path);
      }
    } finally {
      lock.close();
    }
  }
  return removed;
}
