// Errors in flags or config files: always the user's to fix (exit code 2).
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
