// Names beneath a share's root, resolved without a window between check and use: the parent
// directory is opened relative to the root's fd with no symlink followed and no way out
// (Linux openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; elsewhere, or when the kernel lacks it,
// a walk of single-component openat(O_NOFOLLOW|O_DIRECTORY) calls), and the final call acts
// on that directory fd with one component that it does not follow. Plain POSIX, no N-API.
#pragma once
#include <string>

namespace hostfs {

/** An fd closed when it goes out of scope, unless borrowed (the root). */
class Fd {
 public:
  Fd() = default;
  Fd(int fd, bool owned) : fd_(fd), owned_(owned) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_), owned_(o.owned_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  bool owned_ = false;
};

/** A name beneath a root: dir is '' (the root) or components joined by '/'; name is one component, or "." for dir itself. */
struct Beneath {
  int root = -1;
  std::string dir;
  std::string name;
};

/** One path component: 1-255 bytes, no '/' or NUL, not ".." (nor "." unless allowDot). */
bool ValidComponent(const std::string& c, bool allowDot);
/** '' or components that are each ValidComponent(c, false), at most 4095 bytes in all. */
bool ValidDir(const std::string& dir);

/**
 * Opens `dir` beneath `root` as a directory (Linux: O_PATH). The root itself ('') is borrowed.
 * On failure !ok() and errno: ELOOP when a component is a symlink, EXDEV when the kernel saw a
 * way out, ENOTDIR, ENOENT, EACCES...
 */
Fd OpenBeneath(int root, const std::string& dir);

/** Flags for opening a directory only to name things in it (Linux O_PATH; else O_RDONLY). */
int DirOnlyFlags();

/** Which resolver OpenBeneath uses: "openat2" or "walk". */
const char* ResolverName();
/** Forces the walk (tests; also what an ENOSYS from openat2 does), or back to automatic. */
void ForceWalk(bool on);

}  // namespace hostfs
