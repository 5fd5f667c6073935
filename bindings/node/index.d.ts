// Types of the prwlock package (lib/index.js).

export interface OpenOptions {
  /** Create the lock if it does not exist. */
  create?: boolean;
  /** With create: fail with code 'EEXIST' if it exists. */
  exclusive?: boolean;
  /** Permission bits of a lock this call creates (default 0o600). */
  mode?: number;
  /** Accept, or create, a lock shared between users. */
  multiuser?: boolean;
  /** Holder slots of a lock this call creates (0: the library's default). */
  capacity?: number;
}

export interface AcquireOptions {
  /** Withdraws the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface LockInfo {
  readers: number;
  writer_pid: number;
  writer_tid: number;
  writer_active: boolean;
  waiting_readers: number;
  waiting_writers: number;
  capacity: number;
  used_slots: number;
  attached: number;
  owner_dead: boolean;
  recoveries: number | bigint;
  owner_deaths: number | bigint;
}

export class Guard {
  readonly mode: 'read' | 'write';
  readonly owner: bigint;
  readonly held: boolean;
  /** A writer died holding the lock: the protected data may be half-written. */
  readonly ownerDead: boolean;
  release(): void;
  releaseUnrepaired(): void;
  downgrade(): void;
  [Symbol.dispose](): void;
}

export class RWLock {
  static open(name: string, options?: OpenOptions): RWLock;
  static create(options?: { capacity?: number }): RWLock;
  static fromToken(token: string): RWLock;
  static unlink(name: string): void;
  readonly path: string | null;
  readonly closed: boolean;
  readonly token: string;
  readonly filename: string;
  info(): LockInfo;
  tryAcquireRead(): Guard | null;
  tryAcquireWrite(): Guard | null;
  /** timeoutMs: undefined/Infinity forever, 0 one try ('EBUSY'), else 'ETIMEDOUT' when it passes. */
  acquireRead(timeoutMs?: number, options?: AcquireOptions): Promise<Guard>;
  acquireWrite(timeoutMs?: number, options?: AcquireOptions): Promise<Guard>;
  withRead<T>(fn: (g: Guard) => T | Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
  withWrite<T>(fn: (g: Guard) => T | Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
  close(): void;
  [Symbol.dispose](): void;
}

export class PrwlockError extends Error {
  /** The errno name: 'ETIMEDOUT', 'EBUSY', 'EPERM', 'EBADF', 'EAGAIN', 'EFORKED', ... */
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export function libraryVersion(): string;
