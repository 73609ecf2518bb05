// Any failure while building or loading the default guest (exit code 6).
export class GuestBuildError extends Error {
  override readonly name = 'GuestBuildError';
}
