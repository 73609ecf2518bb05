#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "job.h"

#ifdef __linux__
#include <sys/syscall.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
struct open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#endif
#ifndef SYS_openat2
#define SYS_openat2 437  // one number on every architecture
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif
#endif

namespace hostfs {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (owned_ && fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    owned_ = o.owned_;
    o.fd_ = -1;
  }
  return *this;
}

Fd::~Fd() {
  if (owned_ && fd_ >= 0) {
    const int saved = errno;  // a failure's errno must survive the cleanup
    close(fd_);
    errno = saved;
  }
}

bool ValidComponent(const std::string& c, bool allowDot) {
  return !c.empty() && c.size() <= 255 && c != ".." && (allowDot || c != ".") && c.find('/') == std::string::npos &&
         c.find('\0') == std::string::npos;
}

bool ValidDir(const std::string& dir) {
  if (dir.empty()) return true;
  if (dir.size() > 4095) return false;
  size_t start = 0;
  for (;;) {
    const size_t slash = dir.find('/', start);
    const size_t end = slash == std::string::npos ? dir.size() : slash;
    if (!ValidComponent(dir.substr(start, end - start), false)) return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

int DirOnlyFlags() {
#ifdef __linux__
  return O_PATH | O_DIRECTORY | O_CLOEXEC;  // needs search permission only, like path lookup
#else
  return O_RDONLY | O_DIRECTORY | O_CLOEXEC;
#endif
}

namespace {

std::atomic<bool> forceWalk{false};
#ifdef __linux__
std::atomic<bool> noOpenat2{false};
#endif

Fd Walk(int root, const std::string& dir) {
  Fd cur(root, false);
  size_t start = 0;
  while (start <= dir.size()) {
    const size_t slash = dir.find('/', start);
    const size_t end = slash == std::string::npos ? dir.size() : slash;
    const std::string comp = dir.substr(start, end - start);
    const int fd = Retry([&] { return openat(cur.get(), comp.c_str(), DirOnlyFlags() | O_NOFOLLOW); });
    if (fd < 0) {
      int e = errno;
      // Linux reports a symlink under O_NOFOLLOW|O_DIRECTORY as ENOTDIR: say ELOOP, as openat2 does.
      struct stat st;
      if ((e == ENOTDIR || e == ELOOP) && fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) e = ELOOP;
      errno = e;
      return Fd();
    }
    cur = Fd(fd, true);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return cur;
}

#ifdef __linux__
/** openat2 beneath the root; false when the kernel (or a seccomp filter) refuses the call itself. */
bool Openat2(int root, const std::string& dir, Fd* out) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(O_PATH | O_DIRECTORY | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  // EAGAIN: a rename or mount raced the lookup and the kernel could not prove containment; retry a few times.
  for (int tries = 0; tries < 32; tries++) {
    const long fd = syscall(SYS_openat2, root, dir.c_str(), &how, sizeof how);
    if (fd >= 0) {
      *out = Fd(static_cast<int>(fd), true);
      return true;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ENOSYS) noOpenat2 = true;
    if (errno == ENOSYS || errno == EPERM || errno == E2BIG) return false;  // not available here: walk
    *out = Fd();
    return true;
  }
  return false;
}
#endif

}  // namespace

Fd OpenBeneath(int root, const std::string& dir) {
  if (dir.empty()) return Fd(root, false);
#ifdef __linux__
  Fd fd;
  if (!forceWalk && !noOpenat2 && Openat2(root, dir, &fd)) return fd;
#endif
  return Walk(root, dir);
}

const char* ResolverName() {
#ifdef __linux__
  if (!forceWalk && !noOpenat2) return "openat2";
#endif
  return "walk";
}

void ForceWalk(bool on) { forceWalk = on; }

}  // namespace hostfs
