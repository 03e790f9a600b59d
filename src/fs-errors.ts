/**
 * File-system errors said in words. Node names only the code (`ENOENT`), which tells a user
 * who mistyped a path less than "no such file or folder" does; the code is kept for searches.
 */

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'a folder, where a file was expected',
  ENOTDIR: 'a file lies on the path, where a folder was expected',
};

/** Why a path could not be read: `no such file or folder (ENOENT)`, else the code, else the message. */
export function whyUnreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') return err instanceof Error ? err.message : String(err);
  const words = REASONS[code];
  return words === undefined ? code : `${words} (${code})`;
}
