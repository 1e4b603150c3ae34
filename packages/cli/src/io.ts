/** Where the CLI writes: the process streams, or buffers in tests. */

/** Output channels of one CLI invocation. */
export interface CliIo {
  /** Normal output (tables, JSON documents). */
  out(text: string): void
  /** Diagnostics: progress, warnings, `error:` lines. */
  err(text: string): void
  /** Whether stderr is an interactive terminal (enables the in-place progress line). */
  readonly interactive: boolean
  /** Terminal width for tables (default 100 when unknown). */
  readonly columns: number
  /** Working directory that relative paths (`--db`, scripts) resolve against. */
  readonly cwd: string
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    interactive: Boolean(process.stderr.isTTY),
    columns: process.stdout.columns || 100,
    cwd: process.cwd(),
  }
}

/** An io that keeps everything in memory (tests, embedding). */
export interface CapturedIo extends CliIo {
  readonly stdout: string
  readonly stderr: string
}

/** Creates a {@link CapturedIo}. */
export function captureIo(options: { cwd?: string; columns?: number } = {}): CapturedIo {
  let stdout = ''
  let stderr = ''
  return {
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    interactive: false,
    columns: options.columns ?? 160,
    cwd: options.cwd ?? process.cwd(),
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
  }
}
